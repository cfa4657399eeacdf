// Migration `edge_keys_v2` (graphnet.store.MIGRATIONS), applied once per graph: edge keys of the
// older format "src|dst|window", ambiguous when a host id holds "|", become
// "<size(src)>:src|<size(dst)>:dst|window", as graphnet.accumulate.edge_key builds them (sizes
// in characters). Only keys that differ are written, $rows edges per transaction: safe to run
// again, and a killed run is completed by the next. Runs in an auto-commit transaction.
MATCH (a)-[r:TALKED]->(b)
CALL (a, b, r) {
  WITH toString(size(a.id)) + ':' + a.id + '|' + toString(size(b.id)) + ':' + b.id + '|'
       + r.window AS key
  WHERE r.key IS NOT NULL AND r.key <> key
  SET r.key = key
} IN TRANSACTIONS OF $rows ROWS
