-- Every connection of the window (bound as `conns`) with its combination's 0-1 score.
SELECT p.uid, s.score
FROM conns_parts p
JOIN novelty_combos w
  ON w.src = p.src AND w.dst = p.dst AND w.proto = p.proto AND w.service = p.service
       AND w.dport = p.dport AND w.conn_state = p.conn_state AND w.history = p.history
       AND w.orig_act = p.orig_act AND w.resp_act = p.resp_act AND w.hour = p.hour
       AND w.daytype = p.daytype AND w.src_bytes_bin = p.src_bytes_bin
       AND w.dst_bytes_bin = p.dst_bytes_bin AND w.src_pkts_bin = p.src_pkts_bin
       AND w.dst_pkts_bin = p.dst_pkts_bin
JOIN novelty_scored s ON s.id = w.id
