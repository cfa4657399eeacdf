-- Per edge (src, dst, window) and component, how many connections had each value: the full
-- categorical histograms of the fingerprints. One pass groups the connections by edge and all
-- components; the per-component counts are summed from that (far smaller) grouping.
CREATE TEMP TABLE edge_combos AS
SELECT win, src, dst, proto, service, dport, conn_state, history, orig_act, resp_act, hour,
       daytype, src_bytes_bin, dst_bytes_bin, src_pkts_bin, dst_pkts_bin, COUNT(*) AS n
FROM conns_parts
GROUP BY win, src, dst, proto, service, dport, conn_state, history, orig_act, resp_act, hour,
         daytype, src_bytes_bin, dst_bytes_bin, src_pkts_bin, dst_pkts_bin;
SELECT win, src, dst, component, value, SUM(n) AS n FROM (
  SELECT win, src, dst, 'proto' AS component, proto AS value, n FROM edge_combos
  UNION ALL SELECT win, src, dst, 'service', service, n FROM edge_combos
  UNION ALL SELECT win, src, dst, 'dport', dport, n FROM edge_combos
  UNION ALL SELECT win, src, dst, 'conn_state', conn_state, n FROM edge_combos
  UNION ALL SELECT win, src, dst, 'history', history, n FROM edge_combos
  UNION ALL SELECT win, src, dst, 'orig_act', orig_act, n FROM edge_combos
  UNION ALL SELECT win, src, dst, 'resp_act', resp_act, n FROM edge_combos
  UNION ALL SELECT win, src, dst, 'hour', hour, n FROM edge_combos
  UNION ALL SELECT win, src, dst, 'daytype', daytype, n FROM edge_combos
  UNION ALL SELECT win, src, dst, 'src_bytes_bin', src_bytes_bin, n FROM edge_combos
  UNION ALL SELECT win, src, dst, 'dst_bytes_bin', dst_bytes_bin, n FROM edge_combos
  UNION ALL SELECT win, src, dst, 'src_pkts_bin', src_pkts_bin, n FROM edge_combos
  UNION ALL SELECT win, src, dst, 'dst_pkts_bin', dst_pkts_bin, n FROM edge_combos
) t
GROUP BY win, src, dst, component, value
ORDER BY win, src, dst, component, value
