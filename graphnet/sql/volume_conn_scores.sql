-- Every connection of a bound table with the score of its strongest bucket (lookup
-- `volume_scores`: entity, bucket, score): the highest of its source's, its destination's and,
-- when the edge is tracked (lookup `volume_edges`), its edge's; 0 when none has a score.
WITH c AS (
  SELECT uid, src, dst, CAST(FLOOR(ts / $bucket_seconds) AS BIGINT) AS bucket
  FROM conns
)
SELECT c.uid,
       GREATEST(COALESCE(a.score, 0.0), COALESCE(b.score, 0.0), COALESCE(x.score, 0.0)) AS score
FROM c
LEFT JOIN volume_scores a ON a.entity = c.src AND a.bucket = c.bucket
LEFT JOIN volume_scores b ON b.entity = c.dst AND b.bucket = c.bucket
LEFT JOIN volume_edges e ON e.src = c.src AND e.dst = c.dst
LEFT JOIN volume_scores x ON x.entity = e.edge AND x.bucket = c.bucket
