// First-time behaviour of a host
// Shows: the conversations $host originated in $window, those with a peer it never talked to in an earlier window first (first_time), with their ports, services and connection states, next to the first_behaviour finding about it.
// Parameters: :param host => '192.168.10.5'
// Parameters: :param window => '2024-W11'
MATCH (h:Host {id: $host})
OPTIONAL MATCH p = (h)-[r:TALKED {window: $window}]->(peer:Host)
WITH h, p, r, peer,
     NOT EXISTS { MATCH (h)-[o:TALKED]->(peer) WHERE o.window < $window } AS first_time
ORDER BY first_time DESC, r.conns DESC
LIMIT 100
OPTIONAL MATCH (f:Finding {kind: 'first_behaviour', window: $window})-[:ABOUT]->(h)
RETURN p, first_time, r.ports AS ports, r.services AS services, r.states AS conn_states, f
