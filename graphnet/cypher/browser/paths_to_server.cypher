// Paths to a server
// Shows: chains of up to three conversations in $window that end at the server $host (who reaches it, directly or through other hosts).
// Parameters: :param host => '192.168.10.5'
// Parameters: :param window => '2024-W11'
MATCH p = (src:Host)(()-[r:TALKED WHERE r.window = $window]->()){1,3}(server:Host {id: $host})
WHERE src <> server
RETURN p
LIMIT 100
