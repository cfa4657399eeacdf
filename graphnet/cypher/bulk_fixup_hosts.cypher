// After a bulk import (graphnet.store.bulk): host property values CSV cannot carry (an empty
// list, a list of one empty string, a list holding the array delimiter), set as the Bolt path
// stores them. Rows: {id, prop, value}.
UNWIND $rows AS row
MATCH (h:Host {id: row.id})
SET h[row.prop] = row.value
