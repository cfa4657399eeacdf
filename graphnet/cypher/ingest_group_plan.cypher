// The plan an interrupted group of files was begun with (how its batches are cut).
MATCH (g:IngestGroup {id: $id})
RETURN g.plan AS plan
