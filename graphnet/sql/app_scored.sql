-- Every record of the scored window with the score of its (client, word) pair (lookup
-- `app_pair_scores`: host, wid, p, score, novelty, expected, cnt) into `app_scored`;
-- returns the alerts (records with P below $threshold) and the suspicious clients. Every
-- record has its pair (app_pairs counted them); the LEFT JOIN only keeps the engine from
-- joining the pairs by client before the records have their word numbers.
CREATE OR REPLACE TEMP TABLE app_scored AS
SELECT w.uid, w.ts, w.src, w.dst, w.item, w.domain, w.detail, w.word, s.p, s.score, s.novelty,
       s.expected, s.cnt
FROM app_words w
LEFT JOIN app_pair_scores s ON s.host = w.src AND s.wid = w.wid
WHERE w.part = 'now';

SELECT COUNT(*) AS records,
       SUM(CASE WHEN p < $threshold THEN 1 ELSE 0 END) AS alerts,
       COUNT(DISTINCT CASE WHEN p < $threshold THEN src END) AS suspicious
FROM app_scored
