// Take the graph write lock for the rest of this transaction (serialises edge writers).
MATCH (m:GraphMeta {key: 'graph'})
SET m.locked_at = datetime()
RETURN m.window_kind AS window_kind
