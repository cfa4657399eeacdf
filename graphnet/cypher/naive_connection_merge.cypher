// Baseline for bench/bench_ingest.py only: the naive way, one MERGE per connection record.
MERGE (a:Host {id: $src})
MERGE (b:Host {id: $dst})
MERGE (a)-[r:TALKED {window: $window}]->(b)
  ON CREATE SET r.conns = 0, r.src_bytes = 0.0
SET r.conns = r.conns + 1, r.src_bytes = r.src_bytes + $src_bytes
