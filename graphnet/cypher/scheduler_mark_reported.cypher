// Record that the report of a window's analysis number $seq was written to $path.
MATCH (a:WindowAnalysis {window: $window})
SET a.reported_seq = $seq, a.report = $path, a.reported = datetime()
RETURN a.window AS window
