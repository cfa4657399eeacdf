// The TALKED edges (with their histograms) out of $host in the $windows: what it usually does.
MATCH (h:Host {id: $host})-[r:TALKED]->(:Host)
WHERE r.window IN $windows
RETURN r.window AS window, properties(r) AS props
