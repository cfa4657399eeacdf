// The aggregated edges of one window, as snapshots read them to compute host metrics.
MATCH (a:Host)-[r:TALKED {window: $window}]->(b:Host)
RETURN a.id AS src, b.id AS dst, r.conns AS conns, r.src_bytes AS src_bytes,
       r.dst_bytes AS dst_bytes, r.dport_k AS dport_k, r.dport_distinct AS dport_distinct
