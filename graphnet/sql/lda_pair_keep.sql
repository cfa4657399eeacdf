-- Keep a page's pair scores (the lookup `lda_pair_batch`: id, p, s = -log10 P, code, lam,
-- cnt) in `lda_pair_scores` (made by lda_window_pairs).
INSERT INTO lda_pair_scores
SELECT id, p, s, code, lam, cnt FROM lda_pair_batch;

SELECT COUNT(*) AS n FROM lda_pair_batch
