// One host's metrics in every complete snapshot, oldest window first.
MATCH (s:Snapshot {status: 'done'})-[m:MEASURED]->(h:Host {id: $host})
RETURN s.window AS window, properties(m) AS m
ORDER BY window
