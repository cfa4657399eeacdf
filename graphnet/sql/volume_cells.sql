-- The sparse cells of the volume baselines: per entity and time bucket of $bucket_seconds, the
-- flows, the bytes and the distinct peers of a bound table's connections (from the view
-- `volume_roles` that `volume_entities` made in the same session), by the entity codes of the
-- lookup `volume_codes` (entity, code) and bucket: the order the model keeps them in. Buckets
-- without connections are never made. Peers are counted by grouping twice, (entity, bucket,
-- peer) then (entity, bucket): plain groupings, which spill.
SELECT k.code AS entity, g.bucket, CAST(g.flows AS DOUBLE) AS flows,
       CAST(g.bytes AS DOUBLE) AS bytes, CAST(g.peers AS DOUBLE) AS peers
FROM (
  SELECT entity, bucket, SUM(flows) AS flows, SUM(bytes) AS bytes, COUNT(*) AS peers
  FROM (
    SELECT entity, CAST(FLOOR(ts / $bucket_seconds) AS BIGINT) AS bucket, peer,
           COUNT(*) AS flows, SUM(bytes) AS bytes
    FROM volume_roles
    GROUP BY entity, CAST(FLOOR(ts / $bucket_seconds) AS BIGINT), peer
  ) per_peer
  GROUP BY entity, bucket
) g
JOIN volume_codes k ON k.entity = g.entity
ORDER BY k.code, g.bucket
