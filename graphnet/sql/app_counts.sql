-- How often each client had each word in the training records (after app_*_views).
SELECT src AS host, word, MIN(coarse) AS coarse, COUNT(*) AS n
FROM app_words WHERE part = 'past' GROUP BY src, word
