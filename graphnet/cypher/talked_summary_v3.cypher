// Migration `talked_summary_v3` (graphnet.store.MIGRATIONS), applied once per graph: TALKED
// edges of the older layout held the histograms of all thirteen components (26 list
// properties); the graph now keeps totals, the service/port/state histograms and their
// readable summaries (`services`, `ports`, `states`, as graphnet.accumulate.summary writes
// them), and the full histograms live in the connection archive. Only edges of the older
// layout are rewritten, $rows per transaction: safe to run again, and a killed run is
// completed by the next. Runs in an auto-commit transaction.
MATCH ()-[r:TALKED]->()
WHERE r.proto_k IS NOT NULL OR r.history_k IS NOT NULL
   OR (r.service_k IS NOT NULL AND r.services IS NULL)
CALL (r) {
  WITH r, [[r.service_k, r.service_n], [r.dport_k, r.dport_n], [r.conn_state_k, r.conn_state_n]]
       AS hists
  WITH r, [h IN hists |
    CASE WHEN h[0] IS NULL THEN null ELSE
      reduce(acc = '', i IN range(0, CASE WHEN size(h[0]) < 3 THEN size(h[0]) ELSE 3 END - 1) |
        acc + CASE WHEN i > 0 THEN ', ' ELSE '' END + h[0][i] + ' ' + toString(h[1][i]))
      + CASE WHEN size(h[0]) > 3 THEN ', ' + toString(size(h[0]) - 3) + ' more' ELSE '' END
    END] AS text
  SET r.services = text[0], r.ports = text[1], r.states = text[2]
  REMOVE r.proto_k, r.proto_n, r.history_k, r.history_n, r.orig_act_k, r.orig_act_n,
         r.resp_act_k, r.resp_act_n, r.hour_k, r.hour_n, r.daytype_k, r.daytype_n,
         r.src_bytes_bin_k, r.src_bytes_bin_n, r.dst_bytes_bin_k, r.dst_bytes_bin_n,
         r.src_pkts_bin_k, r.src_pkts_bin_n, r.dst_pkts_bin_k, r.dst_pkts_bin_n,
         r.label_k, r.label_n, r.history_distinct
} IN TRANSACTIONS OF $rows ROWS
