// Ledger state of the given file contents.
UNWIND $shas AS sha
MATCH (i:Ingest {sha256: sha})
RETURN sha AS sha256, i.status AS status, i.group AS group, i.path AS path,
       toString(i.finished) AS finished
