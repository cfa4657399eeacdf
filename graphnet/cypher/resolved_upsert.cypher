// (:Host)-[:RESOLVED]->(:Domain) of a window, set to what the archive's dns records say (absolute
// values: writing the same rows again gives the same graph). The client host is created when
// the graph does not hold it yet (a dns log ingested before its conn log).
UNWIND $rows AS row
MERGE (h:Host {id: row.src})
  ON CREATE SET h += row.host, h.first_seen = datetime({epochMillis: row.first_ms}),
                h.last_seen = datetime({epochMillis: row.last_ms})
MERGE (d:Domain {name: row.domain})
MERGE (h)-[r:RESOLVED {key: row.key}]->(d)
SET r.window = row.window, r.count = row.queries, r.names = row.names,
    r.nxdomain = row.nxdomain, r.qtypes = row.qtypes, r.rcodes = row.rcodes,
    r.sensors = row.sensors,
    r.first_seen = datetime({epochMillis: row.first_ms}),
    r.last_seen = datetime({epochMillis: row.last_ms})
