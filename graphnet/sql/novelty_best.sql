-- Per conversation of `novelty_bounds` (by its row `pos` in the ranked conversations): the
-- first and last time of its novel connections (NULL when it has none) and the combination
-- of its most novel connection (`best_id`), from the rows `novelty_novel.sql` kept.
SELECT b.pos,
       MIN(CASE WHEN r.novel THEN r.ts END) AS first_ts,
       MAX(CASE WHEN r.novel THEN r.ts END) AS last_ts,
       MAX(CASE WHEN r.rnk = 1 THEN r.id END) AS best_id
FROM novelty_bounds b
JOIN novelty_novel_rows r ON r.src = b.src AND r.dst = b.dst
GROUP BY b.pos
