-- How often each TCP history occurs on some host pairs (the lookup table `pairs`) in the bound
-- window: the report's edge tables show the most frequent ones (the graph keeps services,
-- ports and states; histories live in the connection archive).
SELECT p.src, p.dst, COALESCE(NULLIF(c.history, ''), '-') AS value, COUNT(*) AS n
FROM conns c
JOIN pairs p ON c.src = p.src AND c.dst = p.dst
GROUP BY p.src, p.dst, COALESCE(NULLIF(c.history, ''), '-')
ORDER BY p.src, p.dst, n DESC, value
