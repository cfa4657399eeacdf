-- The distinct history strings of a bound table (for the parts' act lookup).
SELECT DISTINCT COALESCE(NULLIF(history, ''), '-') AS history FROM {table}
