-- The stored pair level of the fingerprints (bound as `fp_pairs`: PAIR_SCHEMA rows of
-- pairlevel.pair_batches, sorted by pair) for the pairs of a batch (`novelty_fp_sel`, whose
-- codes run from $lo to $hi: the range lets the reader skip the other row groups), by pair,
-- component and value.
SELECT p.pair, p.comp, p.value, p.n, p.m
FROM fp_pairs p
WHERE p.pair BETWEEN $lo AND $hi
  AND p.pair IN (SELECT pair FROM novelty_fp_sel)
ORDER BY p.pair, p.comp, p.value
