-- The RITA-class steps (beacon, long connections, strobes): every (src, dst) pair of the
-- window `conns`, judged against the window itself (no history). r_conns: the connections
-- with a time that cross the network's edge (one end external: r_internal, bound by the
-- caller, holds the internal hosts; both ends internal too when $internal_pairs = 1), their bytes (sent + received, unknown as 0) and their duration (NaN as NULL);
-- r_span: the window's first and last time, connections and hours with traffic; r_pairs: per
-- pair its connections, first and last time, bytes, open connections (Zeek S1-S3: established,
-- not closed) and cumulative duration (a connection without a duration counts as open until
-- the window's last time when its state is open, else as 0). The result: the span and the
-- median and median absolute deviation of ln(connections) and ln(cumulative duration) over
-- the pairs (those with a duration for the latter), the thresholds' material.
CREATE OR REPLACE TEMP TABLE r_opts AS SELECT CAST($internal_pairs AS INTEGER) AS internal_pairs;
CREATE OR REPLACE TEMP VIEW r_conns AS
SELECT c.src AS s, c.dst AS d, c.ts, c.dport, c.conn_state, c.uid,
       CASE WHEN c.duration IS NULL OR ISNAN(c.duration) THEN NULL ELSE c.duration END
         AS duration,
       (CASE WHEN c.src_bytes IS NULL OR ISNAN(c.src_bytes) THEN 0 ELSE c.src_bytes END)
       + (CASE WHEN c.dst_bytes IS NULL OR ISNAN(c.dst_bytes) THEN 0 ELSE c.dst_bytes END) AS b
FROM conns c
CROSS JOIN r_opts o
LEFT JOIN r_internal si ON si.h = c.src
LEFT JOIN r_internal di ON di.h = c.dst
WHERE c.ts IS NOT NULL AND NOT ISNAN(c.ts)
  AND (o.internal_pairs = 1 OR si.h IS NULL OR di.h IS NULL);
CREATE OR REPLACE TEMP TABLE r_span AS
SELECT MIN(ts) AS lo, MAX(ts) AS hi, COUNT(*) AS n, COUNT(DISTINCT FLOOR(ts / 3600)) AS hours
FROM r_conns;
CREATE OR REPLACE TEMP TABLE r_pairs AS
SELECT s, d, COUNT(*) AS n, MIN(ts) AS first_ts, MAX(ts) AS last_ts, SUM(b) AS bytes,
       SUM(op) AS open_n, SUM(dur) AS dur, MAX(dur) AS longest
FROM (
  SELECT c.s, c.d, c.ts, c.b,
         CASE WHEN c.conn_state IN ('S1', 'S2', 'S3') THEN 1 ELSE 0 END AS op,
         CASE WHEN c.duration > 0 THEN c.duration
              WHEN c.duration IS NULL AND c.conn_state IN ('S1', 'S2', 'S3') THEN sp.hi - c.ts
              ELSE 0 END AS dur
  FROM r_conns c CROSS JOIN r_span sp
) x
GROUP BY s, d;
CREATE OR REPLACE TEMP TABLE r_logs AS
SELECT LN(n) AS ln_n, CASE WHEN dur > 0 THEN LN(dur) ELSE NULL END AS ln_dur FROM r_pairs;
CREATE OR REPLACE TEMP TABLE r_med AS
SELECT COUNT(*) AS pairs, COUNT(ln_dur) AS timed,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY ln_n) AS med_n,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY ln_dur) AS med_dur
FROM r_logs;
SELECT sp.lo, sp.hi, sp.n, sp.hours, m.pairs, m.timed, m.med_n, m.med_dur, a.mad_n, a.mad_dur
FROM r_span sp
CROSS JOIN r_med m
CROSS JOIN (
  SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ABS(l.ln_n - m2.med_n)) AS mad_n,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY ABS(l.ln_dur - m2.med_dur)) AS mad_dur
  FROM r_logs l CROSS JOIN r_med m2
) a
