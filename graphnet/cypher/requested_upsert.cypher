// (:Host)-[:REQUESTED]->(:Host) of a window: the http requests of a client to a server, as short
// summaries, set to what the archive's http records say (absolute values: safe to repeat).
UNWIND $rows AS row
MERGE (a:Host {id: row.src})
  ON CREATE SET a += row.src_host, a.first_seen = datetime({epochMillis: row.first_ms}),
                a.last_seen = datetime({epochMillis: row.last_ms})
MERGE (b:Host {id: row.dst})
  ON CREATE SET b += row.dst_host, b.first_seen = datetime({epochMillis: row.first_ms}),
                b.last_seen = datetime({epochMillis: row.last_ms})
MERGE (a)-[r:REQUESTED {key: row.key}]->(b)
SET r.window = row.window, r.requests = row.requests, r.hosts = row.hosts,
    r.hosts_distinct = row.hosts_distinct, r.user_agents = row.user_agents,
    r.agents_distinct = row.agents_distinct, r.uris_distinct = row.uris_distinct,
    r.methods = row.methods, r.statuses = row.statuses, r.sensors = row.sensors,
    r.request_bytes = row.request_bytes, r.response_bytes = row.response_bytes,
    r.first_seen = datetime({epochMillis: row.first_ms}),
    r.last_seen = datetime({epochMillis: row.last_ms})
