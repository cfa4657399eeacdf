// Mark the fingerprints as of a window complete.
MATCH (s:FingerprintSet {as_of: $as_of})
SET s.signature = $signature, s.complete = true, s.windows = $windows, s.pairs = $pairs,
    s.conns = $conns, s.feedback = $feedback, s.built = datetime()
RETURN s.as_of AS as_of
