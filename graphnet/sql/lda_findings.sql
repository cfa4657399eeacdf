-- The suspicious (src, dst) pairs (after lda_summary): pairs with connections below
-- $threshold, ranked by their best connection's score, then by how many such connections they
-- have; the first $max_findings pairs, each with its $uids best connections (score, then the
-- earliest), the counts, the time span, the distinct ports, and all its connections in the
-- window.
WITH low AS (SELECT * FROM lda_scored WHERE p < $threshold),
pairs AS (
  SELECT src, dst, COUNT(*) AS n, MIN(ts) AS first_ts, MAX(ts) AS last_ts,
         COUNT(DISTINCT COALESCE(dport, -1)) AS ports
  FROM low
  GROUP BY src, dst
),
ranked AS (
  SELECT l.*, ROW_NUMBER() OVER (
           PARTITION BY l.src, l.dst ORDER BY l.score DESC, l.ts, l.line, l.uid) AS rk
  FROM low l
),
chosen AS (
  SELECT r.src, r.dst, q.n, q.first_ts, q.last_ts, q.ports,
         ROW_NUMBER() OVER (ORDER BY r.score DESC, q.n DESC, r.ts, r.line, r.uid) AS pos
  FROM ranked r
  JOIN pairs q ON q.src = r.src AND q.dst = r.dst
  WHERE r.rk = 1
),
kept AS (SELECT * FROM chosen WHERE pos <= $max_findings),
totals AS (
  SELECT w.src, w.dst, COUNT(*) AS n_total
  FROM lda_scored w
  JOIN kept k ON k.src = w.src AND k.dst = w.dst
  GROUP BY w.src, w.dst
)
SELECT k.pos, r.rk, k.n, k.first_ts, k.last_ts, k.ports, t.n_total,
       r.uid, r.ts, r.src, r.dst, r.dport, r.hour, r.bytes_bin, r.pkts_bin, r.src_word,
       r.dst_word, r.p, r.p_src, r.p_dst, r.score, r.novelty, r.repeats, r.expected
FROM kept k
JOIN ranked r ON r.src = k.src AND r.dst = k.dst AND r.rk <= $uids
JOIN totals t ON t.src = k.src AND t.dst = k.dst
ORDER BY k.pos, r.rk
