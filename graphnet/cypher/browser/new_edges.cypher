// New edges of a window
// Shows: the host pairs that talked in $window and never in any earlier window, busiest first.
// Parameters: :param window => '2024-W11'
MATCH p = (a:Host)-[r:TALKED {window: $window}]->(b:Host)
WHERE NOT EXISTS { MATCH (a)-[o:TALKED]->(b) WHERE o.window < $window }
RETURN p
ORDER BY r.conns DESC
LIMIT 200
