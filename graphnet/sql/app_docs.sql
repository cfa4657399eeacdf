-- The documents (clients) of the training records of `app_words` (after app_dns_views or
-- app_http_views) with the time of their first record, for their canonical order.
SELECT src AS host, MIN(ts) AS first_ts FROM app_words WHERE part = 'past' GROUP BY src
