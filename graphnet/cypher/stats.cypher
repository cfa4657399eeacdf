// Totals of the graph: `graphnet stats`.
CALL () { MATCH (h:Host) RETURN count(h) AS hosts }
CALL () {
  MATCH ()-[r:TALKED]->()
  RETURN count(r) AS edges, coalesce(sum(r.conns), 0) AS connections,
         count(DISTINCT r.window) AS windows
}
CALL () { MATCH (i:Ingest {status: 'done'}) RETURN count(i) AS files }
CALL () { OPTIONAL MATCH (m:GraphMeta {key: 'graph'}) RETURN m.window_kind AS window_kind }
RETURN hosts, edges, connections, windows, files, window_kind
