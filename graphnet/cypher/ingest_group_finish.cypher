// All batches written: the group and each of its files are done.
MATCH (g:IngestGroup {id: $id})
SET g.status = 'done', g.finished = datetime()
WITH g
MATCH (i:Ingest {group: g.id})
SET i.status = 'done', i.finished = g.finished
RETURN count(i) AS files
