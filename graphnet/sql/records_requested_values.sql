-- Histograms of the REQUESTED edges (graphnet.record_graph folds them into short summaries):
-- per window, client and server: requested hosts, user agents, methods, status codes, sensors.
SELECT win, src, dst, 'host' AS what, host AS value, COUNT(*) AS n
FROM http WHERE host <> '-' GROUP BY win, src, dst, host
UNION ALL
SELECT win, src, dst, 'user_agent' AS what, user_agent AS value, COUNT(*) AS n
FROM http WHERE user_agent <> '-' GROUP BY win, src, dst, user_agent
UNION ALL
SELECT win, src, dst, 'method' AS what, method AS value, COUNT(*) AS n
FROM http GROUP BY win, src, dst, method
UNION ALL
SELECT win, src, dst, 'status' AS what, CAST(status_code AS VARCHAR) AS value, COUNT(*) AS n
FROM http WHERE status_code >= 0 GROUP BY win, src, dst, status_code
UNION ALL
SELECT win, src, dst, 'sensor' AS what, sensor AS value, COUNT(*) AS n
FROM http WHERE sensor IS NOT NULL GROUP BY win, src, dst, sensor
