-- The training counts of the suspicious-connects detector: per (host, end, word) the weighted
-- number of training connections (benign feedback counts DUPFACTOR times) and when the host
-- first had that end; then the vocabulary in the order of `lda.words.flow_words` (port key,
-- protocol, hour, byte bin, packet bin, state, then the word without "-1_" before the one
-- with) and the documents (hosts) in their canonical order: hosts that originate before those
-- that only answer, then by their first connection's time, then by name. Returns the sizes.
CREATE OR REPLACE TEMP TABLE lda_hw AS
SELECT host, role, word, coarse, port_key, proto, hour, bytes_bin, pkts_bin, state, prefix,
       SUM(weight) AS n, SUM(hist) AS hist_rows, SUM(1 - hist) AS fb_rows,
       MIN(ts_key) AS ts_key
FROM lda_train_ends
GROUP BY host, role, word, coarse, port_key, proto, hour, bytes_bin, pkts_bin, state, prefix;

CREATE OR REPLACE TEMP TABLE lda_vocab AS
SELECT ROW_NUMBER() OVER (
         ORDER BY port_key, proto, hour, bytes_bin, pkts_bin, state, prefix) - 1 AS i,
       word, coarse
FROM (SELECT DISTINCT word, coarse, port_key, proto, hour, bytes_bin, pkts_bin, state, prefix
      FROM lda_hw) v;

CREATE OR REPLACE TEMP TABLE lda_docs AS
SELECT ROW_NUMBER() OVER (ORDER BY f.role, f.ts_key, f.host) - 1 AS i, f.host
FROM (SELECT h.host, h.role, MIN(h.ts_key) AS ts_key
      FROM lda_hw h
      JOIN (SELECT host, MIN(role) AS role FROM lda_hw GROUP BY host) m
        ON m.host = h.host AND m.role = h.role
      GROUP BY h.host, h.role) f;

SELECT (SELECT COUNT(*) FROM lda_vocab) AS words,
       (SELECT COUNT(*) FROM lda_docs) AS docs,
       (SELECT COALESCE(SUM(hist_rows), 0) FROM lda_hw WHERE role = 0) AS history_rows,
       (SELECT COALESCE(SUM(fb_rows), 0) FROM lda_hw WHERE role = 0) AS feedback_rows
