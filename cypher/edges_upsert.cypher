// Write merged edge aggregates (totals already include what the edge held before).
UNWIND $rows AS row
MERGE (a:Host {id: row.src})
  ON CREATE SET a += row.src_host
MERGE (b:Host {id: row.dst})
  ON CREATE SET b += row.dst_host
WITH a, b, row,
     datetime({epochMillis: row.first_ms}) AS first,
     datetime({epochMillis: row.last_ms}) AS last
SET a.first_seen = CASE WHEN a.first_seen IS NULL OR first < a.first_seen THEN first ELSE a.first_seen END,
    a.last_seen = CASE WHEN a.last_seen IS NULL OR last > a.last_seen THEN last ELSE a.last_seen END,
    b.first_seen = CASE WHEN b.first_seen IS NULL OR first < b.first_seen THEN first ELSE b.first_seen END,
    b.last_seen = CASE WHEN b.last_seen IS NULL OR last > b.last_seen THEN last ELSE b.last_seen END
MERGE (a)-[r:TALKED {window: row.window}]->(b)
SET r += row.props, r.first_seen = first, r.last_seen = last
