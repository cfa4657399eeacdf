// Remove up to $limit MEASURED relationships of a window's snapshot; repeat until 0.
MATCH (:Snapshot {window: $window})-[m:MEASURED]->()
WITH m LIMIT $limit
DELETE m
RETURN count(*) AS deleted
