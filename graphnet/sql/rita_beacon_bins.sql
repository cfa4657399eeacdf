-- The beacon step (after rita_beacon): the candidate pairs' connections per bin of the
-- window's span cut in $bins equal bins (a connection's bin from its whole-second time).
SELECT s, d, bin, SUM(k) AS n FROM (
  SELECT t.s, t.d, t.k,
         CASE WHEN sp.hi > sp.lo
              THEN LEAST(GREATEST(CAST(FLOOR((t.t - sp.lo) * $bins / (sp.hi - sp.lo)) AS INTEGER),
                                  0), $bins - 1)
              ELSE 0 END AS bin
  FROM r_stamps t CROSS JOIN r_span sp
) x
GROUP BY s, d, bin
ORDER BY s, d, bin
