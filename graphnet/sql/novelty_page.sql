-- The combinations with $lo <= id < $hi (a batch to score).
SELECT id, src, dst, proto, service, dport, conn_state, history, orig_act, resp_act, hour,
       daytype, src_bytes_bin, dst_bytes_bin, src_pkts_bin, dst_pkts_bin, n, first_ts
FROM novelty_combos
WHERE id >= $lo AND id < $hi
ORDER BY id
