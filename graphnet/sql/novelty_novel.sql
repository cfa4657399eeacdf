-- The rows `novelty_best.sql` kept (`novelty_novel_rows`: a window's novel connections, and
-- each conversation's most novel one) with their combination's scores, by pair and rank. Read
-- apart from `novelty_best` so that the caller can hold them only once it needs them; the
-- rows were kept before their scores are joined, so that the engine joins a small table to
-- the large one.
SELECT r.uid, r.ts, r.src, r.dst, r.rnk, r.novel, COALESCE(e.counted, 0) AS counted, s.*
FROM novelty_novel_rows r
JOIN novelty_scored s ON s.id = r.id
LEFT JOIN novelty_ecdf e ON e.conn_bits = s.conn_bits
ORDER BY r.src, r.dst, r.rnk
