-- The behaviour detector: the candidate periodic pairs, (s, d) with at least $min_periodic
-- answered connections in b_cur to an external d that no connection of b_hist had at either
-- end (after behaviour_firsts, which lists b_hist_hosts).
CREATE OR REPLACE TEMP TABLE b_pp AS
SELECT c.s, c.d, SUM(c.ok) AS n
FROM b_cur c
LEFT JOIN b_internal di ON di.host = c.d
LEFT JOIN b_hist_hosts hh ON hh.host = c.d
WHERE c.ok > 0 AND di.host IS NULL AND hh.host IS NULL
GROUP BY c.s, c.d
HAVING SUM(c.ok) >= $min_periodic;
SELECT COUNT(*) AS pairs FROM b_pp
