-- Spot's DNS words (graphnet.detectors.applogs.words.DnsWords, the same words in SQL) of the
-- scored window (`dns`, part 'now'), the training history (`past_dns`, 'past') and the
-- verdicts' reference windows (`refs_dns`, 'ref'), as the view `app_words` the generic
-- statements (app_docs, app_counts, app_feedback, app_pairs, app_hosts, app_findings,
-- app_summary) read: one row per record with its client (`src`), `word`, `coarse` word,
-- `item` (the query name), `domain` (its registered domain) and `detail` (type and code).
-- Lookup `dns_names` (query, top, sub_len, ent_bin, periods, reg, sub, rev).
-- The response frame is estimated from the record: 60 bytes of headers, the name, and 12
-- bytes plus the text of each answer (answers are joined with ',').
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
            ELSE LENGTH(r.answers) - LENGTH(REPLACE(r.answers, ',', '')) + 1 END AS n_ans,
       CASE WHEN r.answers IS NULL OR r.answers IN ('-', '', '(empty)') THEN 0
            ELSE LENGTH(REPLACE(r.answers, ',', '')) END AS ans_len
FROM app_dns_rows r;

CREATE OR REPLACE TEMP VIEW app_words AS
SELECT k.part, k.win, k.uid, k.ts, k.src, k.dst, k.dport, 'dns' AS service,
       k.query AS item, n.reg AS domain, k.qtype || ' ' || k.rcode AS detail, k.hour,
       CAST(n.top AS VARCHAR) || '_'
         || CAST(CAST(FLOOR(LN(60 + LENGTH(k.query) + 12 * k.n_ans + k.ans_len) / LN(2) + 1e-9)
                 AS BIGINT) AS VARCHAR) || '_'
         || CAST(k.hour AS VARCHAR) || '_' || CAST(n.sub_len AS VARCHAR) || '_'
         || CAST(n.ent_bin AS VARCHAR) || '_' || CAST(n.periods AS VARCHAR) || '_'
         || k.qtype || '_' || k.rcode AS word,
       CAST(n.top AS VARCHAR) || '_' || k.qtype || '_' || k.rcode AS coarse
FROM app_dns_known k
JOIN dns_names n ON n.query = k.query;

SELECT part, COUNT(*) AS n, MIN(ts) AS first_ts, MAX(ts) AS last_ts
FROM app_words GROUP BY part ORDER BY part
