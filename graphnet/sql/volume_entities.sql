-- The entities of a bound table's connections and, per entity, its first connection as a
-- source, as a destination and as an edge (what orders the entity codes). An entity is a host,
-- either endpoint (a connection from a host to itself counts once for it, as its source), or a
-- busy edge of the lookup `volume_edges` (src, dst, edge).
--
-- `volume_roles` (which `volume_cells` reads next): each connection once per entity it counts for,
-- read in one pass (a cross join with the three roles), with its peer there: the other host,
-- or for an edge the destination port (unknown: -1), and its bytes (both directions, unknown
-- as 0).
CREATE OR REPLACE TEMPORARY VIEW volume_roles AS
SELECT CASE r.role WHEN 0 THEN c.src WHEN 1 THEN c.dst ELSE e.edge END AS entity,
       r.role,
       CASE r.role WHEN 0 THEN c.dst WHEN 1 THEN c.src
            ELSE CAST(COALESCE(c.dport, -1) AS VARCHAR) END AS peer,
       c.ts,
       CASE WHEN c.src_bytes IS NULL OR ISNAN(c.src_bytes) THEN 0.0 ELSE c.src_bytes END
       + CASE WHEN c.dst_bytes IS NULL OR ISNAN(c.dst_bytes) THEN 0.0 ELSE c.dst_bytes END
         AS bytes
FROM conns c
CROSS JOIN (VALUES (0), (1), (2)) AS r (role)
LEFT JOIN volume_edges e ON e.src = c.src AND e.dst = c.dst
WHERE c.ts IS NOT NULL AND NOT ISNAN(c.ts)
  AND (r.role = 0 OR (r.role = 1 AND c.src <> c.dst) OR (r.role = 2 AND e.edge IS NOT NULL));
SELECT entity,
       MIN(CASE WHEN role = 0 THEN ts END) AS first_src,
       MIN(CASE WHEN role = 1 THEN ts END) AS first_dst,
       MIN(CASE WHEN role = 2 THEN ts END) AS first_edge
FROM volume_roles
GROUP BY entity
