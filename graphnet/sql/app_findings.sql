-- The findings (after app_scored): the $max_findings clients with the highest record score
-- below $threshold, each with how many of its records are below it, how many it has, to how
-- many domains and servers, when, and its $uids best records (highest score first).
WITH low AS (
  SELECT * FROM app_scored WHERE p < $threshold
),
agg AS (
  SELECT src, MAX(score) AS best, COUNT(*) AS n, COUNT(DISTINCT domain) AS domains,
         COUNT(DISTINCT dst) AS servers, MIN(ts) AS first_ts, MAX(ts) AS last_ts
  FROM low GROUP BY src
),
top AS (
  SELECT a.*, ROW_NUMBER() OVER (ORDER BY a.best DESC, a.n DESC, a.src) AS pos
  FROM agg a
),
totals AS (
  SELECT src, COUNT(*) AS n_total FROM app_scored GROUP BY src
),
best AS (
  SELECT l.*, ROW_NUMBER() OVER (PARTITION BY l.src ORDER BY l.score DESC, l.ts, l.uid) AS rk
  FROM low l
)
SELECT t.pos, t.src, t.n, o.n_total, t.domains, t.servers, t.first_ts, t.last_ts,
       b.uid, b.ts, b.dst, b.item, b.domain, b.detail, b.word, b.p, b.score, b.novelty,
       b.expected, b.cnt
FROM top t
JOIN totals o ON o.src = t.src
JOIN best b ON b.src = t.src AND b.rk <= $uids
WHERE t.pos <= $max_findings
ORDER BY t.pos, b.rk
