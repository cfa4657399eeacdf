-- The behaviour detector, first pass over the connections: what each (originator s, peer d,
-- proto p, port) did in the history (`past`, as b_seen) and in the window (`conns`, as
-- b_now): its connections n, the answered ones (ok) and the first answered time. `later`
-- marks the part of the history scored against the rest to learn the parts' weights: the
-- connections of window $last_win and later at or after $cut_ts, when $split is 1.
-- An answered connection: the responder replied (Zeek states SF, S1-S3, RSTO, RSTR, the
-- unknown state '-', or reply packets), never a failed probe (S0, REJ, RSTOS0, SH). A missing
-- host, proto or uid reads as '-' (unset), a missing port as -1, a missing state as none.
CREATE OR REPLACE TEMP TABLE b_cut AS
SELECT CAST($split AS INTEGER) AS split, CAST($last_win AS VARCHAR) AS last_win,
       CAST($cut_ts AS DOUBLE) AS cut_ts;
CREATE OR REPLACE TEMP VIEW b_conn_rows AS
SELECT c.win, c.ts, COALESCE(c.uid, '-') AS uid, c.line,
       COALESCE(c.src, '-') AS s, COALESCE(c.dst, '-') AS d,
       COALESCE(c.proto, '-') AS p, CAST(COALESCE(c.dport, -1) AS BIGINT) AS port,
       CASE WHEN (COALESCE(c.conn_state, '') IN ('SF', 'S1', 'S2', 'S3', 'RSTO', 'RSTR', '-')
                  OR (c.dst_pkts > 0 AND NOT ISNAN(c.dst_pkts)))
             AND COALESCE(c.conn_state, '') NOT IN ('S0', 'REJ', 'RSTOS0', 'SH')
            THEN 1 ELSE 0 END AS ok
FROM conns c;
CREATE OR REPLACE TEMP VIEW b_past_rows AS
SELECT c.win, c.ts, COALESCE(c.uid, '-') AS uid, c.line,
       COALESCE(c.src, '-') AS s, COALESCE(c.dst, '-') AS d,
       COALESCE(c.proto, '-') AS p, CAST(COALESCE(c.dport, -1) AS BIGINT) AS port,
       CASE WHEN (COALESCE(c.conn_state, '') IN ('SF', 'S1', 'S2', 'S3', 'RSTO', 'RSTR', '-')
                  OR (c.dst_pkts > 0 AND NOT ISNAN(c.dst_pkts)))
             AND COALESCE(c.conn_state, '') NOT IN ('S0', 'REJ', 'RSTOS0', 'SH')
            THEN 1 ELSE 0 END AS ok,
       CASE WHEN k.split = 1 AND c.win >= k.last_win AND c.ts >= k.cut_ts THEN 1 ELSE 0 END
         AS later
FROM past c CROSS JOIN b_cut k;
CREATE OR REPLACE TEMP TABLE b_seen AS
SELECT s, d, p, port, later, COUNT(*) AS n, SUM(ok) AS ok,
       MIN(CASE WHEN ok = 1 THEN ts END) AS first_ok
FROM b_past_rows
GROUP BY s, d, p, port, later;
CREATE OR REPLACE TEMP TABLE b_now AS
SELECT s, d, p, port, COUNT(*) AS n, SUM(ok) AS ok, MIN(CASE WHEN ok = 1 THEN ts END) AS first_ok
FROM b_conn_rows
GROUP BY s, d, p, port;
SELECT (SELECT COUNT(*) FROM b_seen) AS seen, (SELECT COUNT(*) FROM b_now) AS now_services
