-- The suspicious-connects training matrix (after lda_fit), sparse: (document row, word
-- column, weighted count), one row per non-zero cell.
SELECT d.i AS doc, v.i AS word, SUM(h.n) AS n
FROM lda_hw h
JOIN lda_docs d ON d.host = h.host
JOIN lda_vocab v ON v.word = h.word
GROUP BY d.i, v.i
