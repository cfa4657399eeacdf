// Store an analyst's feedback, linked to its finding when there is one.
CREATE (fb:Feedback {id: $id})
SET fb.verdict = $verdict, fb.scope = $scope, fb.src = $src, fb.dst = $dst, fb.port = $port,
    fb.service = $service, fb.why = $why, fb.window = $window, fb.finding = $finding,
    fb.hosts = $hosts, fb.weight = $weight, fb.created = datetime($created)
WITH fb
CALL (fb) {
  MATCH (f:Finding {id: fb.finding})
  MERGE (fb)-[:ON]->(f)
}
RETURN fb.id AS id
