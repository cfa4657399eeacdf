// After a bulk import (graphnet.store.bulk): TALKED property values CSV cannot carry (an empty
// list, a list of one empty string, a list holding the array delimiter), set as the Bolt path
// stores them. Rows: {id (the edge key), prop, value}.
UNWIND $rows AS row
MATCH ()-[r:TALKED {key: row.id}]->()
SET r[row.prop] = row.value
