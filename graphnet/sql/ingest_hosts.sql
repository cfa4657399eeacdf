-- The hosts of newly archived connections (the bound table `new`) with the first and last time
-- each was seen, in epoch milliseconds, as the Bolt path writes them (hosts_upsert).
SELECT host, CAST(FLOOR(MIN(first_ts) * 1000) AS BIGINT) AS first_ms,
       CAST(FLOOR(MAX(last_ts) * 1000) AS BIGINT) AS last_ms
FROM (
  SELECT src AS host, MIN(ts) AS first_ts, MAX(ts) AS last_ts FROM new GROUP BY src
  UNION ALL
  SELECT dst AS host, MIN(ts) AS first_ts, MAX(ts) AS last_ts FROM new GROUP BY dst
) h
GROUP BY host
ORDER BY host
