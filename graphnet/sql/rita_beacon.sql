-- The beacon step (after rita_beacon_conns), for the candidate pairs of batch $bucket: their
-- distinct whole-second timestamps r_stamps (k connections each), the intervals between
-- consecutive ones r_gaps, and per pair the quartiles (percentile_cont) and the median
-- absolute deviation of the intervals and of the bytes of each connection, the hours with a
-- connection, and the destination's prevalence (r_prev, r_prev_all) and whether it is
-- external; pairs with at least $min_stamps timestamps, in the order of their numbers (pid: the
-- order of s, d).
-- The quartiles and medians are ordered aggregates, which the engine cannot spill, so a
-- batch's connections must fit in its memory: the caller chooses the number of batches.
CREATE OR REPLACE TEMP TABLE r_cand AS
SELECT pid, s, d, n FROM r_cand_all WHERE bucket = $bucket;
CREATE OR REPLACE TEMP TABLE r_bc AS
SELECT pid, t, b FROM r_bconns WHERE bucket = $bucket;
CREATE OR REPLACE TEMP TABLE r_stamps AS
SELECT pid, t, COUNT(*) AS k FROM r_bc GROUP BY pid, t;
CREATE OR REPLACE TEMP TABLE r_gaps AS
SELECT pid, gap FROM (
  SELECT pid, t - LAG(t) OVER (PARTITION BY pid ORDER BY t) AS gap FROM r_stamps
) g
WHERE gap IS NOT NULL;
CREATE OR REPLACE TEMP TABLE r_gq AS
SELECT pid,
       percentile_cont(0.25) WITHIN GROUP (ORDER BY gap) AS q1,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY gap) AS q2,
       percentile_cont(0.75) WITHIN GROUP (ORDER BY gap) AS q3
FROM r_gaps
GROUP BY pid;
CREATE OR REPLACE TEMP TABLE r_gm AS
SELECT g.pid, percentile_cont(0.5) WITHIN GROUP (ORDER BY ABS(g.gap - q.q2)) AS mad
FROM r_gaps g JOIN r_gq q ON q.pid = g.pid
GROUP BY g.pid;
CREATE OR REPLACE TEMP TABLE r_sq AS
SELECT pid,
       percentile_cont(0.25) WITHIN GROUP (ORDER BY b) AS q1,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY b) AS q2,
       percentile_cont(0.75) WITHIN GROUP (ORDER BY b) AS q3
FROM r_bc
GROUP BY pid;
CREATE OR REPLACE TEMP TABLE r_sm AS
SELECT c.pid, percentile_cont(0.5) WITHIN GROUP (ORDER BY ABS(c.b - q.q2)) AS mad
FROM r_bc c JOIN r_sq q ON q.pid = c.pid
GROUP BY c.pid;
CREATE OR REPLACE TEMP TABLE r_bst AS
SELECT pid, COUNT(*) AS stamps, COUNT(DISTINCT FLOOR(t / 3600)) AS hours
FROM r_stamps
GROUP BY pid;
SELECT p.pid, p.s, p.d, p.n, b.stamps, r.first_ts, r.last_ts, b.hours,
       gq.q1 AS gap_q1, gq.q2 AS gap_q2, gq.q3 AS gap_q3, gm.mad AS gap_mad,
       sq.q1 AS size_q1, sq.q2 AS size_q2, sq.q3 AS size_q3, sm.mad AS size_mad,
       COALESCE(pv.sources, 0) AS dst_sources, tot.sources AS window_sources,
       CASE WHEN di.h IS NULL THEN 1 ELSE 0 END AS dst_external
FROM r_cand p
JOIN r_pairs r ON r.s = p.s AND r.d = p.d
JOIN r_bst b ON b.pid = p.pid
JOIN r_gq gq ON gq.pid = p.pid
JOIN r_gm gm ON gm.pid = p.pid
JOIN r_sq sq ON sq.pid = p.pid
JOIN r_sm sm ON sm.pid = p.pid
LEFT JOIN r_prev pv ON pv.d = p.d
LEFT JOIN r_internal di ON di.h = p.d
CROSS JOIN r_prev_all tot
WHERE b.stamps >= $min_stamps
ORDER BY p.pid
