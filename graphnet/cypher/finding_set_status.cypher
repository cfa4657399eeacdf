MATCH (f:Finding {id: $id})
SET f.status = $status, f.reviewed = datetime()
RETURN f.id AS id
