-- The stored pair level of the fingerprints (bound as `fp_pairs`: LEVEL_SCHEMA rows of
-- pairlevel.level_batches, by component, then pair) for the pairs of a batch (`novelty_fp_sel`,
-- whose codes run from $lo to $hi: the range lets the reader skip the other row groups), by
-- pair, component and value.
SELECT p.key, p.comp, p.value, p.n, p.m
FROM fp_pairs p
WHERE p.key BETWEEN $lo AND $hi
  AND p.key IN (SELECT key FROM novelty_fp_sel)
ORDER BY p.key, p.comp, p.value
