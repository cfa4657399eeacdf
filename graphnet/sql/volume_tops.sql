-- For the runs of out-of-band buckets that became findings (lookup `volume_members`: run,
-- entity, bucket), a bound table's connections in those buckets: the three peers (with the
-- entity's role: src, dst or edge) and the three (destination port, state) pairs with the most
-- connections per run (ties: by peer and role, by port and state). A host's connection is in
-- its run when the host is either endpoint (a connection to itself: in both roles); an edge's
-- (lookup `volume_edges`) when it is that edge. Unknown ports count as -1; a connection without
-- a state counts for no port. One pass: a cross join with the three roles, both counts in one
-- grouping (grouping sets).
WITH r AS (
  SELECT m.run,
         CASE x.role WHEN 1 THEN c.src ELSE c.dst END AS peer,
         CASE x.role WHEN 0 THEN 'src' WHEN 1 THEN 'dst' ELSE 'edge' END AS role,
         COALESCE(c.dport, -1) AS dport,
         c.conn_state AS state
  FROM conns c
  CROSS JOIN (VALUES (0), (1), (2)) AS x (role)
  LEFT JOIN volume_edges e ON e.src = c.src AND e.dst = c.dst
  JOIN volume_members m
    ON m.entity = CASE x.role WHEN 0 THEN c.src WHEN 1 THEN c.dst ELSE e.edge END
   AND m.bucket = CAST(FLOOR(c.ts / $bucket_seconds) AS BIGINT)
),
g AS (
  SELECT run, peer, role, dport, state, COUNT(*) AS n, GROUPING(peer) AS is_port
  FROM r
  GROUP BY GROUPING SETS ((run, peer, role), (run, dport, state))
),
k AS (
  SELECT run, peer, role, dport, state, n, is_port,
         ROW_NUMBER() OVER (
           PARTITION BY is_port, run ORDER BY n DESC, peer, role, dport, state
         ) AS pos
  FROM g
  WHERE (is_port = 0 AND peer IS NOT NULL) OR (is_port = 1 AND state IS NOT NULL)
)
SELECT CASE WHEN is_port = 1 THEN 'port' ELSE 'peer' END AS what,
       run, peer, role, dport, state, n, pos
FROM k
WHERE pos <= 3
ORDER BY what, run, pos
