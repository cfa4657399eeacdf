-- The edge histograms of the novelty fingerprints, as ingest kept them on the TALKED edges:
-- per edge (win, src, dst) of the bound `conns` and component, how many connections had each
-- value, with `dport` and `history` folded to their $top_ports / $top_history most frequent
-- values per edge (count descending, then value) and the rest counted under 'other' (a real
-- value 'other' and the folded rest are one value). Prepares the tables the fingerprints read
-- in the same session: `novelty_edges` (one row per edge, see novelty_edges.sql) and
-- `novelty_edge_rows` (per edge row, component and value, folded), whose rows one component at
-- a time novelty_edge_component.sql gives; the result is the number of edges.
--
-- Every statement is a plain grouping, join or insert, which the engine spills when it runs
-- short of memory. The only window function (the rank that folds) sees just the values of
-- the edges that have more than the kept number: ranking every edge's values at once (a
-- window over all edges) ran out of the engine's memory at 32 M connections a week.
CREATE TEMP TABLE novelty_edge_combos AS
SELECT win, src, dst, proto, service, dport, conn_state, history, orig_act, resp_act, hour,
       daytype, src_bytes_bin, dst_bytes_bin, src_pkts_bin, dst_pkts_bin, COUNT(*) AS n,
       MIN(ts) AS first_ts, MAX(ts) AS last_ts
FROM conns_parts
GROUP BY win, src, dst, proto, service, dport, conn_state, history, orig_act, resp_act, hour,
         daytype, src_bytes_bin, dst_bytes_bin, src_pkts_bin, dst_pkts_bin;
-- one aggregation per component, each into the same table: a single aggregation over the
-- thirteen components at once (UNION ALL) ran out of the engine's memory at 8 M connections
-- a week, where these spill
CREATE TEMP TABLE novelty_edge_hist AS
SELECT win, src, dst, 'proto' AS component, proto AS value, CAST(SUM(n) AS BIGINT) AS n
FROM novelty_edge_combos GROUP BY win, src, dst, proto;
INSERT INTO novelty_edge_hist
SELECT win, src, dst, 'service', service, CAST(SUM(n) AS BIGINT) FROM novelty_edge_combos
GROUP BY win, src, dst, service;
-- dport and history before folding, in a table of their own
CREATE TEMP TABLE novelty_edge_unfolded AS
SELECT win, src, dst, 'dport' AS component, dport AS value, CAST(SUM(n) AS BIGINT) AS n
FROM novelty_edge_combos GROUP BY win, src, dst, dport;
INSERT INTO novelty_edge_hist
SELECT win, src, dst, 'conn_state', conn_state, CAST(SUM(n) AS BIGINT) FROM novelty_edge_combos
GROUP BY win, src, dst, conn_state;
INSERT INTO novelty_edge_unfolded
SELECT win, src, dst, 'history', history, CAST(SUM(n) AS BIGINT) FROM novelty_edge_combos
GROUP BY win, src, dst, history;
INSERT INTO novelty_edge_hist
SELECT win, src, dst, 'orig_act', orig_act, CAST(SUM(n) AS BIGINT) FROM novelty_edge_combos
GROUP BY win, src, dst, orig_act;
INSERT INTO novelty_edge_hist
SELECT win, src, dst, 'resp_act', resp_act, CAST(SUM(n) AS BIGINT) FROM novelty_edge_combos
GROUP BY win, src, dst, resp_act;
INSERT INTO novelty_edge_hist
SELECT win, src, dst, 'hour', hour, CAST(SUM(n) AS BIGINT) FROM novelty_edge_combos
GROUP BY win, src, dst, hour;
INSERT INTO novelty_edge_hist
SELECT win, src, dst, 'daytype', daytype, CAST(SUM(n) AS BIGINT) FROM novelty_edge_combos
GROUP BY win, src, dst, daytype;
INSERT INTO novelty_edge_hist
SELECT win, src, dst, 'src_bytes_bin', src_bytes_bin, CAST(SUM(n) AS BIGINT) FROM novelty_edge_combos
GROUP BY win, src, dst, src_bytes_bin;
INSERT INTO novelty_edge_hist
SELECT win, src, dst, 'dst_bytes_bin', dst_bytes_bin, CAST(SUM(n) AS BIGINT) FROM novelty_edge_combos
GROUP BY win, src, dst, dst_bytes_bin;
INSERT INTO novelty_edge_hist
SELECT win, src, dst, 'src_pkts_bin', src_pkts_bin, CAST(SUM(n) AS BIGINT) FROM novelty_edge_combos
GROUP BY win, src, dst, src_pkts_bin;
INSERT INTO novelty_edge_hist
SELECT win, src, dst, 'dst_pkts_bin', dst_pkts_bin, CAST(SUM(n) AS BIGINT) FROM novelty_edge_combos
GROUP BY win, src, dst, dst_pkts_bin;
-- per edge, the distinct dport and history values before folding
CREATE TEMP TABLE novelty_edge_distinct AS
SELECT win, src, dst,
       CAST(SUM(CASE WHEN component = 'dport' THEN 1 ELSE 0 END) AS BIGINT) AS dport_distinct,
       CAST(SUM(CASE WHEN component = 'history' THEN 1 ELSE 0 END) AS BIGINT) AS history_distinct
FROM novelty_edge_unfolded
GROUP BY win, src, dst;
-- the values of an edge with no more of them than are kept go in as they are
INSERT INTO novelty_edge_hist
SELECT u.win, u.src, u.dst, u.component, u.value, u.n
FROM novelty_edge_unfolded u
JOIN novelty_edge_distinct d ON d.win = u.win AND d.src = u.src AND d.dst = u.dst
WHERE (u.component = 'dport' AND d.dport_distinct <= $top_ports)
   OR (u.component = 'history' AND d.history_distinct <= $top_history);
-- the others are ranked within their edge and folded
INSERT INTO novelty_edge_hist
SELECT win, src, dst, component, CASE WHEN r > keep THEN 'other' ELSE value END,
       CAST(SUM(n) AS BIGINT)
FROM (
  SELECT win, src, dst, component, value, n, keep,
         ROW_NUMBER() OVER (PARTITION BY win, src, dst, component ORDER BY n DESC, value) AS r
  FROM (
    SELECT u.win, u.src, u.dst, u.component, u.value, u.n,
           CASE WHEN u.component = 'dport' THEN $top_ports ELSE $top_history END AS keep
    FROM novelty_edge_unfolded u
    JOIN novelty_edge_distinct d ON d.win = u.win AND d.src = u.src AND d.dst = u.dst
    WHERE (u.component = 'dport' AND d.dport_distinct > $top_ports)
       OR (u.component = 'history' AND d.history_distinct > $top_history)
  ) wide
) ranked
GROUP BY win, src, dst, component, CASE WHEN r > keep THEN 'other' ELSE value END;
DROP TABLE novelty_edge_unfolded;
-- per edge: its row, connections, first and last connection in epoch milliseconds (floored,
-- as the edges kept them) and the distinct dport and history values before folding
CREATE TEMP TABLE novelty_edges AS
SELECT ROW_NUMBER() OVER (ORDER BY e.win, e.src, e.dst) - 1 AS edge, e.win, e.src, e.dst,
       e.conns, e.first_ms, e.last_ms, d.dport_distinct, d.history_distinct
FROM (
  SELECT win, src, dst, CAST(SUM(n) AS BIGINT) AS conns, FLOOR(MIN(first_ts) * 1000) AS first_ms,
         FLOOR(MAX(last_ts) * 1000) AS last_ms
  FROM novelty_edge_combos
  GROUP BY win, src, dst
) e
JOIN novelty_edge_distinct d ON d.win = e.win AND d.src = e.src AND d.dst = e.dst;
DROP TABLE novelty_edge_distinct;
DROP TABLE novelty_edge_combos;
-- every histogram row with its edge's row: a component's rows are then read with a filter and
-- a sort (novelty_edge_component.sql), which spill, while the engine is kept lean, instead of
-- joining the edges again for each of the thirteen
CREATE TEMP TABLE novelty_edge_rows AS
SELECT e.edge, f.component, f.value, f.n
FROM novelty_edge_hist f
JOIN novelty_edges e ON e.win = f.win AND e.src = f.src AND e.dst = f.dst;
DROP TABLE novelty_edge_hist;
SELECT COUNT(*) AS edges FROM novelty_edges
