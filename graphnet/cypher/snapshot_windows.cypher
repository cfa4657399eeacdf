// Windows of the graph with their size and the state of their snapshot, oldest first.
// `connections` leaves self-loops out, as a snapshot's own count does (its `talked_edges`
// keeps them, as `edges` does): a window with a host talking to itself is up to date too.
MATCH (a)-[r:TALKED]->(b)
WITH r.window AS window, count(r) AS edges,
     sum(CASE WHEN a = b THEN 0 ELSE r.conns END) AS connections
OPTIONAL MATCH (s:Snapshot {window: window})
RETURN window, edges, connections, s.status AS status,
       s.talked_edges AS snap_edges, s.connections AS snap_connections,
       s.hosts AS snap_hosts, s.edges AS snap_graph_edges, s.engine AS snap_engine,
       s.betweenness_k AS snap_betweenness_k, s.betweenness_exact AS snap_betweenness_exact,
       s.communities AS snap_communities, s.modularity AS snap_modularity
ORDER BY window
