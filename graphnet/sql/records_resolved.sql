-- (:Host)-[:RESOLVED]->(:Domain) of windows: per window, client and registered domain, what the
-- client asked (graphnet.record_graph). `dns`: the windows' dns records; `dns_domains`: query
-- name -> registered domain (computed in Python per distinct name). Names that are unset are
-- not counted.
SELECT d.win, d.src, l.domain,
       COUNT(*) AS queries,
       COUNT(DISTINCT d.query) AS names,
       SUM(CASE WHEN d.rcode_name = 'NXDOMAIN' THEN 1 ELSE 0 END) AS nxdomain,
       MIN(d.ts) AS first_ts,
       MAX(d.ts) AS last_ts
FROM dns d
JOIN dns_domains l ON d.query = l.query
GROUP BY d.win, d.src, l.domain
