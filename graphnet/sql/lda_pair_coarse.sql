-- The coarse forms of the scored window's words (after lda_window_pairs), by code.
SELECT coarse FROM lda_pair_coarse ORDER BY code
