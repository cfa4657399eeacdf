-- Per client (after app_scored): its $top highest record scores, and how many distinct
-- domains its records below $threshold went to (the breadth of its score).
WITH peers AS (
  SELECT src AS host, COUNT(DISTINCT domain) AS peers
  FROM app_scored WHERE p < $threshold GROUP BY src
),
ranked AS (
  SELECT src AS host, score,
         ROW_NUMBER() OVER (PARTITION BY src ORDER BY score DESC, ts, uid) AS rk
  FROM app_scored
)
SELECT r.host, r.score, COALESCE(q.peers, 0) AS peers
FROM ranked r
LEFT JOIN peers q ON q.host = r.host
WHERE r.rk <= $top
