-- The behaviour detector's example connections: per originator of the lookup b_keys (s, d,
-- port: the services of its first times), its answered connections (b_rows) to those
-- services: the $limit earliest uids, their count and first and last times.
SELECT s, uid, ts, i, cnt, first_ts, last_ts FROM (
  SELECT r.s, r.uid, r.ts,
         ROW_NUMBER() OVER (PARTITION BY r.s ORDER BY r.ts, r.line, r.uid) AS i,
         COUNT(*) OVER (PARTITION BY r.s) AS cnt,
         MIN(r.ts) OVER (PARTITION BY r.s) AS first_ts,
         MAX(r.ts) OVER (PARTITION BY r.s) AS last_ts
  FROM b_rows r
  JOIN (SELECT s, d, port FROM b_keys GROUP BY s, d, port) k
    ON k.s = r.s AND k.d = r.d AND k.port = r.port
  WHERE r.ok = 1
) x
WHERE i <= $limit
ORDER BY s, i
