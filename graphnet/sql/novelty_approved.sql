-- The edge histograms of a benign feedback's approved observations in its reference window
-- (bound as `conns`): the connections of the pairs in `novelty_scope` (the feedback's hosts,
-- matched in Python), of port $port and service $service when given (NULL: any), and, when
-- the window was scored ($scored), only those that were novel there (`novelty_flags`: uid and
-- ts of its novel connections). Rows: (src, dst, component, value, n), unfolded; creates
-- `novelty_approved_combos` for novelty_approved_edges.sql.
CREATE TEMP TABLE novelty_approved_combos AS
SELECT p.src, p.dst, p.proto, p.service, p.dport, p.conn_state, p.history, p.orig_act,
       p.resp_act, p.hour, p.daytype, p.src_bytes_bin, p.dst_bytes_bin, p.src_pkts_bin,
       p.dst_pkts_bin, COUNT(*) AS n
FROM conns_parts p
JOIN novelty_scope m ON m.src = p.src AND m.dst = p.dst
WHERE ($port IS NULL OR p.dport_num = $port)
  AND ($service IS NULL OR p.service = $service)
  AND (NOT $scored OR EXISTS (
        SELECT 1 FROM novelty_flags f WHERE f.uid = p.uid AND f.ts = p.ts))
GROUP BY p.src, p.dst, p.proto, p.service, p.dport, p.conn_state, p.history, p.orig_act,
         p.resp_act, p.hour, p.daytype, p.src_bytes_bin, p.dst_bytes_bin, p.src_pkts_bin,
         p.dst_pkts_bin;
SELECT src, dst, component, value, CAST(SUM(n) AS BIGINT) AS n FROM (
  SELECT src, dst, 'proto' AS component, proto AS value, n FROM novelty_approved_combos
  UNION ALL SELECT src, dst, 'service', service, n FROM novelty_approved_combos
  UNION ALL SELECT src, dst, 'dport', dport, n FROM novelty_approved_combos
  UNION ALL SELECT src, dst, 'conn_state', conn_state, n FROM novelty_approved_combos
  UNION ALL SELECT src, dst, 'history', history, n FROM novelty_approved_combos
  UNION ALL SELECT src, dst, 'orig_act', orig_act, n FROM novelty_approved_combos
  UNION ALL SELECT src, dst, 'resp_act', resp_act, n FROM novelty_approved_combos
  UNION ALL SELECT src, dst, 'hour', hour, n FROM novelty_approved_combos
  UNION ALL SELECT src, dst, 'daytype', daytype, n FROM novelty_approved_combos
  UNION ALL SELECT src, dst, 'src_bytes_bin', src_bytes_bin, n FROM novelty_approved_combos
  UNION ALL SELECT src, dst, 'dst_bytes_bin', dst_bytes_bin, n FROM novelty_approved_combos
  UNION ALL SELECT src, dst, 'src_pkts_bin', src_pkts_bin, n FROM novelty_approved_combos
  UNION ALL SELECT src, dst, 'dst_pkts_bin', dst_pkts_bin, n FROM novelty_approved_combos
) t
GROUP BY src, dst, component, value
ORDER BY src, dst, component, n DESC, value
