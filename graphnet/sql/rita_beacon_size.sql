-- The beacon step (after rita_pairs): how many connections its candidate pairs hold (at least
-- $min_n and fewer than $max_n connections), to cut them in batches that fit in memory.
SELECT COALESCE(SUM(n), 0) AS conns FROM r_pairs WHERE n >= $min_n AND n < $max_n
