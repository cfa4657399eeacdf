// Directed pairs of the $previous window that did not talk in $window, busiest first, with the
// number of $baseline windows they talked in (a steady conversation that stopped).
MATCH (a:Host)-[o:TALKED {window: $previous}]->(b:Host)
WHERE NOT EXISTS { MATCH (a)-[:TALKED {window: $window}]->(b) }
RETURN a.id AS src, b.id AS dst, a.internal AS src_internal, b.internal AS dst_internal,
       o.conns AS conns, coalesce(o.src_bytes, 0.0) + coalesce(o.dst_bytes, 0.0) AS bytes,
       o.service_k AS service_k, o.service_n AS service_n, o.dport_k AS dport_k,
       o.dport_n AS dport_n, o.conn_state_k AS conn_state_k, o.conn_state_n AS conn_state_n,
       COUNT { MATCH (a)-[x:TALKED]->(b) WHERE x.window IN $baseline } AS seen_in
ORDER BY conns DESC, src, dst
LIMIT $limit
