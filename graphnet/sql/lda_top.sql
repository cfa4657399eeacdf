-- The $n highest-scoring connections of the scored window (after lda_summary), highest first
-- (then the earliest): what `graphnet lda` shows.
SELECT uid, ts, src, dst, sport, dport, proto, service, score, p, p_src, p_dst, src_word,
       dst_word, novelty, repeats, expected, hour, bytes_bin, pkts_bin
FROM lda_scored
ORDER BY score DESC, ts, line, uid
LIMIT $n
