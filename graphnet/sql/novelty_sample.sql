-- Every $step-th connection of the window in (ts, uid) order, with its combination's scores
-- (all of them with $step = 1): the ordinary connections kept with a window's scores. The
-- sample is drawn on (ts, uid) alone, then joined to the components and kept
-- (`novelty_sampled`) before the (large) combinations and scores are joined to it.
CREATE TEMP TABLE novelty_sampled AS
WITH picked AS (
  SELECT uid
  FROM (SELECT uid, ROW_NUMBER() OVER (ORDER BY ts, uid) AS r FROM conns) numbered
  WHERE MOD(r - 1, $step) = 0
), w AS (
  SELECT p.uid, p.ts, p.src, p.dst, p.proto, p.service, p.dport, p.conn_state, p.history,
         p.orig_act, p.resp_act, p.hour, p.daytype, p.src_bytes_bin, p.dst_bytes_bin,
         p.src_pkts_bin, p.dst_pkts_bin
  FROM conns_parts p
  JOIN picked k ON k.uid = p.uid
)
SELECT * FROM w;
SELECT w.uid, w.ts, w.src, w.dst, COALESCE(e.counted, 0) AS counted, s.*
FROM novelty_sampled w
JOIN novelty_combos p
  ON w.src = p.src AND w.dst = p.dst AND w.proto = p.proto AND w.service = p.service
       AND w.dport = p.dport AND w.conn_state = p.conn_state AND w.history = p.history
       AND w.orig_act = p.orig_act AND w.resp_act = p.resp_act AND w.hour = p.hour
       AND w.daytype = p.daytype AND w.src_bytes_bin = p.src_bytes_bin
       AND w.dst_bytes_bin = p.dst_bytes_bin AND w.src_pkts_bin = p.src_pkts_bin
       AND w.dst_pkts_bin = p.dst_pkts_bin
JOIN novelty_scored s ON s.id = p.id
LEFT JOIN novelty_ecdf e ON e.conn_bits = s.conn_bits
ORDER BY w.ts, w.uid
