-- One component's edge histograms (run novelty_edge_values first in the same session): rows
-- (edge, value, n), edge being the row of `novelty_edges`, by edge, count descending, value.
-- One component at a time, so that the caller turns each into numbers before the next (the
-- values of all thirteen at once grow with edges x values); `dport` and `history` as
-- novelty_edge_values folded them.
SELECT edge, value, n
FROM novelty_edge_rows
WHERE component = $component
ORDER BY edge, n DESC, value
