-- (:Host)-[:REQUESTED]->(:Host) of windows: per window, client and server, the http requests
-- (graphnet.record_graph). `http`: the windows' http records; unset values (`-`) are not counted
-- as distinct hosts, user agents or URIs.
SELECT win, src, dst,
       COUNT(*) AS requests,
       COUNT(DISTINCT CASE WHEN host <> '-' THEN host END) AS hosts_distinct,
       COUNT(DISTINCT CASE WHEN user_agent <> '-' THEN user_agent END) AS agents_distinct,
       COUNT(DISTINCT CASE WHEN uri <> '-' THEN uri END) AS uris_distinct,
       SUM(request_body_len) AS request_bytes,
       SUM(response_body_len) AS response_bytes,
       MIN(ts) AS first_ts,
       MAX(ts) AS last_ts
FROM http
GROUP BY win, src, dst
