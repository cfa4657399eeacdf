-- The edges of `novelty_edge_values` (run it first in the same session), one row per edge in
-- edge order: window, ends, connections, first / last connection (epoch ms) and the distinct
-- dport and history values before folding.
SELECT edge, win, src, dst, conns, first_ms, last_ms, dport_distinct, history_distinct
FROM novelty_edges
ORDER BY edge
