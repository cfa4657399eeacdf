-- The window p-values' counts and the input of the conversation scores.
--
-- `novelty_ecdf`: for each conn_bits value b > 0 of the window, how many connections are at
-- least as novel, each source host counting at most $per_group of them: the sum over sources
-- of LEAST(connections of the source with conn_bits >= b, $per_group).
--
-- Rows: per pair and conn_bits value (most novel first), its connections, the pair's
-- who_bits and that count.
CREATE TEMP TABLE novelty_ecdf AS
SELECT conn_bits, CAST(SUM(SUM(step)) OVER (ORDER BY conn_bits DESC) AS BIGINT) AS counted
FROM (
  SELECT conn_bits,
         capped - COALESCE(LAG(capped) OVER (PARTITION BY src ORDER BY conn_bits DESC), 0)
           AS step
  FROM (
    SELECT src, conn_bits,
           CAST(LEAST(SUM(cnt) OVER (PARTITION BY src ORDER BY conn_bits DESC), $per_group)
             AS BIGINT) AS capped
    FROM (
      SELECT c.src, s.conn_bits, CAST(SUM(c.n) AS BIGINT) AS cnt
      FROM novelty_combos c JOIN novelty_scored s ON s.id = c.id
      WHERE s.conn_bits > 0
      GROUP BY c.src, s.conn_bits
    ) per_source
  ) capped_counts
) steps
GROUP BY conn_bits;
SELECT c.src, c.dst, s.conn_bits, MAX(s.who_bits) AS who_bits, CAST(SUM(c.n) AS BIGINT) AS n,
       MAX(COALESCE(e.counted, 0)) AS counted
FROM novelty_combos c
JOIN novelty_scored s ON s.id = c.id
LEFT JOIN novelty_ecdf e ON e.conn_bits = s.conn_bits
GROUP BY c.src, c.dst, s.conn_bits
ORDER BY c.src, c.dst, s.conn_bits DESC
