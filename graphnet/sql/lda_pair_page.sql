-- The (host, word) pairs of the hosts with codes in [$lo, $hi) (after lda_window_pairs), as
-- numbers, by id: a page that holds each of its hosts whole.
SELECT id, host_code, doc, col, coarse_code, cnt
FROM lda_pair_codes
WHERE host_code >= $lo AND host_code < $hi
ORDER BY id
