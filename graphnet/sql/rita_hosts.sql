-- The hosts of the window `conns`: every source and destination once, for the caller to say
-- which are internal (bound back as r_internal(h), before rita_pairs).
SELECT src AS h FROM conns
UNION
SELECT dst FROM conns
