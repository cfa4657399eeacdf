// The REQUESTED edges of a window: http client, server and the edge's summaries.
MATCH (a:Host)-[r:REQUESTED {window: $window}]->(b:Host)
RETURN a.id AS src, b.id AS dst, r.requests AS requests, r.hosts AS hosts,
       r.hosts_distinct AS hosts_distinct, r.user_agents AS user_agents,
       r.agents_distinct AS agents_distinct, r.methods AS methods, r.statuses AS statuses,
       r.sensors AS sensors
ORDER BY src, dst
