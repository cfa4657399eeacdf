// Delete up to $limit fingerprints as of a window; repeat until it returns 0.
MATCH (f:Fingerprint {as_of: $as_of})
WITH f LIMIT $limit
DETACH DELETE f
RETURN count(*) AS deleted
