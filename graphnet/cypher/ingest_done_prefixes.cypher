// Finished ingests whose content hash starts with one of $prefixes (the connection archive
// names a file's Parquet files by the first 16 hex digits of its hash): what the archive may
// adopt. The uniqueness constraint's index on Ingest.sha256 answers STARTS WITH.
UNWIND $prefixes AS prefix
MATCH (i:Ingest)
WHERE i.sha256 STARTS WITH prefix AND i.status = 'done'
RETURN prefix, i.sha256 AS sha256, i.windows AS windows
