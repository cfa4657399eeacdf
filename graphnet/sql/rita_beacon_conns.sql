-- The beacon step (after rita_beacon_size): its candidate pairs r_cand_all (at least $min_n
-- and fewer than $max_n connections: pairs at or above the strobe threshold are left out, as
-- RITA does), each with a number (pid) and a batch (a hash of the pair modulo $buckets); their
-- connections r_bconns (whole-second time t and bytes b), read from the window once for every
-- batch; and the destinations' prevalence: r_prev, how many of the window's internal sources
-- (r_internal, bound by the caller) connected to each destination, and r_prev_all, of how many.
CREATE OR REPLACE TEMP TABLE r_cand_all AS
SELECT s, d, n, ROW_NUMBER() OVER (ORDER BY s, d) AS pid, MOD(HASH(s, d), $buckets) AS bucket
FROM r_pairs
WHERE n >= $min_n AND n < $max_n;
CREATE OR REPLACE TEMP TABLE r_bconns AS
SELECT p.bucket, p.pid, FLOOR(c.ts) AS t, c.b
FROM r_conns c JOIN r_cand_all p ON p.s = c.s AND p.d = c.d;
CREATE OR REPLACE TEMP TABLE r_prev AS
SELECT r.d, COUNT(*) AS sources FROM r_pairs r JOIN r_internal i ON i.h = r.s GROUP BY r.d;
CREATE OR REPLACE TEMP TABLE r_prev_all AS
SELECT COUNT(DISTINCT r.s) AS sources FROM r_pairs r JOIN r_internal i ON i.h = r.s;
SELECT COUNT(*) AS conns FROM r_bconns
