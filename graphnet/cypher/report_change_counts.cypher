// How many hosts and edges of $window are new against the $baseline windows, and how many
// edges of the $previous window are gone from $window.
CALL () {
  MATCH (h:Host)-[:TALKED {window: $window}]-()
  WITH DISTINCT h
  WHERE NOT EXISTS { MATCH (h)-[o:TALKED]-() WHERE o.window IN $baseline }
  RETURN count(h) AS new_hosts
}
CALL () {
  MATCH (a:Host)-[r:TALKED {window: $window}]->(b:Host)
  WHERE NOT EXISTS { MATCH (a)-[o:TALKED]->(b) WHERE o.window IN $baseline }
  RETURN count(r) AS new_edges
}
CALL () {
  OPTIONAL MATCH (a:Host)-[o:TALKED {window: $previous}]->(b:Host)
  WHERE NOT EXISTS { MATCH (a)-[:TALKED {window: $window}]->(b) }
  RETURN count(o) AS vanished_edges
}
RETURN new_hosts, new_edges, vanished_edges
