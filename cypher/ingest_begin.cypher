// Open (or resume) the ledger entry of one file.
MERGE (i:Ingest {sha256: $sha256})
  ON CREATE SET i.started = datetime(), i.batches_done = 0, i.status = 'loading'
SET i.path = $path, i.format = $format, i.window_kind = $window_kind, i.plan = $plan,
    i.rows_accepted = $accepted, i.rows_rejected = $rejected, i.rows_skipped = $skipped,
    i.relative_ts = $relative_ts, i.rejects_file = $rejects_file,
    i.batches_total = $batches_total, i.windows = $windows
RETURN i.status AS status, i.batches_done AS batches_done, i.plan AS plan
