-- Per host (either end of a combination), its $top highest connection scores: rows of
-- (host, side, score, id, copies), `copies` connections of combination `id` (side 0: the host
-- is the source, 1: the destination), highest score first, then source side, then earliest.
SELECT host, side, score, id, CAST(LEAST(n, $top - (upto - n)) AS BIGINT) AS copies
FROM (
  SELECT host, side, score, n, id, first_ts,
         CAST(SUM(n) OVER (PARTITION BY host ORDER BY score DESC, side, first_ts, id
                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS BIGINT) AS upto
  FROM (
    SELECT c.src AS host, 0 AS side, s.score, c.n, c.id, c.first_ts
    FROM novelty_combos c JOIN novelty_scored s ON s.id = c.id
    UNION ALL
    SELECT c.dst AS host, 1 AS side, s.score, c.n, c.id, c.first_ts
    FROM novelty_combos c JOIN novelty_scored s ON s.id = c.id
  ) ends
) ranked
WHERE upto - n < $top
ORDER BY host, score DESC, side, first_ts, id
