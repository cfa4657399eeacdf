-- Spot's DNS words (graphnet.detectors.applogs.words.DnsWords, the same words in SQL) of the
-- scored window (`dns`, part 'now'), the training history (`past_dns`, 'past') and the
-- verdicts' reference windows (`refs_dns`, 'ref'), for the generic statements (app_docs,
-- app_counts, app_feedback, app_pairs, app_scored, app_hosts, app_findings):
-- - `app_words`, a view: one row per record with its client (`src`), `word`, `coarse` word,
--   `wid` (the word's number in `app_vocab`), `item` (the query name), `domain` (its
--   registered domain) and `detail` (type and code);
-- - `app_groups`, a table: the records counted per part, client and word key (one pass over
--   the records), `app_vocab`, a table: the words of the keys, and `app_word_groups`, a view:
--   the groups with their words (what app_counts and app_pairs read).
-- A word is built from its key once per distinct key, not per record: the key packs the
-- word's numbers into one BIGINT `wkey` (topDomain < 3, subLenBin, periodsBin and frameBin
-- < 64 (floor log2 of lengths below 2^63), entropyBin < 32, hour < 24), next to the query
-- type and response code. Lookup `dns_names` (query, top, sub_len, ent_bin, periods, reg, sub,
-- rev). The response frame is estimated from the record: 60 bytes of headers, the name, and
-- 12 bytes plus the text of each answer (answers are joined with ','; n answers have n - 1
-- commas, so 12 n + their text is 12 + the length of the joined text + 11 x its commas).
CREATE OR REPLACE TEMP VIEW app_dns_rows AS
SELECT 'now' AS part, win, uid, ts, src, dst, dport, query, qtype_name, rcode_name, answers
FROM dns
UNION ALL
SELECT 'past' AS part, win, uid, ts, src, dst, dport, query, qtype_name, rcode_name, answers
FROM past_dns
UNION ALL
SELECT 'ref' AS part, win, uid, ts, src, dst, dport, query, qtype_name, rcode_name, answers
FROM refs_dns;

CREATE OR REPLACE TEMP VIEW app_dns_known AS
SELECT r.part, r.win, r.uid, r.ts, r.src, r.dst, r.dport,
       COALESCE(r.query, '-') AS query,
       COALESCE(r.qtype_name, '-') AS qtype,
       COALESCE(r.rcode_name, '-') AS rcode,
       CASE WHEN r.ts IS NULL OR ISNAN(r.ts) THEN 0
            ELSE MOD(MOD(CAST(FLOOR(r.ts / 3600.0) AS BIGINT), 24) + 24, 24) END AS hour,
       CASE WHEN r.answers IS NULL OR r.answers IN ('-', '', '(empty)') THEN 0
            ELSE 12 + LENGTH(r.answers)
                 + 11 * (LENGTH(r.answers) - LENGTH(REPLACE(r.answers, ',', ''))) END AS ans_bytes
FROM app_dns_rows r;

CREATE OR REPLACE TEMP VIEW app_dns_keyed AS
SELECT k.part, k.win, k.uid, k.ts, k.src, k.dst, k.dport, k.query, k.qtype, k.rcode, k.hour,
       n.reg,
       ((((n.top * 64 + n.sub_len) * 32 + n.ent_bin) * 64 + n.periods) * 64
         + CAST(FLOOR(LN(60 + LENGTH(k.query) + k.ans_bytes) / LN(2) + 1e-9) AS BIGINT)) * 24
         + k.hour AS wkey
FROM app_dns_known k
JOIN dns_names n ON n.query = k.query;

CREATE OR REPLACE TEMP TABLE app_groups AS
SELECT part, src, wkey, qtype, rcode, COUNT(*) AS n
FROM app_dns_keyed
GROUP BY part, src, wkey, qtype, rcode;

-- the word of each key (the numbers unpacked); `wid` numbers the distinct words, and `same`
-- says how many keys give the same word (more than one only when a type or code holds '_')
CREATE OR REPLACE TEMP TABLE app_vocab AS
WITH keys AS (
  SELECT DISTINCT wkey, qtype, rcode FROM app_groups
),
parts AS (
  SELECT wkey, qtype, rcode,
         MOD(wkey, 24) AS hour,
         MOD(CAST(FLOOR(wkey / 24) AS BIGINT), 64) AS fb,
         MOD(CAST(FLOOR(wkey / 1536) AS BIGINT), 64) AS periods,
         MOD(CAST(FLOOR(wkey / 98304) AS BIGINT), 32) AS ent_bin,
         MOD(CAST(FLOOR(wkey / 3145728) AS BIGINT), 64) AS sub_len,
         CAST(FLOOR(wkey / 201326592) AS BIGINT) AS top
  FROM keys
),
words AS (
  SELECT wkey, qtype, rcode,
         CAST(top AS VARCHAR) || '_' || CAST(fb AS VARCHAR) || '_' || CAST(hour AS VARCHAR)
           || '_' || CAST(sub_len AS VARCHAR) || '_' || CAST(ent_bin AS VARCHAR) || '_'
           || CAST(periods AS VARCHAR) || '_' || qtype || '_' || rcode AS word,
         CAST(top AS VARCHAR) || '_' || qtype || '_' || rcode AS coarse
  FROM parts
)
SELECT wkey, qtype, rcode, word, coarse,
       DENSE_RANK() OVER (ORDER BY word) AS wid,
       COUNT(*) OVER (PARTITION BY word) AS same
FROM words;

CREATE OR REPLACE TEMP VIEW app_word_groups AS
SELECT g.part, g.src, v.wid, v.word, v.coarse, v.same, g.n
FROM app_groups g
JOIN app_vocab v ON v.wkey = g.wkey AND v.qtype = g.qtype AND v.rcode = g.rcode;

CREATE OR REPLACE TEMP VIEW app_words AS
SELECT k.part, k.win, k.uid, k.ts, k.src, k.dst, k.dport, 'dns' AS service,
       k.query AS item, k.reg AS domain, k.qtype || ' ' || k.rcode AS detail, k.hour,
       v.wid, v.word, v.coarse
FROM app_dns_keyed k
JOIN app_vocab v ON v.wkey = k.wkey AND v.qtype = k.qtype AND v.rcode = k.rcode;

SELECT part, CAST(SUM(n) AS BIGINT) AS n FROM app_groups GROUP BY part ORDER BY part
