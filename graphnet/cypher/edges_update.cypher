// Edges that already existed, with their merged totals.
UNWIND $rows AS row
MATCH ()-[r:TALKED {key: row.key}]->()
SET r += row.props,
    r.first_seen = datetime({epochMillis: row.first_ms}),
    r.last_seen = datetime({epochMillis: row.last_ms})
