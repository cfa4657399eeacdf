// Current aggregates of the given (src, dst, window) edges, for merging a new file's counts.
UNWIND $keys AS k
MATCH (a:Host {id: k.src})-[r:TALKED {window: k.window}]->(b:Host {id: k.dst})
RETURN k.src AS src, k.dst AS dst, k.window AS window,
       r.first_seen.epochMillis AS first_ms, r.last_seen.epochMillis AS last_ms,
       properties(r) AS props
