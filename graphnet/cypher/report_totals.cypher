// Size of each of $windows: hosts, edges, connections and bytes (both directions).
UNWIND $windows AS w
CALL (w) {
  OPTIONAL MATCH ()-[r:TALKED {window: w}]->()
  RETURN count(r) AS edges, coalesce(sum(r.conns), 0) AS connections,
         coalesce(sum(coalesce(r.src_bytes, 0.0) + coalesce(r.dst_bytes, 0.0)), 0.0) AS bytes
}
CALL (w) {
  OPTIONAL MATCH (h:Host)-[:TALKED {window: w}]-()
  RETURN count(DISTINCT h) AS hosts,
         count(DISTINCT CASE WHEN h.internal THEN h END) AS internal_hosts
}
RETURN w AS window, hosts, internal_hosts, edges, connections, bytes
