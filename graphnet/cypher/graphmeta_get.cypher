MATCH (m:GraphMeta {key: 'graph'})
RETURN m.window_kind AS window_kind
