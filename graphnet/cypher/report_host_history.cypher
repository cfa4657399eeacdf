// Snapshot metrics of the $hosts in the $windows (complete snapshots only).
MATCH (s:Snapshot)-[m:MEASURED]->(h:Host)
WHERE h.id IN $hosts AND s.window IN $windows AND s.status = 'done'
RETURN h.id AS host, s.window AS window, properties(m) AS metrics
ORDER BY host, window
