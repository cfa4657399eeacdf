// New edges of a batch (their hosts exist already).
UNWIND $rows AS row
MATCH (a:Host {id: row.src})
MATCH (b:Host {id: row.dst})
CREATE (a)-[r:TALKED {window: row.window, key: row.key}]->(b)
SET r += row.props,
    r.first_seen = datetime({epochMillis: row.first_ms}),
    r.last_seen = datetime({epochMillis: row.last_ms})
