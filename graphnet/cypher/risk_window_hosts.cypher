// Hosts with at least one edge in a window (the universe of the combined risk ranking).
MATCH (h:Host)-[r:TALKED]-()
WHERE r.window = $window
RETURN DISTINCT h.id AS host, h.internal AS internal
ORDER BY host
