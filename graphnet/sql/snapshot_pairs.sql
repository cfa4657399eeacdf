-- The centrality snapshot of one window (`conns`), first of three statements run in one
-- session (then snapshot_hosts and snapshot_edges read the two tables made here):
--
-- `snapshot_pair_ports`: per directed host pair and destination port, the connections and the
-- bytes each way. The port is counted as the fingerprints count it (features.port_class,
-- parts.sql): no port (NULL or negative, '-') is no port and every port from 49152 up is one
-- value ('dyn', here 49152). Missing byte counts add nothing, as in the graph's edges.
--
-- `snapshot_host_codes`: the hosts of the window's graph (self-loops dropped), numbered from 0
-- in sorted order, with the exact number of distinct destination ports each connected to
-- (`dports_out`) and was connected on (`dports_in`) over all its edges.
--
-- Returns one row: the host pairs of the window (`talked_edges`, self-loops included, as the
-- graph's TALKED relationships count them), the pairs of the graph (`edges`, self-loops
-- dropped), its hosts and connections.
CREATE TEMP TABLE snapshot_pair_ports AS
SELECT src, dst, port, COUNT(*) AS conns, SUM(src_bytes) AS src_bytes,
       SUM(dst_bytes) AS dst_bytes
FROM (
  SELECT src, dst,
         CASE WHEN dport IS NULL OR dport < 0 THEN NULL
              WHEN dport >= 49152 THEN 49152
              ELSE dport END AS port,
         CASE WHEN src_bytes IS NULL OR ISNAN(src_bytes) THEN 0.0 ELSE src_bytes END
           AS src_bytes,
         CASE WHEN dst_bytes IS NULL OR ISNAN(dst_bytes) THEN 0.0 ELSE dst_bytes END
           AS dst_bytes
  FROM conns
  WHERE src IS NOT NULL AND dst IS NOT NULL
) c
GROUP BY src, dst, port;

CREATE TEMP TABLE snapshot_host_codes AS
SELECT host, ROW_NUMBER() OVER (ORDER BY host) - 1 AS code,
       CAST(SUM(dports_out) AS BIGINT) AS dports_out,
       CAST(SUM(dports_in) AS BIGINT) AS dports_in
FROM (
  SELECT src AS host, COUNT(DISTINCT port) AS dports_out, 0 AS dports_in
  FROM snapshot_pair_ports WHERE src <> dst GROUP BY src
  UNION ALL
  SELECT dst AS host, 0 AS dports_out, COUNT(DISTINCT port) AS dports_in
  FROM snapshot_pair_ports WHERE src <> dst GROUP BY dst
) t
GROUP BY host;

SELECT COUNT(*) AS talked_edges,
       CAST(COALESCE(SUM(CASE WHEN src <> dst THEN 1 ELSE 0 END), 0) AS BIGINT) AS edges,
       (SELECT COUNT(*) FROM snapshot_host_codes) AS hosts,
       CAST(COALESCE(SUM(CASE WHEN src <> dst THEN conns ELSE 0 END), 0) AS BIGINT)
         AS connections
FROM (
  SELECT src, dst, CAST(SUM(conns) AS BIGINT) AS conns
  FROM snapshot_pair_ports GROUP BY src, dst
) e
