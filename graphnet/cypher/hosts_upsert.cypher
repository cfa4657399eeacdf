// Create hosts and widen their first/last seen (min/max: safe to repeat).
UNWIND $rows AS row
MERGE (h:Host {id: row.id})
  ON CREATE SET h += row.props
WITH h, datetime({epochMillis: row.first_ms}) AS first, datetime({epochMillis: row.last_ms}) AS last
SET h.first_seen = CASE WHEN h.first_seen IS NULL OR first < h.first_seen THEN first ELSE h.first_seen END,
    h.last_seen = CASE WHEN h.last_seen IS NULL OR last > h.last_seen THEN last ELSE h.last_seen END
