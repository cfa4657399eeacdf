-- The distinct query names of the DNS records of the scored window (`dns`), the training
-- history (`past_dns`) and the verdicts' reference windows (`refs_dns`): Python takes each
-- name apart once (graphnet.detectors.applogs.names.dns_name_parts) and gives the parts back
-- as the lookup `dns_names`.
SELECT DISTINCT COALESCE(query, '-') AS query FROM dns
UNION
SELECT DISTINCT COALESCE(query, '-') AS query FROM past_dns
UNION
SELECT DISTINCT COALESCE(query, '-') AS query FROM refs_dns
