// Windows present in the graph with their size, oldest first.
MATCH ()-[r:TALKED]->()
RETURN r.window AS window, count(r) AS edges, sum(r.conns) AS connections
ORDER BY window
