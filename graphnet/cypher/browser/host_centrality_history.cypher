// Host centrality history
// Shows: one row per snapshot window with the centrality metrics of $host (PageRank, betweenness, degrees, peers, connections, community), oldest first.
// Parameters: :param host => '192.168.10.5'
MATCH (s:Snapshot {status: 'done'})-[m:MEASURED]->(h:Host {id: $host})
RETURN s.window AS window, m.pagerank AS pagerank, m.betweenness AS betweenness,
       m.in_degree AS in_degree, m.out_degree AS out_degree, m.peers AS peers,
       m.conns_in AS conns_in, m.conns_out AS conns_out, m.hub AS hub,
       m.authority AS authority, m.community AS community
ORDER BY window
