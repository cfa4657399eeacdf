-- The clients of the domains over the window's threshold (lookup `tunnel_domains`: domain),
-- per (domain, client): distinct subdomains, queries, TXT or NULL queries, servers asked,
-- when, and its $examples longest query names.
WITH q AS (
  SELECT n.reg AS domain, d.src, d.dst, d.ts, d.uid, d.qtype_name, n.sub,
         COALESCE(d.query, '-') AS query
  FROM dns d
  JOIN dns_names n ON n.query = COALESCE(d.query, '-')
  JOIN tunnel_domains t ON t.domain = n.reg
  WHERE n.sub <> ''
),
agg AS (
  SELECT domain, src, COUNT(DISTINCT sub) AS subdomains, COUNT(*) AS queries,
         SUM(CASE WHEN qtype_name IN ('TXT', 'NULL') THEN 1 ELSE 0 END) AS txt_null,
         COUNT(DISTINCT dst) AS servers, MIN(ts) AS first_ts, MAX(ts) AS last_ts
  FROM q GROUP BY domain, src
),
ex AS (
  SELECT domain, src, query, uid,
         ROW_NUMBER() OVER (PARTITION BY domain, src ORDER BY LENGTH(query) DESC, ts, uid) AS rk
  FROM q
)
SELECT a.domain, a.src, a.subdomains, a.queries, a.txt_null, a.servers, a.first_ts,
       a.last_ts, e.query, e.uid, e.rk
FROM agg a
JOIN ex e ON e.domain = a.domain AND e.src = a.src AND e.rk <= $examples
ORDER BY a.domain, a.subdomains DESC, a.src, e.rk
