// Record that a window was analysed (with the size it had and each step's outcome as JSON).
// `attempts` counts consecutive failed analyses of the same data; `seq` grows with each analysis.
MERGE (a:WindowAnalysis {window: $window})
  ON CREATE SET a.created = datetime()
WITH a,
     CASE WHEN a.status = 'failed' AND a.connections = $connections AND a.edges = $edges
          THEN coalesce(a.attempts, 0) + 1 ELSE 1 END AS attempts
SET a.attempts = attempts, a.connections = $connections, a.edges = $edges,
    a.status = $status, a.steps = $steps, a.analysed = datetime(),
    a.seq = coalesce(a.seq, 0) + 1
RETURN a.window AS window, a.seq AS seq, a.attempts AS attempts
