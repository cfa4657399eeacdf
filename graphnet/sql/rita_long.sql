-- The long-connection step (after rita_pairs): the pairs whose cumulative duration is at least
-- $min_dur seconds.
SELECT s, d, n, dur, longest, open_n, first_ts, last_ts, bytes
FROM r_pairs
WHERE dur >= $min_dur
ORDER BY dur DESC, s, d
