-- The scored window's distinct (host, word) pairs (either end of a connection; after lda_fit):
-- what the model scores, since every connection end with the same host and word has the same
-- probability. Kept as `lda_pairs` (id, host, word, coarse, cnt) and, as numbers only, as
-- `lda_pair_codes`: the pair's id, its host's code, the host's training row (lda_docs, -1:
-- not in training), the word's vocabulary column (lda_vocab, -1: unseen), the code of its
-- coarse form (lda_pair_coarse) and how often the host had the word. A host's pairs have
-- consecutive ids, in the order of the host codes, and the table is kept in id order (so a
-- page reads its own row groups, not the whole table). `lda_pair_scores` is made empty here and
-- filled a page of hosts at a time (lda_pair_page, lda_pair_keep). Returns how many pairs
-- each host code has, in code order (where the pages may be cut).
CREATE OR REPLACE TEMP TABLE lda_pairs AS
SELECT ROW_NUMBER() OVER (ORDER BY e.host, e.word) - 1 AS id, e.host, e.word, e.coarse, e.cnt
FROM (SELECT host, word, MIN(coarse) AS coarse, COUNT(*) AS cnt
      FROM lda_now_ends
      GROUP BY host, word) e;

CREATE OR REPLACE TEMP TABLE lda_pair_coarse AS
SELECT ROW_NUMBER() OVER (ORDER BY c.coarse) - 1 AS code, c.coarse
FROM (SELECT DISTINCT coarse FROM lda_pairs) c;

CREATE OR REPLACE TEMP TABLE lda_pair_hosts AS
SELECT ROW_NUMBER() OVER (ORDER BY h.host) - 1 AS code, h.host, COALESCE(d.i, -1) AS doc
FROM (SELECT DISTINCT host FROM lda_pairs) h
LEFT JOIN lda_docs d ON d.host = h.host;

CREATE OR REPLACE TEMP TABLE lda_pair_words AS
SELECT p.id, p.host, p.coarse, p.cnt, COALESCE(v.i, -1) AS col
FROM lda_pairs p
LEFT JOIN lda_vocab v ON v.word = p.word;

CREATE OR REPLACE TEMP TABLE lda_pair_codes AS
SELECT w.id, h.code AS host_code, h.doc, w.col, c.code AS coarse_code, w.cnt
FROM lda_pair_words w
JOIN lda_pair_hosts h ON h.host = w.host
JOIN lda_pair_coarse c ON c.coarse = w.coarse
ORDER BY w.id;

DROP TABLE lda_pair_words;

CREATE OR REPLACE TEMP TABLE lda_pair_scores (
    id BIGINT, p DOUBLE, s DOUBLE, code TINYINT, lam DOUBLE, cnt DOUBLE
);

SELECT host_code, COUNT(*) AS n
FROM lda_pair_codes
GROUP BY host_code
ORDER BY host_code
