-- The hosts of the window's pairs (after rita_pairs): every source and destination once, for
-- the caller to say which are internal (bound back as r_internal(h)).
SELECT s AS h FROM r_pairs
UNION
SELECT d FROM r_pairs
