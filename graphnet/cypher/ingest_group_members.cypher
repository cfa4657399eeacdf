MATCH (i:Ingest {group: $id})
RETURN i.sha256 AS sha256, i.path AS path
ORDER BY i.path
