// Domains resolved with many distinct names
// Shows: per client and registered domain in $window, how many queries and distinct names it asked (hundreds of random-looking names under one domain: DNS tunnelling or a DGA), NXDOMAIN answers, query types and sensors.
// Parameters: :param window => '2024-W11'
MATCH (h:Host)-[r:RESOLVED {window: $window}]->(d:Domain)
RETURN h.id AS client, d.name AS domain, r.count AS queries, r.names AS distinct_names,
       r.nxdomain AS nxdomain, r.qtypes AS query_types, r.rcodes AS response_codes,
       r.sensors AS sensors
ORDER BY distinct_names DESC, queries DESC
LIMIT 50
