// Directed host pairs of $window that never talked in the $baseline windows, busiest first.
MATCH (a:Host)-[r:TALKED {window: $window}]->(b:Host)
WHERE NOT EXISTS { MATCH (a)-[o:TALKED]->(b) WHERE o.window IN $baseline }
RETURN a.id AS src, b.id AS dst, a.internal AS src_internal, b.internal AS dst_internal,
       r.conns AS conns, coalesce(r.src_bytes, 0.0) + coalesce(r.dst_bytes, 0.0) AS bytes,
       r.service_k AS service_k, r.service_n AS service_n, r.dport_k AS dport_k,
       r.dport_n AS dport_n, r.conn_state_k AS conn_state_k, r.conn_state_n AS conn_state_n
ORDER BY conns DESC, src, dst
LIMIT $limit
