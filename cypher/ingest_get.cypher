MATCH (i:Ingest {sha256: $sha256})
RETURN i.status AS status, i.path AS path, i.plan AS plan, i.batches_done AS batches_done,
       i.batches_total AS batches_total, i.rows_accepted AS rows_accepted,
       i.rows_rejected AS rows_rejected, toString(i.finished) AS finished
