// Take the write lock of one edge partition for the rest of this transaction: writers of the
// same partition (other ingests) wait, writers of other partitions go on.
MERGE (l:GraphMeta {key: $key})
SET l.locked_at = datetime()
