// Long connection between two hosts
// Shows: the conversation $host -> $peer in $window (connections, summed duration, bytes, ports, services, connection states), the windows the pair talked before, and the long_connection finding about the pair.
// Parameters: :param host => '192.168.10.5'
// Parameters: :param peer => '203.0.113.9'
// Parameters: :param window => '2024-W11'
MATCH (a:Host {id: $host})-[r:TALKED {window: $window}]->(b:Host {id: $peer})
OPTIONAL MATCH (a)-[o:TALKED]->(b) WHERE o.window < $window
OPTIONAL MATCH (f:Finding {kind: 'long_connection', window: $window})-[:ABOUT]->(a)
WHERE EXISTS { MATCH (f)-[:ABOUT]->(b) }
RETURN a, r, b, r.conns AS connections, r.duration AS seconds, r.src_bytes + r.dst_bytes AS bytes,
       r.ports AS ports,
       r.services AS services, r.states AS conn_states,
       collect(DISTINCT o.window) AS earlier_windows, collect(DISTINCT f) AS findings
