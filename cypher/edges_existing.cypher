// Current aggregates of the given edges (by key "src|dst|window"), for merging a new file's counts.
UNWIND $keys AS key
MATCH ()-[r:TALKED {key: key}]->()
RETURN key, r.first_seen.epochMillis AS first_ms, r.last_seen.epochMillis AS last_ms,
       properties(r) AS props
