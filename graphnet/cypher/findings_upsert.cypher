// Write findings with their hosts; an existing finding keeps its analyst status.
UNWIND $rows AS row
MERGE (f:Finding {id: row.id})
  ON CREATE SET f.status = 'new', f.created = datetime()
SET f.kind = row.kind, f.window = row.window, f.score = row.score,
    f.explanation = row.explanation, f.parts = row.parts, f.evidence = row.evidence,
    f.cypher = row.cypher, f.detector = row.detector, f.updated = datetime()
WITH f, row
CALL (f, row) {
  UNWIND row.hosts AS h
  MATCH (host:Host {id: h.id})
  MERGE (f)-[a:ABOUT]->(host)
  SET a.order = h.order, a.role = CASE h.order WHEN 0 THEN 'src' ELSE 'dst' END
}
