-- One component's edge histograms (run novelty_edge_values first in the same session): rows
-- (edge, value, n), edge being the row of `novelty_edges`, by edge, count descending, value.
-- One component at a time, so that the caller turns each into numbers before the next (the
-- values of all thirteen at once grow with edges x values); `dport` and `history` as
-- novelty_edge_values folded them.
SELECT e.edge, f.value, f.n
FROM novelty_edge_hist f
JOIN novelty_edges e ON e.win = f.win AND e.src = f.src AND e.dst = f.dst
WHERE f.component = $component
ORDER BY e.edge, f.n DESC, f.value
