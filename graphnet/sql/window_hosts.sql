-- Every host of the bound window (as the source or the destination of a connection), sorted.
SELECT host FROM (
  SELECT src AS host FROM conns
  UNION
  SELECT dst AS host FROM conns
) h
WHERE host IS NOT NULL
ORDER BY host
