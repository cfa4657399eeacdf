// TALKED edges of one window with their component histograms, for building fingerprints.
// Lists the components explicitly: the evaluation-only label histogram is never read.
MATCH (a:Host)-[r:TALKED {window: $window}]->(b:Host)
RETURN a.id AS src, b.id AS dst, r.window AS window, r.conns AS conns,
       r.first_seen.epochMillis AS first_ms, r.last_seen.epochMillis AS last_ms,
       a.subnet AS src_subnet, b.subnet AS dst_subnet,
       a.internal AS src_internal, b.internal AS dst_internal,
       r.dport_distinct AS dport_distinct, r.history_distinct AS history_distinct,
       r.proto_k AS proto_k, r.proto_n AS proto_n,
       r.service_k AS service_k, r.service_n AS service_n,
       r.dport_k AS dport_k, r.dport_n AS dport_n,
       r.conn_state_k AS conn_state_k, r.conn_state_n AS conn_state_n,
       r.history_k AS history_k, r.history_n AS history_n,
       r.orig_act_k AS orig_act_k, r.orig_act_n AS orig_act_n,
       r.resp_act_k AS resp_act_k, r.resp_act_n AS resp_act_n,
       r.hour_k AS hour_k, r.hour_n AS hour_n,
       r.daytype_k AS daytype_k, r.daytype_n AS daytype_n,
       r.src_bytes_bin_k AS src_bytes_bin_k, r.src_bytes_bin_n AS src_bytes_bin_n,
       r.dst_bytes_bin_k AS dst_bytes_bin_k, r.dst_bytes_bin_n AS dst_bytes_bin_n,
       r.src_pkts_bin_k AS src_pkts_bin_k, r.src_pkts_bin_n AS src_pkts_bin_n,
       r.dst_pkts_bin_k AS dst_pkts_bin_k, r.dst_pkts_bin_n AS dst_pkts_bin_n
