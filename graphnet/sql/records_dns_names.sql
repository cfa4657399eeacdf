-- The distinct query names of the bound dns records (their registered domains are computed in
-- Python: graphnet.features.registered_domain).
SELECT DISTINCT query FROM dns WHERE query IS NOT NULL
