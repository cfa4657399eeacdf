-- How often each client had each word in the training records (after app_*_views: the groups
-- of its records per word key, with their words). Keys that give the same word (rare: a text
-- holding '_') are added up.
SELECT src AS host, word, coarse, n
FROM app_word_groups WHERE part = 'past' AND same = 1
UNION ALL
SELECT src AS host, word, MIN(coarse) AS coarse, CAST(SUM(n) AS BIGINT) AS n
FROM app_word_groups WHERE part = 'past' AND same > 1
GROUP BY src, word
