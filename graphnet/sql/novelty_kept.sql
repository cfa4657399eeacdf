-- The connections a window's scores keep, with their combination's scores, in (ts, uid)
-- order: the rows `novelty_best.sql` kept (`novelty_novel_rows`: the window's novel
-- connections and each conversation's most novel one) and a systematic sample of the others,
-- every $step-th connection of the window in (ts, uid) order that is not among them (rnk 0,
-- not novel; all of them with $step = 1). The engine orders them (spilling what it cannot
-- hold), so that the caller reads them once, in the order it keeps them.
--
-- The sample is drawn on (ts, uid) alone, then joined to the components and kept
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
SELECT r.uid, r.ts, r.src, r.dst, r.rnk, r.novel, COALESCE(e.counted, 0) AS counted, s.*
FROM novelty_novel_rows r
JOIN novelty_scored s ON s.id = r.id
LEFT JOIN novelty_ecdf e ON e.conn_bits = s.conn_bits
UNION ALL
SELECT w.uid, w.ts, w.src, w.dst, CAST(0 AS BIGINT) AS rnk, FALSE AS novel,
       COALESCE(e.counted, 0) AS counted, s.*
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
WHERE NOT EXISTS (SELECT 1 FROM novelty_novel_rows r WHERE r.uid = w.uid)
ORDER BY ts, uid
