-- The behaviour detector: every host of the history and of the window (either end), to be
-- classified internal or external in Python (graphnet's internal_cidrs) once.
SELECT s AS host FROM b_seen
UNION SELECT d FROM b_seen
UNION SELECT s FROM b_now
UNION SELECT d FROM b_now
