-- The pairs of `novelty_approved` (run it first in the same session) with their approved
-- connections, in (src, dst) order.
SELECT src, dst, CAST(SUM(n) AS BIGINT) AS conns FROM novelty_approved_combos GROUP BY src, dst ORDER BY src, dst
