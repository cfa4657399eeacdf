-- How often each user agent occurs in the training history (`past_http`, part 'past') and in
-- the scored window (`http`, part 'now'); Python bins them (Spot's agent frequency) into the
-- lookup `http_agents` (part, user_agent, ua_bin).
SELECT 'past' AS part, COALESCE(user_agent, '-') AS user_agent, COUNT(*) AS n
FROM past_http GROUP BY COALESCE(user_agent, '-')
UNION ALL
SELECT 'now' AS part, COALESCE(user_agent, '-') AS user_agent, COUNT(*) AS n
FROM http GROUP BY COALESCE(user_agent, '-')
