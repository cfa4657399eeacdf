-- The sparse cells of the volume baselines: per entity and time bucket of $bucket_seconds, the
-- flows, the bytes and the distinct peers of a bound table's connections (from the view
-- `volume_roles` that `volume_entities` made in the same session), by the entity codes of the
-- lookup `volume_codes` (entity, code) and bucket: the order the model keeps them in. Buckets
-- without connections are never made.
--
-- Every group the engine keeps is of numbers: a connection's entity becomes its code before
-- any grouping, and so does its peer (a host peer is an entity too, with a code of its own; an
-- edge's peer is its destination port, -1 unknown). Peers are counted by grouping twice, first
-- (entity, bucket, peer) into a temporary table, then (entity, bucket): one grouping a
-- statement, each of which spills. With the names as group keys, or both groupings in one
-- statement, the history of a 32 M-a-week network ran out of the engine's 1 GB.
CREATE OR REPLACE TEMP TABLE volume_peer_cells AS
SELECT k.code AS entity, CAST(FLOOR(r.ts / $bucket_seconds) AS BIGINT) AS bucket,
       CASE WHEN r.role = 2 THEN CAST(r.peer AS BIGINT) ELSE p.code END AS peer,
       COUNT(*) AS flows, SUM(r.bytes) AS bytes
FROM volume_roles r
JOIN volume_codes k ON k.entity = r.entity
LEFT JOIN volume_codes p ON r.role < 2 AND p.entity = r.peer
GROUP BY k.code, CAST(FLOOR(r.ts / $bucket_seconds) AS BIGINT),
         CASE WHEN r.role = 2 THEN CAST(r.peer AS BIGINT) ELSE p.code END;
SELECT entity, bucket, CAST(SUM(flows) AS DOUBLE) AS flows, CAST(SUM(bytes) AS DOUBLE) AS bytes,
       CAST(COUNT(*) AS DOUBLE) AS peers
FROM volume_peer_cells
GROUP BY entity, bucket
ORDER BY entity, bucket
