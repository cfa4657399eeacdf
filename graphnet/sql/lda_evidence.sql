-- For each host of the lookup `lda_evidence_hosts` (after lda_summary): its highest-scoring
-- connection (as either end; on a tie the one it originated, then the earliest), whose
-- sentence explains the host's score.
WITH ends AS (
  SELECT s.*, r.role, CASE WHEN r.role = 0 THEN s.src ELSE s.dst END AS host
  FROM lda_scored s CROSS JOIN (VALUES (0), (1)) AS r(role)
  WHERE (CASE WHEN r.role = 0 THEN s.src ELSE s.dst END) IN (SELECT host FROM lda_evidence_hosts)
),
best AS (SELECT host, MAX(score) AS score FROM ends GROUP BY host),
ranked AS (
  SELECT e.*, ROW_NUMBER() OVER (PARTITION BY e.host ORDER BY e.role, e.ts, e.line, e.uid) AS rk
  FROM ends e
  JOIN best b ON b.host = e.host AND b.score = e.score
)
SELECT * FROM ranked WHERE rk = 1
