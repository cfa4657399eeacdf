// Delete up to $limit relationships, or when none are left up to $limit nodes; repeat until it
// returns 0. Small transactions: a host can have millions of relationships.
CALL () {
  MATCH ()-[r]->()
  WITH r LIMIT $limit
  DELETE r
  RETURN count(*) AS rels
}
CALL (rels) {
  MATCH (n)
  WHERE rels = 0
  WITH n LIMIT $limit
  DETACH DELETE n
  RETURN count(*) AS nodes
}
RETURN rels + nodes AS deleted
