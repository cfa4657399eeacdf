// The finding feedback is given for: kind, window and ordered hosts.
MATCH (f:Finding {id: $id})
OPTIONAL MATCH (f)-[a:ABOUT]->(h:Host)
WITH f, a, h ORDER BY a.order
RETURN f.id AS id, f.kind AS kind, f.window AS window, f.status AS status,
       [x IN collect(h.id) WHERE x IS NOT NULL] AS hosts
