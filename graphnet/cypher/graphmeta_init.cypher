// Record the window kind of the graph the first time; return what is recorded.
MERGE (m:GraphMeta {key: 'graph'})
  ON CREATE SET m.window_kind = $window_kind, m.created = datetime()
RETURN m.window_kind AS window_kind
