// Start (re)writing the fingerprints as of a window.
MERGE (s:FingerprintSet {as_of: $as_of})
SET s.signature = $signature, s.complete = false, s.started = datetime()
RETURN s.as_of AS as_of
