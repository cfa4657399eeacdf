-- The strobe step (after rita_pairs): the pairs with at least $min_n connections.
SELECT s, d, n, first_ts, last_ts, bytes FROM r_pairs WHERE n >= $min_n ORDER BY n DESC, s, d
