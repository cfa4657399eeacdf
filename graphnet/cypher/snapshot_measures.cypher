// Per-host metrics of the complete snapshots of some windows.
MATCH (s:Snapshot {status: 'done'})-[m:MEASURED]->(h:Host)
WHERE s.window IN $windows
RETURN s.window AS window, h.id AS host, properties(m) AS m
