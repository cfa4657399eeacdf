-- The suspicious-connects documents (after lda_fit): the hosts, in row order.
SELECT host FROM lda_docs ORDER BY i
