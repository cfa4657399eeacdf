// Migrations already applied to this graph (graphnet.store.MIGRATIONS).
OPTIONAL MATCH (m:GraphMeta {key: 'migrations'})
RETURN coalesce(m.done, []) AS done
