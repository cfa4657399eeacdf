// The TALKED edges (with their histograms) into $host in the $windows: what it usually serves.
MATCH (:Host)-[r:TALKED]->(h:Host {id: $host})
WHERE r.window IN $windows
RETURN r.window AS window, properties(r) AS props
