// Complete snapshots with their figures, oldest window first.
MATCH (s:Snapshot {status: 'done'})
RETURN s.window AS window, s.hosts AS hosts, s.edges AS edges, s.connections AS connections,
       s.engine AS engine, s.betweenness_k AS betweenness_k,
       s.betweenness_exact AS betweenness_exact, s.communities AS communities,
       s.modularity AS modularity, toString(s.computed) AS computed
ORDER BY window
