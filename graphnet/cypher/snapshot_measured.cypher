// Write one batch of a window's per-host metrics (the snapshot was cleared before).
MATCH (s:Snapshot {window: $window})
UNWIND $rows AS row
MATCH (h:Host {id: row.host})
CREATE (s)-[m:MEASURED]->(h)
SET m = row.m
