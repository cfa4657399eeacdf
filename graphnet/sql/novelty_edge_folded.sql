-- One folded component's edge histograms (`dport` or `history`; run novelty_edge_values first
-- in the same session): rows (edge, value, n) as novelty_edge_component.sql gives them, the
-- component folded to its $top most frequent values per edge (count descending, then value)
-- and the rest counted under 'other' (a real value 'other' and the folded rest are one value).
SELECT e.edge, f.value, f.n
FROM (
  SELECT win, src, dst, value, CAST(SUM(n) AS BIGINT) AS n
  FROM (
    SELECT win, src, dst, CASE WHEN r > $top THEN 'other' ELSE value END AS value, n
    FROM (
      SELECT win, src, dst, value, n,
             ROW_NUMBER() OVER (PARTITION BY win, src, dst ORDER BY n DESC, value) AS r
      FROM novelty_edge_hist
      WHERE component = $component
    ) ranked
  ) folded
  GROUP BY win, src, dst, value
) f
JOIN novelty_edges e ON e.win = f.win AND e.src = f.src AND e.dst = f.dst
ORDER BY e.edge, f.n DESC, f.value
