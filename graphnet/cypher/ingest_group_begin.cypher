// Open (or find again) the ledger of a group of files, and mark its files as loading.
// `done` lists the batches committed so far (they commit in any order, several at a time).
MERGE (g:IngestGroup {id: $id})
  ON CREATE SET g.started = datetime(), g.batches_done = 0, g.done = [], g.status = 'loading',
                g.plan = $plan, g.batches_total = $batches_total
WITH g
CALL (g) {
  UNWIND $files AS f
  MERGE (i:Ingest {sha256: f.sha256})
    ON CREATE SET i.started = datetime()
  SET i += f.props, i.group = g.id, i.status = 'loading'
}
RETURN g.batches_done AS batches_done, g.done AS done, g.plan AS plan
