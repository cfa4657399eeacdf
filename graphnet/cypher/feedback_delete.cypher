// Remove one feedback.
MATCH (fb:Feedback {id: $id})
DETACH DELETE fb
RETURN count(*) AS deleted
