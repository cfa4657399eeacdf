// Within a batch's transaction: advance the group ledger from $batch to $batch + 1.
// Returns no row when that batch was already committed.
MATCH (g:IngestGroup {id: $id})
WHERE g.batches_done = $batch
SET g.batches_done = $batch + 1
RETURN g.batches_done AS batches_done
