-- The TALKED edges of newly archived connections (the bound table `new`), as the Bolt path
-- writes them (graphnet.accumulate.EdgeRows): per (src, dst, window) the totals and, per
-- summarised component, its values by count (then by value), the first $top kept and the rest
-- folded into 'other', with the number of distinct values before folding. One row per edge
-- and listed value, ordered by edge; the caller assembles each edge's lists from its rows.
-- With $sensors, also the component 'sensor': how many of the edge's connections each sensor
-- logged, from the bound table `seen` (every copy: a connection two sensors logged counts for
-- both; ingest's recount of a window several sensors logged; the bulk load leaves it out).
CREATE TEMP TABLE edge_totals AS
SELECT win, src, dst, COUNT(*) AS conns,
       SUM(COALESCE(src_bytes_num, 0)) AS src_bytes, SUM(COALESCE(dst_bytes_num, 0)) AS dst_bytes,
       SUM(COALESCE(src_pkts_num, 0)) AS src_pkts, SUM(COALESCE(dst_pkts_num, 0)) AS dst_pkts,
       SUM(COALESCE(duration, 0)) AS duration,
       CAST(FLOOR(MIN(ts) * 1000) AS BIGINT) AS first_ms,
       CAST(FLOOR(MAX(ts) * 1000) AS BIGINT) AS last_ms
FROM new_parts
GROUP BY win, src, dst;
CREATE TEMP TABLE edge_values AS
SELECT win, src, dst, comp, value, n,
       ROW_NUMBER() OVER (PARTITION BY win, src, dst, comp ORDER BY n DESC, value) AS place,
       COUNT(*) OVER (PARTITION BY win, src, dst, comp) AS distinct_values
FROM (
  SELECT win, src, dst, 'conn_state' AS comp, conn_state AS value, COUNT(*) AS n
  FROM new_parts GROUP BY win, src, dst, conn_state
  UNION ALL
  SELECT win, src, dst, 'dport', dport, COUNT(*) FROM new_parts GROUP BY win, src, dst, dport
  UNION ALL
  SELECT win, src, dst, 'service', service, COUNT(*) FROM new_parts GROUP BY win, src, dst, service
  UNION ALL
  SELECT win, src, dst, 'sensor', sensor, COUNT(*) FROM seen
  WHERE $sensors AND sensor IS NOT NULL GROUP BY win, src, dst, sensor
) v;
SELECT t.src, t.dst, t.win, t.conns, t.src_bytes, t.dst_bytes, t.src_pkts, t.dst_pkts,
       t.duration, t.first_ms, t.last_ms, f.comp, f.value, f.n, f.distinct_values
FROM edge_totals t
JOIN (
  SELECT win, src, dst, comp,
         CASE WHEN place > $top THEN 'other' ELSE value END AS value,
         SUM(n) AS n, MAX(distinct_values) AS distinct_values
  FROM edge_values
  GROUP BY win, src, dst, comp, CASE WHEN place > $top THEN 'other' ELSE value END
) f ON f.win = t.win AND f.src = t.src AND f.dst = t.dst
ORDER BY t.src, t.dst, t.win, f.comp, f.n DESC, f.value
