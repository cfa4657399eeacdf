-- The sparse cells of the volume baselines: per entity and time bucket of $bucket_seconds, the
-- flows, the bytes and the distinct peers of a bound table's connections (from the view
-- `volume_roles` that `volume_entities` made in the same session), by the entity codes of the
-- lookup `volume_codes` (entity, code) and bucket: the order the model keeps them in. Buckets
-- without connections are never made. Each connection's entity is swapped for its code
-- before any grouping, so that the groups the engine keeps hold numbers and the peer only.
-- Peers are counted by grouping twice, (entity, bucket, peer) then (entity, bucket): plain
-- groupings, which spill.
SELECT entity, bucket, CAST(SUM(flows) AS DOUBLE) AS flows, CAST(SUM(bytes) AS DOUBLE) AS bytes,
       CAST(COUNT(*) AS DOUBLE) AS peers
FROM (
  SELECT k.code AS entity, CAST(FLOOR(r.ts / $bucket_seconds) AS BIGINT) AS bucket, r.peer,
         COUNT(*) AS flows, SUM(r.bytes) AS bytes
  FROM volume_roles r
  JOIN volume_codes k ON k.entity = r.entity
  GROUP BY k.code, CAST(FLOOR(r.ts / $bucket_seconds) AS BIGINT), r.peer
) per_peer
GROUP BY entity, bucket
ORDER BY entity, bucket
