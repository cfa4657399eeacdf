// Per-host metrics of the complete snapshots of some windows: one row per window, its hosts
// and one list per metric (`snapshots.metrics.METRICS`), in the same order, null where a host
// lacks the metric. A few long lists decode many times faster, and in far less memory, than a
// row (or a map) per host; `snapshots.store.measures` makes the long table.
MATCH (s:Snapshot {status: 'done'})-[m:MEASURED]->(h:Host)
WHERE s.window IN $windows
WITH s.window AS window, collect(h.id) AS hosts,
     collect([m.out_degree, m.in_degree, m.peers, m.dports_out, m.dports_in, m.conns_out,
             m.conns_in, m.bytes_out, m.bytes_in, m.pagerank, m.betweenness, m.hub,
             m.authority, m.community, m.community_size]) AS rows
RETURN window, hosts,
       [r IN rows | r[0]] AS out_degree,
       [r IN rows | r[1]] AS in_degree,
       [r IN rows | r[2]] AS peers,
       [r IN rows | r[3]] AS dports_out,
       [r IN rows | r[4]] AS dports_in,
       [r IN rows | r[5]] AS conns_out,
       [r IN rows | r[6]] AS conns_in,
       [r IN rows | r[7]] AS bytes_out,
       [r IN rows | r[8]] AS bytes_in,
       [r IN rows | r[9]] AS pagerank,
       [r IN rows | r[10]] AS betweenness,
       [r IN rows | r[11]] AS hub,
       [r IN rows | r[12]] AS authority,
       [r IN rows | r[13]] AS community,
       [r IN rows | r[14]] AS community_size
