// Mark the graph as made by `graphnet demo`.
MERGE (m:GraphMeta {key: 'graph'})
  ON CREATE SET m.window_kind = 'week', m.created = datetime()
SET m.demo = true
RETURN m.demo AS demo
