-- The behaviour detector: the answered services (s, d, p, port) of b_cur that are a first
-- time against b_hist, with a flag per part (see graphnet.detectors.behaviour):
--   new_host: s never seen in the history (either end), d internal;
--   new_admin: s and d internal, an admin port (b_admin), a (s, d, p, port) never used;
--   new_service: d internal, a pair that talked (either way), a (s, d, p, port) never used,
--     and d never answered (d, p, port) to anyone, or s, a client of at least $min_client
--     history connections, never used (p, port) with anyone;
--   failed: every one of the at least $min_failed history connections of (s, d, p, port)
--     went unanswered;
-- and users, how many internal clients the internal service (d, p, port) answered.
-- b_internal (host) lists the internal hosts. The services are checked in steps of one or two
-- joins (b_f1 ... b_f5), so that each step's hash tables fit in the engine's memory or spill;
-- services to external peers leave after the first step unless they may be `failed`.
CREATE OR REPLACE TEMP TABLE b_hist_hosts AS
SELECT s AS host FROM b_hist UNION SELECT d FROM b_hist;
CREATE OR REPLACE TEMP TABLE b_hist_pairs AS SELECT s, d FROM b_hist GROUP BY s, d;
CREATE OR REPLACE TEMP TABLE b_servers AS
SELECT d, p, port FROM b_hist WHERE ok > 0 GROUP BY d, p, port;
CREATE OR REPLACE TEMP TABLE b_clients AS SELECT s, p, port FROM b_hist GROUP BY s, p, port;
CREATE OR REPLACE TEMP TABLE b_client_conns AS SELECT s, SUM(n) AS n FROM b_hist GROUP BY s;
CREATE OR REPLACE TEMP TABLE b_users AS
SELECT h.d, h.p, h.port, COUNT(DISTINCT h.s) AS users
FROM b_hist h
JOIN b_internal si ON si.host = h.s
JOIN b_internal di ON di.host = h.d
WHERE h.ok > 0
GROUP BY h.d, h.p, h.port;
CREATE OR REPLACE TEMP TABLE b_f1 AS
SELECT c.s, c.d, c.p, c.port, c.first_ok,
       CASE WHEN h.s IS NULL THEN 0 ELSE 1 END AS used_pair,
       CASE WHEN h.ok = 0 AND h.n >= $min_failed THEN 1 ELSE 0 END AS failed
FROM b_cur c
LEFT JOIN b_hist h ON h.s = c.s AND h.d = c.d AND h.p = c.p AND h.port = c.port
WHERE c.ok > 0;
CREATE OR REPLACE TEMP TABLE b_f2 AS
SELECT f.*, CASE WHEN di.host IS NULL THEN 0 ELSE 1 END AS d_int
FROM b_f1 f
LEFT JOIN b_internal di ON di.host = f.d
WHERE di.host IS NOT NULL OR f.failed = 1;
CREATE OR REPLACE TEMP TABLE b_f3 AS
SELECT f.*, CASE WHEN si.host IS NULL THEN 0 ELSE 1 END AS s_int,
       CASE WHEN hh.host IS NULL THEN 0 ELSE 1 END AS s_seen
FROM b_f2 f
LEFT JOIN b_internal si ON si.host = f.s
LEFT JOIN b_hist_hosts hh ON hh.host = f.s;
CREATE OR REPLACE TEMP TABLE b_f4 AS
SELECT f.*, CASE WHEN fw.s IS NULL AND bw.s IS NULL THEN 0 ELSE 1 END AS known_pair
FROM b_f3 f
LEFT JOIN b_hist_pairs fw ON fw.s = f.s AND fw.d = f.d
LEFT JOIN b_hist_pairs bw ON bw.s = f.d AND bw.d = f.s;
CREATE OR REPLACE TEMP TABLE b_f5 AS
SELECT f.*, CASE WHEN sv.d IS NULL THEN 0 ELSE 1 END AS served,
       CASE WHEN cl.s IS NULL THEN 0 ELSE 1 END AS client_used
FROM b_f4 f
LEFT JOIN b_servers sv ON sv.d = f.d AND sv.p = f.p AND sv.port = f.port
LEFT JOIN b_clients cl ON cl.s = f.s AND cl.p = f.p AND cl.port = f.port;
SELECT s, d, p, port, first_ok, users, new_host, new_admin, new_service, failed FROM (
  SELECT f.s, f.d, f.p, f.port, f.first_ok, COALESCE(u.users, 0) AS users,
         CASE WHEN f.d_int = 1 AND f.s_seen = 0 THEN 1 ELSE 0 END AS new_host,
         CASE WHEN f.d_int = 1 AND f.s_int = 1 AND f.used_pair = 0
                   AND f.port IN (SELECT port FROM b_admin) THEN 1 ELSE 0 END AS new_admin,
         CASE WHEN f.d_int = 1 AND f.used_pair = 0 AND f.known_pair = 1
                   AND (f.served = 0 OR (f.client_used = 0 AND COALESCE(cc.n, 0) >= $min_client))
              THEN 1 ELSE 0 END AS new_service,
         f.failed
  FROM b_f5 f
  LEFT JOIN b_client_conns cc ON cc.s = f.s
  LEFT JOIN b_users u ON u.d = f.d AND u.p = f.p AND u.port = f.port
) x
WHERE new_host + new_admin + new_service + failed > 0
