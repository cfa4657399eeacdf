// Windows of the graph with their size and the scheduler's analysis and report state, oldest first.
MATCH ()-[r:TALKED]->()
WITH r.window AS window, count(r) AS edges, sum(r.conns) AS connections
OPTIONAL MATCH (a:WindowAnalysis {window: window})
RETURN window, edges, connections,
       a.connections AS analysed_connections, a.edges AS analysed_edges,
       a.status AS analysis_status, a.attempts AS attempts, a.steps AS steps,
       a.seq AS analysed_seq, a.reported_seq AS reported_seq, a.report AS report
ORDER BY window
