// Whether the graph holds no hosts and no ingested files (a first load may use the bulk import).
RETURN NOT EXISTS { MATCH (:Host) } AND NOT EXISTS { MATCH (:Ingest) } AS empty
