// Benign analyst verdicts (graphnet.feedback) that the LDA detector re-injects into training
// x DUPFACTOR; all properties are returned (scope, src, dst, port, service, window, ...).
MATCH (f:Feedback {verdict: 'benign'})
RETURN properties(f) AS feedback
ORDER BY coalesce(f.id, '')
