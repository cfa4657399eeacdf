-- Per host (either end, after lda_summary): its $top highest connection scores, and how many
-- distinct peers it has over connections below $threshold (a host's score is computed from
-- these in Python: severity plus breadth).
WITH ends AS (
  SELECT CASE WHEN r.role = 0 THEN s.src ELSE s.dst END AS host,
         CASE WHEN r.role = 0 THEN s.dst ELSE s.src END AS peer,
         s.score, s.p
  FROM lda_scored s CROSS JOIN (VALUES (0), (1)) AS r(role)
),
peers AS (
  SELECT host, COUNT(DISTINCT peer) AS peers FROM ends WHERE p < $threshold GROUP BY host
),
ranked AS (
  SELECT host, score, ROW_NUMBER() OVER (PARTITION BY host ORDER BY score DESC) AS rk
  FROM ends
)
SELECT r.host, r.score, COALESCE(q.peers, 0) AS peers
FROM ranked r
LEFT JOIN peers q ON q.host = r.host
WHERE r.rk <= $top
