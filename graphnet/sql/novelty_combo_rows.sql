-- The combinations whose ids are in `novelty_ids` (to explain them).
SELECT c.id, c.src, c.dst, c.proto, c.service, c.dport, c.conn_state, c.history, c.orig_act,
       c.resp_act, c.hour, c.daytype, c.src_bytes_bin, c.dst_bytes_bin, c.src_pkts_bin,
       c.dst_pkts_bin, c.n, c.first_ts
FROM novelty_combos c
JOIN novelty_ids i ON i.id = c.id
ORDER BY c.id
