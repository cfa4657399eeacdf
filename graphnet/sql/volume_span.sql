-- How many connections a bound table holds and the first and last of their times (the span a
-- fit without history covers, the days an alert rate is counted over).
SELECT COUNT(*) AS n,
       MIN(CASE WHEN ISNAN(ts) THEN NULL ELSE ts END) AS first_ts,
       MAX(CASE WHEN ISNAN(ts) THEN NULL ELSE ts END) AS last_ts
FROM conns
