// What the scheduler's window_close job ran for $window (steps as JSON), if anything.
MATCH (a:WindowAnalysis {window: $window})
RETURN a.status AS status, a.steps AS steps, toString(a.analysed) AS analysed, a.seq AS seq
