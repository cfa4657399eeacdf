-- The edge histograms of the novelty fingerprints, as ingest kept them on the TALKED edges:
-- per edge (win, src, dst) of the bound `conns` and component, how many connections had each
-- value, with `dport` and `history` folded to their $top_ports / $top_history most frequent
-- values per edge (count descending, then value) and the rest counted under 'other' (a real
-- value 'other' and the folded rest are one value). Prepares the tables the fingerprints read
-- in the same session: `novelty_edges` (one row per edge, see novelty_edges.sql) and
-- `novelty_edge_hist` (per edge, component and value, unfolded), whose rows one component at
-- a time novelty_edge_component.sql gives, folded; the result is the number of edges.
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
INSERT INTO novelty_edge_hist
SELECT win, src, dst, 'dport', dport, CAST(SUM(n) AS BIGINT) FROM novelty_edge_combos
GROUP BY win, src, dst, dport;
INSERT INTO novelty_edge_hist
SELECT win, src, dst, 'conn_state', conn_state, CAST(SUM(n) AS BIGINT) FROM novelty_edge_combos
GROUP BY win, src, dst, conn_state;
INSERT INTO novelty_edge_hist
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
JOIN (
  SELECT win, src, dst,
         CAST(SUM(CASE WHEN component = 'dport' THEN 1 ELSE 0 END) AS BIGINT)
           AS dport_distinct,
         CAST(SUM(CASE WHEN component = 'history' THEN 1 ELSE 0 END) AS BIGINT)
           AS history_distinct
  FROM novelty_edge_hist
  GROUP BY win, src, dst
) d ON d.win = e.win AND d.src = e.src AND d.dst = e.dst;
SELECT COUNT(*) AS edges FROM novelty_edges
