-- Histograms of the RESOLVED edges (graphnet.record_graph folds them into short summaries):
-- per window, client, registered domain: query types, response codes and sensors.
SELECT d.win, d.src, l.domain, 'qtype' AS what, d.qtype_name AS value, COUNT(*) AS n
FROM dns d JOIN dns_domains l ON d.query = l.query
GROUP BY d.win, d.src, l.domain, d.qtype_name
UNION ALL
SELECT d.win, d.src, l.domain, 'rcode' AS what, d.rcode_name AS value, COUNT(*) AS n
FROM dns d JOIN dns_domains l ON d.query = l.query
GROUP BY d.win, d.src, l.domain, d.rcode_name
UNION ALL
SELECT d.win, d.src, l.domain, 'sensor' AS what, d.sensor AS value, COUNT(*) AS n
FROM dns d JOIN dns_domains l ON d.query = l.query
WHERE d.sensor IS NOT NULL
GROUP BY d.win, d.src, l.domain, d.sensor
