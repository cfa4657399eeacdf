// Windows of the graph with their size and the state of their snapshot, oldest first.
MATCH ()-[r:TALKED]->()
WITH r.window AS window, count(r) AS edges, sum(r.conns) AS connections
OPTIONAL MATCH (s:Snapshot {window: window})
RETURN window, edges, connections, s.status AS status,
       s.talked_edges AS snap_edges, s.connections AS snap_connections,
       s.hosts AS snap_hosts, s.edges AS snap_graph_edges, s.engine AS snap_engine,
       s.betweenness_k AS snap_betweenness_k, s.betweenness_exact AS snap_betweenness_exact,
       s.communities AS snap_communities, s.modularity AS snap_modularity
ORDER BY window
