// The directed host pairs of one window (self-loops excluded), for its new and vanished
// edges: one row, the pairs' ends as two parallel lists (decoded much faster than a row per
// pair).
MATCH (a:Host)-[:TALKED {window: $window}]->(b:Host)
WHERE a <> b
RETURN collect(a.id) AS src, collect(b.id) AS dst
