-- (:Host)-[:REQUESTED]->(:Host) of windows: per window, client and server, the http requests
-- (graphnet.record_graph). `http`: the windows' http records.
SELECT win, src, dst,
       COUNT(*) AS requests,
       COUNT(DISTINCT host) AS hosts_distinct,
       COUNT(DISTINCT user_agent) AS agents_distinct,
       COUNT(DISTINCT uri) AS uris_distinct,
       SUM(request_body_len) AS request_bytes,
       SUM(response_body_len) AS response_bytes,
       MIN(ts) AS first_ts,
       MAX(ts) AS last_ts
FROM http
GROUP BY win, src, dst
