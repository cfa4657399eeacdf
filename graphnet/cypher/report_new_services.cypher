// Pairs that already talked in the $baseline windows and use a service or destination port in
// $window that they never used there.
MATCH (a:Host)-[r:TALKED {window: $window}]->(b:Host)
MATCH (a)-[o:TALKED]->(b)
WHERE o.window IN $baseline
WITH a, b, r, collect(coalesce(o.service_k, [])) AS old_s, collect(coalesce(o.dport_k, [])) AS old_p
WITH a, b, r,
     reduce(acc = [], l IN old_s | acc + l) AS seen_s,
     reduce(acc = [], l IN old_p | acc + l) AS seen_p
WITH a, b, r,
     [s IN coalesce(r.service_k, []) WHERE s <> '-' AND NOT s IN seen_s] AS new_services,
     [p IN coalesce(r.dport_k, []) WHERE NOT p IN ['-', 'other', 'dyn'] AND NOT p IN seen_p]
       AS new_ports
WHERE size(new_services) > 0 OR size(new_ports) > 0
RETURN a.id AS src, b.id AS dst, a.internal AS src_internal, b.internal AS dst_internal,
       r.conns AS conns, coalesce(r.src_bytes, 0.0) + coalesce(r.dst_bytes, 0.0) AS bytes,
       new_services, new_ports,
       r.service_k AS service_k, r.service_n AS service_n, r.dport_k AS dport_k,
       r.dport_n AS dport_n, r.conn_state_k AS conn_state_k, r.conn_state_n AS conn_state_n
ORDER BY conns DESC, src, dst
