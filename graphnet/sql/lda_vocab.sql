-- The suspicious-connects vocabulary (after lda_fit): each word and its coarse form (the word
-- without hour and bins), in column order.
SELECT word, coarse FROM lda_vocab ORDER BY i
