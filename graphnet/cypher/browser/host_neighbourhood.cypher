// Host neighbourhood in a window
// Shows: every host that $host talked with in $window, both directions, heaviest conversations first (edge caption: connections).
// Parameters: :param host => '192.168.10.5'
// Parameters: :param window => '2024-W11'
MATCH p = (h:Host {id: $host})-[r:TALKED {window: $window}]-(peer:Host)
RETURN p
ORDER BY r.conns DESC
LIMIT 300
