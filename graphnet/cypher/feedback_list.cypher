// All feedback, oldest first (properties() avoids unknown-key notices on a fresh graph).
MATCH (fb:Feedback)
RETURN properties(fb) AS props
ORDER BY fb.created, fb.id
