// At the end of a batch's transaction: record batch $batch of the group as committed.
// The first SET takes the group's write lock, so `done` is read after any concurrent claim;
// no row comes back when another run committed this batch already (the caller rolls back).
MATCH (g:IngestGroup {id: $id})
SET g.claimed_at = datetime()
WITH g
WHERE NOT $batch IN g.done
SET g.done = g.done + $batch
SET g.batches_done = size(g.done)
RETURN g.batches_done AS batches_done
