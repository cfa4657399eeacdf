// The stored fingerprint of one pair as of a window (reports, tests).
MATCH (a:Host {id: $src})-[:HAS_FINGERPRINT]->(f:Fingerprint {level: 'pair', as_of: $as_of})-[:TO]->(b:Host {id: $dst})
RETURN properties(f) AS props
