// Record that migration $name was applied to this graph (safe to repeat).
MERGE (m:GraphMeta {key: 'migrations'})
SET m.done = [x IN coalesce(m.done, []) WHERE x <> $name] + [$name],
    m.updated = datetime()
