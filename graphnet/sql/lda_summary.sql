-- Every connection of the scored window with its probability (after lda_window_pairs), kept
-- as `lda_scored`: each end's (host, word) score comes from the lookup `lda_pair_scores` (id,
-- p, s = -log10 P, code, lam, cnt) by pair id; the connection keeps its worse end (lower P;
-- the originator on a tie). One join per statement, so that each spills on its own. Returns
-- the alerts: the (src, dst) pairs with a connection below $threshold, and how many
-- connections those are.
CREATE OR REPLACE TEMP TABLE lda_pair_p AS
SELECT p.host, p.word, s.p, s.s, s.code, s.lam, s.cnt
FROM lda_pairs p
JOIN lda_pair_scores s ON s.id = p.id;

CREATE OR REPLACE TEMP TABLE lda_half AS
SELECT w.uid, w.ts, w.line, w.src, w.dst, w.sport, w.dport, w.proto_raw, w.service, w.hour,
       w.bytes_bin, w.pkts_bin, w.src_word, w.dst_word,
       a.p AS p_src, a.s AS s_src, a.code AS code_src, a.lam AS lam_src, a.cnt AS cnt_src
FROM lda_now w
JOIN lda_pair_p a ON a.host = w.src AND a.word = w.src_word;

CREATE OR REPLACE TEMP TABLE lda_scored AS
SELECT h.uid, h.ts, h.line, h.src, h.dst, h.sport, h.dport, h.proto_raw AS proto, h.service,
       h.hour, h.bytes_bin, h.pkts_bin, h.src_word, h.dst_word,
       h.p_src, b.p AS p_dst,
       CASE WHEN h.p_src <= b.p THEN h.p_src ELSE b.p END AS p,
       CASE WHEN h.p_src <= b.p THEN h.s_src ELSE b.s END AS score,
       CASE WHEN h.p_src <= b.p THEN h.code_src ELSE b.code END AS novelty,
       CASE WHEN h.p_src <= b.p THEN h.cnt_src ELSE b.cnt END AS repeats,
       CASE WHEN h.p_src <= b.p THEN h.lam_src ELSE b.lam END AS expected
FROM lda_half h
JOIN lda_pair_p b ON b.host = h.dst AND b.word = h.dst_word;

DROP TABLE lda_half;

SELECT COUNT(*) AS alerts, COALESCE(SUM(n), 0) AS suspicious
FROM (SELECT src, dst, COUNT(*) AS n FROM lda_scored WHERE p < $threshold GROUP BY src, dst) t
