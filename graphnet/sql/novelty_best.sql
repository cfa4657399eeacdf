-- The novel connections of a window's conversations, and per conversation the first and last
-- time of them and its most novel connection's combination.
--
-- First the rows (`novelty_novel_rows`, kept for `novelty_novel.sql`): per pair of
-- `novelty_bounds` (src, dst, k, level, everything), its connections ranked most novel first
-- (conn_bits descending, then ts, then uid; rnk 1 = the pair's most novel one); the k first are
-- its novel ones (all of them when `everything`: a pair without history), and the first is kept
-- even when k = 0. `level` is the conn_bits of the last one kept, so that only the combinations
-- at or above it are joined to the connections.
CREATE TEMP TABLE novelty_novel_rows AS
WITH wanted AS (
  SELECT c.id, c.src, c.dst, c.proto, c.service, c.dport, c.conn_state, c.history, c.orig_act,
         c.resp_act, c.hour, c.daytype, c.src_bytes_bin, c.dst_bytes_bin, c.src_pkts_bin,
         c.dst_pkts_bin, s.conn_bits, b.k, b.everything
  FROM novelty_combos c
  JOIN novelty_scored s ON s.id = c.id
  JOIN novelty_bounds b ON b.src = c.src AND b.dst = c.dst
  WHERE b.everything OR s.conn_bits >= b.level
), ranked AS (
  SELECT p.uid, p.ts, w.src, w.dst, w.id, w.k, w.everything,
         ROW_NUMBER() OVER (PARTITION BY w.src, w.dst ORDER BY w.conn_bits DESC, p.ts, p.uid)
           AS rnk
  FROM conns_parts p
  JOIN wanted w
    ON w.src = p.src AND w.dst = p.dst AND w.proto = p.proto AND w.service = p.service
       AND w.dport = p.dport AND w.conn_state = p.conn_state AND w.history = p.history
       AND w.orig_act = p.orig_act AND w.resp_act = p.resp_act AND w.hour = p.hour
       AND w.daytype = p.daytype AND w.src_bytes_bin = p.src_bytes_bin
       AND w.dst_bytes_bin = p.dst_bytes_bin AND w.src_pkts_bin = p.src_pkts_bin
       AND w.dst_pkts_bin = p.dst_pkts_bin
)
SELECT uid, ts, src, dst, id, rnk, (everything OR rnk <= k) AS novel
FROM ranked
WHERE everything OR rnk <= (CASE WHEN k > 1 THEN k ELSE 1 END);
-- Then, per conversation of `novelty_bounds` (by its row `pos` in the ranked conversations):
-- the first and last time of its novel connections (NULL when it has none) and the
-- combination of its most novel connection (`best_id`).
SELECT b.pos,
       MIN(CASE WHEN r.novel THEN r.ts END) AS first_ts,
       MAX(CASE WHEN r.novel THEN r.ts END) AS last_ts,
       MAX(CASE WHEN r.rnk = 1 THEN r.id END) AS best_id
FROM novelty_bounds b
JOIN novelty_novel_rows r ON r.src = b.src AND r.dst = b.dst
GROUP BY b.pos
