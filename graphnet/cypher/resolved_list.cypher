// The RESOLVED edges of a window: client, registered domain and the edge's summaries.
MATCH (h:Host)-[r:RESOLVED {window: $window}]->(d:Domain)
RETURN h.id AS src, d.name AS domain, r.count AS count, r.names AS names,
       r.nxdomain AS nxdomain, r.qtypes AS qtypes, r.rcodes AS rcodes, r.sensors AS sensors
ORDER BY src, domain
