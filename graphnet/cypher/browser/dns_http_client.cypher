// DNS and proxy findings of a client
// Shows: the suspicious_dns, suspicious_http and dns_tunnel findings about $host in $window, next to the domains it resolved (most distinct names first) and the servers it requested from, with their user agents.
// Parameters: :param host => '192.168.10.5'
// Parameters: :param window => '2024-W11'
MATCH (h:Host {id: $host})
OPTIONAL MATCH (f:Finding {window: $window})-[:ABOUT]->(h)
WHERE f.kind IN ['suspicious_dns', 'suspicious_http', 'dns_tunnel']
WITH h, collect(DISTINCT f {.kind, score: round(f.score, 3), .explanation, .status}) AS findings
OPTIONAL MATCH (h)-[r:RESOLVED {window: $window}]->(d:Domain)
WITH h, findings, r, d ORDER BY r.names DESC, r.count DESC
WITH h, findings,
     collect(CASE WHEN d IS NULL THEN NULL
             ELSE {domain: d.name, queries: r.count, distinct_names: r.names,
                   nxdomain: r.nxdomain, query_types: r.qtypes} END)[..20] AS resolved
OPTIONAL MATCH (h)-[q:REQUESTED {window: $window}]->(s:Host)
WITH h, findings, resolved, q, s ORDER BY q.requests DESC
RETURN h.id AS client, findings, resolved,
       collect(CASE WHEN s IS NULL THEN NULL
               ELSE {server: s.id, requests: q.requests, hosts: q.hosts,
                     user_agents: q.user_agents, statuses: q.statuses} END)[..20] AS requested
