-- The RITA-class steps (after rita_pairs): for the pairs of the lookup r_sel (s, d), their most
-- used destination port, how many distinct ports, and up to $limit example uids (earliest
-- first), one row per (pair, uid).
SELECT e.s, e.d, e.uid, e.ts, pt.port, pt.ports
FROM (
  SELECT c.s, c.d, c.uid, c.ts,
         ROW_NUMBER() OVER (PARTITION BY c.s, c.d ORDER BY c.ts, c.uid) AS i
  FROM r_conns c JOIN r_sel p ON p.s = c.s AND p.d = c.d
) e
JOIN (
  SELECT s, d, dport AS port, ports FROM (
    SELECT x.s, x.d, x.dport, COUNT(*) OVER (PARTITION BY x.s, x.d) AS ports,
           ROW_NUMBER() OVER (PARTITION BY x.s, x.d ORDER BY x.k DESC, x.dport) AS j
    FROM (
      SELECT c.s, c.d, c.dport, COUNT(*) AS k
      FROM r_conns c JOIN r_sel p ON p.s = c.s AND p.d = c.d
      GROUP BY c.s, c.d, c.dport
    ) x
  ) y
  WHERE j = 1
) pt ON pt.s = e.s AND pt.d = e.d
WHERE e.i <= $limit
ORDER BY e.s, e.d, e.ts, e.uid
