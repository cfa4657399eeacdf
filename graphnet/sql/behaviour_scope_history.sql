-- The behaviour detector's question for its weights: the latest part of the history (later =
-- 1: its services b_cur and connections b_rows) against the earlier part (b_hist); then the
-- same counts as behaviour_scope_window.
CREATE OR REPLACE TEMP TABLE b_hist AS
SELECT s, d, p, port, n, ok FROM b_seen WHERE later = 0;
CREATE OR REPLACE TEMP TABLE b_cur AS
SELECT s, d, p, port, n, ok, first_ok FROM b_seen WHERE later = 1;
CREATE OR REPLACE TEMP VIEW b_rows AS SELECT * FROM b_past_rows WHERE later = 1;
SELECT
  (SELECT COUNT(DISTINCT h.s) FROM b_hist h JOIN b_internal i ON i.host = h.s)
    AS internal_clients,
  (SELECT COALESCE(SUM(n), 0) FROM b_hist) AS history_rows,
  (SELECT COUNT(DISTINCT c.s) FROM b_cur c JOIN b_internal i ON i.host = c.s)
    AS internal_originators,
  (SELECT COUNT(DISTINCT s) FROM b_cur) AS originators
