-- The distinct URIs and requested hosts of the web requests of the scored window (`http`),
-- the training history (`past_http`) and the verdicts' reference windows (`refs_http`), kind
-- 'uri' or 'host', for Python to take apart once each (lookups `http_uris`, `http_hosts`).
SELECT 'uri' AS kind, COALESCE(uri, '-') AS value FROM http
UNION
SELECT 'uri' AS kind, COALESCE(uri, '-') AS value FROM past_http
UNION
SELECT 'uri' AS kind, COALESCE(uri, '-') AS value FROM refs_http
UNION
SELECT 'host' AS kind, COALESCE(host, '-') AS value FROM http
UNION
SELECT 'host' AS kind, COALESCE(host, '-') AS value FROM past_http
UNION
SELECT 'host' AS kind, COALESCE(host, '-') AS value FROM refs_http
