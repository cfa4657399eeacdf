// HTTP clients and what they requested
// Shows: per http client and server in $window, the requests, the requested hosts, the user agents (a user agent nobody else uses stands out), methods and status codes.
// Parameters: :param window => '2024-W11'
MATCH (a:Host)-[r:REQUESTED {window: $window}]->(b:Host)
RETURN a.id AS client, b.id AS server, r.requests AS requests, r.hosts AS hosts,
       r.user_agents AS user_agents, r.agents_distinct AS distinct_agents,
       r.methods AS methods, r.statuses AS statuses, r.sensors AS sensors
ORDER BY distinct_agents DESC, requests DESC
LIMIT 50
