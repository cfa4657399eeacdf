// The stored fingerprint set as of a window: what it was built from, and whether complete.
MATCH (s:FingerprintSet {as_of: $as_of})
RETURN properties(s) AS props
