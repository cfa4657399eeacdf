-- The busy edges of a bound table: (src, dst) pairs with at least $min_flows connections,
-- busiest first (ties: the earlier first connection, then the names), at most $max_edges.
SELECT src, dst, COUNT(*) AS flows, MIN(ts) AS first_ts
FROM conns
GROUP BY src, dst
HAVING COUNT(*) >= $min_flows
ORDER BY flows DESC, first_ts, src, dst
LIMIT $max_edges
