-- Spot's proxy words (graphnet.detectors.applogs.words.HttpWords, the same words in SQL) of
-- the scored window (`http`, part 'now'), the training history (`past_http`, 'past') and the
-- verdicts' reference windows (`refs_http`, 'ref'), as the view `app_words` of the generic
-- statements: client (`src`), `word`, `coarse`, `item` (host and URI), `domain` (the host)
-- and `detail` (method and status). Lookups `http_uris` (uri, ent_bin, len_bin), `http_hosts`
-- (host, top), `http_agents` (part, user_agent, ua_bin: the training's bins for 'past' and
-- 'ref', the scored window's for 'now') and `app_opts` (one row: graphnet, true for
-- graphnet's variant: the agent bin is part of the coarse word).
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

CREATE OR REPLACE TEMP VIEW app_words AS
SELECT k.part, k.win, k.uid, k.ts, k.src, k.dst, k.dport, 'http' AS service,
       k.host || k.uri AS item, k.host AS domain, k.method || ' ' || k.status AS detail, k.hour,
       CAST(h.top AS VARCHAR) || '_' || CAST(k.hour AS VARCHAR) || '_' || k.method || '_'
         || CAST(u.ent_bin AS VARCHAR) || '_' || k.ctype_raw || '_' || a.ua_bin || '_'
         || CAST(u.len_bin AS VARCHAR) || '_' || k.status AS word,
       CAST(h.top AS VARCHAR) || '_' || k.method || '_' || k.ctype_raw || '_' || k.status
         || CASE WHEN o.graphnet THEN '_' || a.ua_bin ELSE '' END AS coarse
FROM app_http_known k
JOIN http_uris u ON u.uri = k.uri
JOIN http_hosts h ON h.host = k.host
JOIN http_agents a ON a.user_agent = k.user_agent
                  AND a.part = CASE WHEN k.part = 'now' THEN 'now' ELSE 'past' END
CROSS JOIN app_opts o;

SELECT part, COUNT(*) AS n, MIN(ts) AS first_ts, MAX(ts) AS last_ts
FROM app_words GROUP BY part ORDER BY part
