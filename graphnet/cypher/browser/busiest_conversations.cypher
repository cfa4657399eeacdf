// Busiest conversations of a window
// Shows: the host pairs with the most connections in $window, with their services, ports and connection states.
// Parameters: :param window => '2024-W11'
MATCH (a:Host)-[r:TALKED {window: $window}]->(b:Host)
RETURN a.id AS source, b.id AS destination, r.conns AS connections,
       r.src_bytes + r.dst_bytes AS bytes, r.services AS services, r.ports AS ports,
       r.states AS conn_states
ORDER BY connections DESC
LIMIT 50
