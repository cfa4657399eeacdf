-- The distinct combinations (src, dst, the 13 components) of the window bound as `conns`: a
-- connection's novelty depends on nothing else, so each combination is scored once. Creates
-- `novelty_combos` (id = 0, 1, ... in (src, dst, components) order; n connections; the first
-- one's ts) and returns how many combinations and connections there are.
CREATE TEMP TABLE novelty_combos AS
SELECT ROW_NUMBER() OVER (
         ORDER BY src, dst, proto, service, dport, conn_state, history, orig_act, resp_act,
                  hour, daytype, src_bytes_bin, dst_bytes_bin, src_pkts_bin, dst_pkts_bin
       ) - 1 AS id,
       src, dst, proto, service, dport, conn_state, history, orig_act, resp_act, hour, daytype,
       src_bytes_bin, dst_bytes_bin, src_pkts_bin, dst_pkts_bin, n, first_ts
FROM (
  SELECT src, dst, proto, service, dport, conn_state, history, orig_act, resp_act, hour,
         daytype, src_bytes_bin, dst_bytes_bin, src_pkts_bin, dst_pkts_bin, COUNT(*) AS n,
         MIN(ts) AS first_ts
  FROM conns_parts
  GROUP BY src, dst, proto, service, dport, conn_state, history, orig_act, resp_act, hour,
           daytype, src_bytes_bin, dst_bytes_bin, src_pkts_bin, dst_pkts_bin
) g;
SELECT COUNT(*) AS combos, CAST(COALESCE(SUM(n), 0) AS BIGINT) AS connections FROM novelty_combos
