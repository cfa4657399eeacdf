-- The user agents of the findings' example requests (after app_findings; lookup
-- `app_examples`: uid, ts, item, as app_http_views makes them: `item` is the host and URI),
-- from the scored window's `http` records. A request without a user agent gives '-'.
SELECT e.uid, e.ts, e.item, MIN(COALESCE(h.user_agent, '-')) AS user_agent
FROM app_examples e
JOIN http h
  ON h.uid IS NOT DISTINCT FROM e.uid
 AND h.ts IS NOT DISTINCT FROM e.ts
 AND COALESCE(h.host, '-') || COALESCE(h.uri, '-') = e.item
GROUP BY e.uid, e.ts, e.item
