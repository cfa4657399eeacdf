// Whether the graph was made by `graphnet demo` (which may then replace it).
MATCH (m:GraphMeta {key: 'graph'})
RETURN coalesce(m.demo, false) AS demo
