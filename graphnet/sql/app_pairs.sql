-- The scored window's distinct (client, word) pairs and how often each occurs (after
-- app_*_views), for Python to score.
SELECT src AS host, word, MIN(coarse) AS coarse, COUNT(*) AS cnt
FROM app_words WHERE part = 'now' GROUP BY src, word
