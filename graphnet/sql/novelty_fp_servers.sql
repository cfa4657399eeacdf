-- The stored server level of the fingerprints (bound as `fp_servers`: LEVEL_SCHEMA rows of
-- pairlevel.level_batches, by component, then host) for the hosts of a batch
-- (`novelty_fp_sel`, whose codes run from $lo to $hi), by host, component and value.
SELECT p.key, p.comp, p.value, p.n, p.m
FROM fp_servers p
WHERE p.key BETWEEN $lo AND $hi
  AND p.key IN (SELECT key FROM novelty_fp_sel)
ORDER BY p.key, p.comp, p.value
