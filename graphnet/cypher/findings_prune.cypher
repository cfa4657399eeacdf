// Remove findings of a kind and window that a re-run no longer reports (unless reviewed).
MATCH (f:Finding {kind: $kind, window: $window})
WHERE NOT f.id IN $keep AND f.status = 'new'
DETACH DELETE f
