// All batches written: the group and each of its files are done. A group loaded from the
// engine's stream of edges learns its number of batches here (null until then).
MATCH (g:IngestGroup {id: $id})
SET g.status = 'done', g.finished = datetime(),
    g.batches_total = coalesce($batches_total, g.batches_total)
WITH g
MATCH (i:Ingest {group: g.id})
SET i.status = 'done', i.finished = g.finished
RETURN count(i) AS files
