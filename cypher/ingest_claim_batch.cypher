// Within a batch's transaction: advance the ledger from $batch to $batch + 1.
// Returns no row when that batch was already committed.
MATCH (i:Ingest {sha256: $sha256})
WHERE i.batches_done = $batch
SET i.batches_done = $batch + 1
RETURN i.batches_done AS batches_done
