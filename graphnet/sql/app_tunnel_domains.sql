-- DNS tunnelling (RITA-class), judged against the window alone: per registered domain of the
-- scored window's queries (`dns`, lookup `dns_names`), how many distinct subdomains were
-- asked, by how many clients, how many queries, how many of them TXT or NULL, NXDOMAIN, and
-- when. Names without a subdomain and reverse-lookup zones (addresses, not chosen names) are
-- left out.
SELECT n.reg AS domain, COUNT(DISTINCT n.sub) AS subdomains, COUNT(*) AS queries,
       COUNT(DISTINCT d.src) AS clients,
       SUM(CASE WHEN d.qtype_name IN ('TXT', 'NULL') THEN 1 ELSE 0 END) AS txt_null,
       SUM(CASE WHEN d.rcode_name = 'NXDOMAIN' THEN 1 ELSE 0 END) AS nxdomain,
       MIN(d.ts) AS first_ts, MAX(d.ts) AS last_ts
FROM dns d
JOIN dns_names n ON n.query = COALESCE(d.query, '-')
WHERE n.sub <> '' AND n.rev = 0
GROUP BY n.reg
