// The TALKED edges (with their histograms) of one directed pair in the $windows.
MATCH (a:Host {id: $src})-[r:TALKED]->(b:Host {id: $dst})
WHERE r.window IN $windows
RETURN r.window AS window, properties(r) AS props
ORDER BY window
