// Findings of a window
// Shows: the findings of $window, highest score first, with their hosts (source first), explanation and review status.
// Parameters: :param window => '2024-W11'
MATCH (f:Finding {window: $window})
OPTIONAL MATCH (f)-[a:ABOUT]->(h:Host)
WITH f, a, h ORDER BY a.order
WITH f, collect(h.id) AS hosts
RETURN f.kind AS kind, round(f.score, 3) AS score, hosts, f.explanation AS explanation,
       f.status AS status, f.id AS finding
ORDER BY score DESC, finding
LIMIT 200
