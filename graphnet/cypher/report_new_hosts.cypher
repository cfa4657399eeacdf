// Hosts active in $window that none of the $baseline windows saw, busiest first (at most $limit).
MATCH (h:Host)-[:TALKED {window: $window}]-()
WITH DISTINCT h
WHERE NOT EXISTS { MATCH (h)-[o:TALKED]-() WHERE o.window IN $baseline }
CALL (h) {
  MATCH (h)-[r:TALKED {window: $window}]-(peer:Host)
  RETURN count(DISTINCT peer) AS peers, sum(r.conns) AS conns,
         sum(coalesce(r.src_bytes, 0.0) + coalesce(r.dst_bytes, 0.0)) AS bytes
}
RETURN h.id AS host, h.internal AS internal, peers, conns, bytes
ORDER BY conns DESC, host
LIMIT $limit
