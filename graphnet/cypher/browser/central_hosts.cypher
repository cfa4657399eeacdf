// Most central hosts of a window
// Shows: the 25 hosts with the highest PageRank in the snapshot of $window and the conversations among them.
// Parameters: :param window => '2024-W11'
MATCH (s:Snapshot {window: $window, status: 'done'})-[m:MEASURED]->(h:Host)
WITH h ORDER BY m.pagerank DESC, h.id LIMIT 25
WITH collect(h) AS top
UNWIND top AS a
OPTIONAL MATCH p = (a)-[r:TALKED {window: $window}]->(b:Host)
WHERE b IN top
RETURN a, p
