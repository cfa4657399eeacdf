-- The scored window's distinct (client, word) pairs and how often each occurs (after
-- app_*_views), with the word's number `wid`, for Python to score. Keys that give the same
-- word (rare: a text holding '_') are added up.
SELECT src AS host, wid, word, coarse, n AS cnt
FROM app_word_groups WHERE part = 'now' AND same = 1
UNION ALL
SELECT src AS host, wid, word, MIN(coarse) AS coarse, CAST(SUM(n) AS BIGINT) AS cnt
FROM app_word_groups WHERE part = 'now' AND same > 1
GROUP BY src, wid, word
