-- The beacon step (after rita_pairs): the candidate pairs r_cand (at least $min_n and fewer
-- than $max_n connections: pairs at or above the strobe threshold are left out, as RITA does),
-- their distinct whole-second timestamps r_stamps (k connections each), the intervals between
-- consecutive ones r_gaps, and per pair the quartiles (percentile_cont) and the median
-- absolute deviation of the intervals and of the bytes of each connection, the hours with a
-- connection, and the destination's prevalence: how many of the window's internal sources
-- (r_internal, bound by the caller) connected to it, of how many, and whether it is external;
-- pairs with at least $min_stamps timestamps.
-- The candidates are taken in $buckets batches (this statement runs once per $bucket, each
-- batch the pairs whose hash falls in it): the quartiles and medians are ordered aggregates,
-- which the engine cannot spill, so a batch's connections must fit in its memory.
CREATE OR REPLACE TEMP TABLE r_cand AS
SELECT s, d, n FROM r_pairs
WHERE n >= $min_n AND n < $max_n AND MOD(HASH(s, d), $buckets) = $bucket;
CREATE OR REPLACE TEMP TABLE r_stamps AS
SELECT c.s, c.d, FLOOR(c.ts) AS t, COUNT(*) AS k
FROM r_conns c JOIN r_cand p ON p.s = c.s AND p.d = c.d
GROUP BY c.s, c.d, FLOOR(c.ts);
CREATE OR REPLACE TEMP TABLE r_gaps AS
SELECT s, d, gap FROM (
  SELECT s, d, t - LAG(t) OVER (PARTITION BY s, d ORDER BY t) AS gap FROM r_stamps
) g
WHERE gap IS NOT NULL;
CREATE OR REPLACE TEMP TABLE r_gq AS
SELECT s, d,
       percentile_cont(0.25) WITHIN GROUP (ORDER BY gap) AS q1,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY gap) AS q2,
       percentile_cont(0.75) WITHIN GROUP (ORDER BY gap) AS q3
FROM r_gaps
GROUP BY s, d;
CREATE OR REPLACE TEMP TABLE r_gm AS
SELECT g.s, g.d, percentile_cont(0.5) WITHIN GROUP (ORDER BY ABS(g.gap - q.q2)) AS mad
FROM r_gaps g JOIN r_gq q ON q.s = g.s AND q.d = g.d
GROUP BY g.s, g.d;
CREATE OR REPLACE TEMP TABLE r_sq AS
SELECT c.s, c.d,
       percentile_cont(0.25) WITHIN GROUP (ORDER BY c.b) AS q1,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY c.b) AS q2,
       percentile_cont(0.75) WITHIN GROUP (ORDER BY c.b) AS q3
FROM r_conns c JOIN r_cand p ON p.s = c.s AND p.d = c.d
GROUP BY c.s, c.d;
CREATE OR REPLACE TEMP TABLE r_sm AS
SELECT c.s, c.d, percentile_cont(0.5) WITHIN GROUP (ORDER BY ABS(c.b - q.q2)) AS mad
FROM r_conns c JOIN r_sq q ON q.s = c.s AND q.d = c.d
GROUP BY c.s, c.d;
CREATE OR REPLACE TEMP TABLE r_bst AS
SELECT s, d, COUNT(*) AS stamps, COUNT(DISTINCT FLOOR(t / 3600)) AS hours
FROM r_stamps
GROUP BY s, d;
SELECT p.s, p.d, p.n, b.stamps, r.first_ts, r.last_ts, b.hours,
       gq.q1 AS gap_q1, gq.q2 AS gap_q2, gq.q3 AS gap_q3, gm.mad AS gap_mad,
       sq.q1 AS size_q1, sq.q2 AS size_q2, sq.q3 AS size_q3, sm.mad AS size_mad,
       COALESCE(pv.sources, 0) AS dst_sources, tot.sources AS window_sources,
       CASE WHEN di.h IS NULL THEN 1 ELSE 0 END AS dst_external
FROM r_cand p
JOIN r_pairs r ON r.s = p.s AND r.d = p.d
JOIN r_bst b ON b.s = p.s AND b.d = p.d
JOIN r_gq gq ON gq.s = p.s AND gq.d = p.d
JOIN r_gm gm ON gm.s = p.s AND gm.d = p.d
JOIN r_sq sq ON sq.s = p.s AND sq.d = p.d
JOIN r_sm sm ON sm.s = p.s AND sm.d = p.d
LEFT JOIN (
  SELECT r.d, COUNT(*) AS sources FROM r_pairs r JOIN r_internal i ON i.h = r.s GROUP BY r.d
) pv ON pv.d = p.d
LEFT JOIN r_internal di ON di.h = p.d
CROSS JOIN (
  SELECT COUNT(DISTINCT r.s) AS sources FROM r_pairs r JOIN r_internal i ON i.h = r.s
) tot
WHERE b.stamps >= $min_stamps
ORDER BY p.s, p.d
