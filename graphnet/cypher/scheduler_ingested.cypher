// Which of the given file contents (sha256) the graph holds a finished ingest of.
UNWIND $shas AS sha
MATCH (i:Ingest {sha256: sha})
WHERE i.status = 'done'
RETURN i.sha256 AS sha256
