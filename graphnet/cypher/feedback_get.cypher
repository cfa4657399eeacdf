// One feedback by id.
MATCH (fb:Feedback {id: $id})
RETURN properties(fb) AS props
