// Write fingerprints: (client:Host)-[:HAS_FINGERPRINT]->(f:Fingerprint)-[:TO]->(server:Host);
// pair level has both links, client level only the first, server level only the second.
UNWIND $rows AS row
CREATE (f:Fingerprint {id: row.id})
SET f += row.props, f.level = row.level, f.as_of = $as_of, f.src = row.src, f.dst = row.dst,
    f.baseline_windows = $baseline_windows
WITH f, row
CALL (f, row) {
  MATCH (a:Host {id: row.client})
  CREATE (a)-[:HAS_FINGERPRINT]->(f)
}
CALL (f, row) {
  MATCH (b:Host {id: row.server})
  CREATE (f)-[:TO]->(b)
}
