// The directed host pairs of one window (self-loops excluded): new and vanished edges.
MATCH (a:Host)-[:TALKED {window: $window}]->(b:Host)
WHERE a <> b
RETURN a.id AS src, b.id AS dst
