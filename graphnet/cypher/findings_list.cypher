// Findings, optionally of one window and/or kind, highest score first.
MATCH (f:Finding)
WHERE ($window IS NULL OR f.window = $window) AND ($kind IS NULL OR f.kind = $kind)
OPTIONAL MATCH (f)-[a:ABOUT]->(h:Host)
WITH f, a, h ORDER BY a.order
WITH f, collect(h.id) AS hosts
ORDER BY f.score DESC, f.id
LIMIT coalesce($limit, 1000000)
RETURN f.id AS id, f.kind AS kind, f.window AS window, f.score AS score, hosts,
       f.explanation AS explanation, f.parts AS parts, f.evidence AS evidence,
       f.cypher AS cypher, f.detector AS detector, f.status AS status
