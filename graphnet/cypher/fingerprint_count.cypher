// Number of stored fingerprints per level as of a window.
MATCH (f:Fingerprint {as_of: $as_of})
RETURN f.level AS level, count(f) AS n
ORDER BY level
