MATCH (i:Ingest {sha256: $sha256})
OPTIONAL MATCH (g:IngestGroup {id: i.group})
RETURN i.status AS status, i.path AS path, i.group AS group, g.batches_done AS batches_done,
       g.batches_total AS batches_total, i.rows_accepted AS rows_accepted,
       i.rows_rejected AS rows_rejected, toString(i.finished) AS finished
