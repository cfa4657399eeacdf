-- The TALKED edges of newly archived connections (the bound table `new`), as the Bolt path
-- writes them (graphnet.accumulate.EdgeRows): per (src, dst, window) the totals and, per
-- summarised component, its values by count (then by value), the first $top kept and the rest
-- folded into 'other', with the number of distinct values before folding. One row per edge,
-- ordered by edge, each component's values and counts as two arrays (by count, then value).
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
) v;
CREATE TEMP TABLE edge_folded AS
SELECT win, src, dst, comp, value, SUM(n) AS n, MAX(distinct_values) AS distinct_values
FROM (
  SELECT win, src, dst, comp, CASE WHEN place > $top THEN 'other' ELSE value END AS value, n,
         distinct_values
  FROM edge_values
) v
GROUP BY win, src, dst, comp, value;
SELECT t.src, t.dst, t.win, t.conns, t.src_bytes, t.dst_bytes, t.src_pkts, t.dst_pkts,
       t.duration, t.first_ms, t.last_ms,
       f.service_k, f.service_n, f.service_distinct, f.dport_k, f.dport_n, f.dport_distinct,
       f.conn_state_k, f.conn_state_n, f.conn_state_distinct
FROM edge_totals t
JOIN (
  SELECT win, src, dst,
         ARRAY_AGG(value ORDER BY n DESC, value) FILTER (WHERE comp = 'service') AS service_k,
         ARRAY_AGG(n ORDER BY n DESC, value) FILTER (WHERE comp = 'service') AS service_n,
         MAX(CASE WHEN comp = 'service' THEN distinct_values END) AS service_distinct,
         ARRAY_AGG(value ORDER BY n DESC, value) FILTER (WHERE comp = 'dport') AS dport_k,
         ARRAY_AGG(n ORDER BY n DESC, value) FILTER (WHERE comp = 'dport') AS dport_n,
         MAX(CASE WHEN comp = 'dport' THEN distinct_values END) AS dport_distinct,
         ARRAY_AGG(value ORDER BY n DESC, value) FILTER (WHERE comp = 'conn_state')
           AS conn_state_k,
         ARRAY_AGG(n ORDER BY n DESC, value) FILTER (WHERE comp = 'conn_state') AS conn_state_n,
         MAX(CASE WHEN comp = 'conn_state' THEN distinct_values END) AS conn_state_distinct
  FROM edge_folded
  GROUP BY win, src, dst
) f ON f.win = t.win AND f.src = t.src AND f.dst = t.dst
ORDER BY t.src, t.dst, t.win
