// Current aggregates of the given edges (by key "src|dst|window"), for merging a new file's counts.
// Datetimes come back as epoch milliseconds (cheap to transfer), not inside the property map.
UNWIND $keys AS key
MATCH ()-[r:TALKED {key: key}]->()
RETURN key, r.first_seen.epochMillis AS first_ms, r.last_seen.epochMillis AS last_ms,
       r {.*, first_seen: null, last_seen: null} AS props
