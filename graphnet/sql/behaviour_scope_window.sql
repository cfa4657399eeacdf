-- The behaviour detector's question for the window: its services (b_cur) and connections
-- (b_rows) against the whole history's services (b_hist); then the counts the scores need:
-- the history's internal originators and connections, the window's originators per zone.
CREATE OR REPLACE TEMP TABLE b_hist AS
SELECT s, d, p, port, SUM(n) AS n, SUM(ok) AS ok FROM b_seen GROUP BY s, d, p, port;
CREATE OR REPLACE TEMP TABLE b_cur AS SELECT s, d, p, port, n, ok, first_ok FROM b_now;
CREATE OR REPLACE TEMP VIEW b_rows AS SELECT * FROM b_conn_rows;
SELECT
  (SELECT COUNT(DISTINCT h.s) FROM b_hist h JOIN b_internal i ON i.host = h.s)
    AS internal_clients,
  (SELECT COALESCE(SUM(n), 0) FROM b_hist) AS history_rows,
  (SELECT COUNT(DISTINCT c.s) FROM b_cur c JOIN b_internal i ON i.host = c.s)
    AS internal_originators,
  (SELECT COUNT(DISTINCT s) FROM b_cur) AS originators
