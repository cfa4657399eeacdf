-- The behaviour detector: how many history connections there are and their first and last
-- times (where the history is cut to learn the parts' weights).
SELECT COUNT(*) AS n, MIN(ts) AS lo, MAX(ts) AS hi FROM past
