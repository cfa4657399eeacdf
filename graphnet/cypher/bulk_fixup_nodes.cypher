// After a bulk import (graphnet.store.bulk): property values CSV cannot carry (an empty list,
// a list of one empty string, a list holding the array delimiter) of the ledger and meta
// nodes (few), set as the Bolt path stores them. Rows: {name (label), key, id, prop, value}.
UNWIND $rows AS row
MATCH (n:$(row.name))
WHERE n[row.key] = row.id
SET n[row.prop] = row.value
