-- Spot's proxy words (graphnet.detectors.applogs.words.HttpWords, the same words in SQL) of
-- the scored window (`http`, part 'now'), the training history (`past_http`, 'past') and the
-- verdicts' reference windows (`refs_http`, 'ref'), for the generic statements, as
-- app_dns_views gives them: the view `app_words` (a record's client `src`, `word`, `coarse`,
-- `wid`, `item` (host and URI), `domain` (the host) and `detail` (method and status)), the
-- tables `app_groups` (records counted per part, client and word key) and `app_vocab` (the
-- words of the keys) and the view `app_word_groups`. The key packs the word's numbers into
-- one BIGINT `wkey` (topDomain < 3, hour < 24, uriEntropyBin < 32, uriLengthBin < 64) next to
-- its texts (method, content type, agent bin, status). Lookups `http_uris` (uri, ent_bin,
-- len_bin), `http_hosts` (host, top), `http_agents` (part, user_agent, ua_bin: the
-- training's bins for 'past' and 'ref', the scored window's for 'now') and `app_opts` (one
-- row: graphnet, true for graphnet's variant: the agent bin is part of the coarse word).
CREATE OR REPLACE TEMP VIEW app_http_rows AS
SELECT 'now' AS part, win, uid, ts, src, dst, dport, method, host, uri, user_agent,
       status_code, resp_mime_types
FROM http
UNION ALL
SELECT 'past' AS part, win, uid, ts, src, dst, dport, method, host, uri, user_agent,
       status_code, resp_mime_types
FROM past_http
UNION ALL
SELECT 'ref' AS part, win, uid, ts, src, dst, dport, method, host, uri, user_agent,
       status_code, resp_mime_types
FROM refs_http;

-- the first response MIME type (Zeek joins several with ','), then its top-level type
CREATE OR REPLACE TEMP VIEW app_http_first AS
SELECT r.*,
       CASE WHEN POSITION(',' IN COALESCE(r.resp_mime_types, '-')) > 0
            THEN SUBSTRING(r.resp_mime_types FROM 1 FOR POSITION(',' IN r.resp_mime_types) - 1)
            ELSE COALESCE(r.resp_mime_types, '-') END AS mime1
FROM app_http_rows r;

CREATE OR REPLACE TEMP VIEW app_http_known AS
SELECT r.part, r.win, r.uid, r.ts, r.src, r.dst, r.dport,
       COALESCE(r.method, '-') AS method, COALESCE(r.host, '-') AS host,
       COALESCE(r.uri, '-') AS uri, COALESCE(r.user_agent, '-') AS user_agent,
       CASE WHEN r.status_code IS NULL THEN '-' ELSE CAST(r.status_code AS VARCHAR) END AS status,
       CASE WHEN r.ts IS NULL OR ISNAN(r.ts) THEN 0
            ELSE MOD(MOD(CAST(FLOOR(r.ts / 3600.0) AS BIGINT), 24) + 24, 24) END AS hour,
       CASE WHEN POSITION('/' IN r.mime1) > 0
            THEN SUBSTRING(r.mime1 FROM 1 FOR POSITION('/' IN r.mime1) - 1)
            ELSE r.mime1 END AS ctype_raw
FROM app_http_first r;

CREATE OR REPLACE TEMP VIEW app_http_keyed AS
SELECT k.part, k.win, k.uid, k.ts, k.src, k.dst, k.dport, k.method, k.host, k.uri, k.status,
       k.hour, k.ctype_raw AS ctype, a.ua_bin,
       ((h.top * 24 + k.hour) * 32 + u.ent_bin) * 64 + u.len_bin AS wkey
FROM app_http_known k
JOIN http_uris u ON u.uri = k.uri
JOIN http_hosts h ON h.host = k.host
JOIN http_agents a ON a.user_agent = k.user_agent
                  AND a.part = CASE WHEN k.part = 'now' THEN 'now' ELSE 'past' END;

CREATE OR REPLACE TEMP TABLE app_groups AS
SELECT part, src, wkey, method, ctype, ua_bin, status, COUNT(*) AS n
FROM app_http_keyed
GROUP BY part, src, wkey, method, ctype, ua_bin, status;

-- the word of each key (the numbers unpacked); `wid` numbers the distinct words, and `same`
-- says how many keys give the same word (more than one only when a text holds '_')
CREATE OR REPLACE TEMP TABLE app_vocab AS
WITH keys AS (
  SELECT DISTINCT wkey, method, ctype, ua_bin, status FROM app_groups
),
parts AS (
  SELECT wkey, method, ctype, ua_bin, status,
         MOD(wkey, 64) AS len_bin,
         MOD(CAST(FLOOR(wkey / 64) AS BIGINT), 32) AS ent_bin,
         MOD(CAST(FLOOR(wkey / 2048) AS BIGINT), 24) AS hour,
         CAST(FLOOR(wkey / 49152) AS BIGINT) AS top
  FROM keys
),
words AS (
  SELECT p.wkey, p.method, p.ctype, p.ua_bin, p.status,
         CAST(p.top AS VARCHAR) || '_' || CAST(p.hour AS VARCHAR) || '_' || p.method || '_'
           || CAST(p.ent_bin AS VARCHAR) || '_' || p.ctype || '_' || p.ua_bin || '_'
           || CAST(p.len_bin AS VARCHAR) || '_' || p.status AS word,
         CAST(p.top AS VARCHAR) || '_' || p.method || '_' || p.ctype || '_' || p.status
           || CASE WHEN o.graphnet THEN '_' || p.ua_bin ELSE '' END AS coarse
  FROM parts p
  CROSS JOIN app_opts o
)
SELECT wkey, method, ctype, ua_bin, status, word, coarse,
       DENSE_RANK() OVER (ORDER BY word) AS wid,
       COUNT(*) OVER (PARTITION BY word) AS same
FROM words;

CREATE OR REPLACE TEMP VIEW app_word_groups AS
SELECT g.part, g.src, v.wid, v.word, v.coarse, v.same, g.n
FROM app_groups g
JOIN app_vocab v ON v.wkey = g.wkey AND v.method = g.method AND v.ctype = g.ctype
                AND v.ua_bin = g.ua_bin AND v.status = g.status;

CREATE OR REPLACE TEMP VIEW app_words AS
SELECT k.part, k.win, k.uid, k.ts, k.src, k.dst, k.dport, 'http' AS service,
       k.host || k.uri AS item, k.host AS domain, k.method || ' ' || k.status AS detail, k.hour,
       v.wid, v.word, v.coarse
FROM app_http_keyed k
JOIN app_vocab v ON v.wkey = k.wkey AND v.method = k.method AND v.ctype = k.ctype
                AND v.ua_bin = k.ua_bin AND v.status = k.status;

SELECT part, CAST(SUM(n) AS BIGINT) AS n FROM app_groups GROUP BY part ORDER BY part
