MATCH (i:Ingest {sha256: $sha256})
SET i.status = 'done', i.finished = datetime()
RETURN i.sha256 AS sha256
