-- The categorical components of each connection of a bound table (features.COMPONENTS), the
-- values features.components gives in Python: a fingerprint built here and a connection scored
-- in Python never disagree. `{table}` is the bound table; `{table}_acts` the lookup of what
-- the originator and the responder did, per distinct history (computed in Python, where
-- "upper-case letters" has its Unicode meaning).
SELECT c.win, c.ts, c.uid, c.src, c.sport, c.dst, c.dport AS dport_num, c.duration,
       c.src_bytes AS src_bytes_num, c.dst_bytes AS dst_bytes_num,
       c.src_pkts AS src_pkts_num, c.dst_pkts AS dst_pkts_num, c.line,
       LOWER(COALESCE(NULLIF(c.proto, ''), '-')) AS proto,
       COALESCE(NULLIF(c.service, ''), '-') AS service,
       CASE WHEN c.dport IS NULL OR c.dport < 0 THEN '-'
            WHEN c.dport >= 49152 THEN 'dyn'
            ELSE CAST(CAST(FLOOR(c.dport) AS BIGINT) AS VARCHAR) END AS dport,
       COALESCE(NULLIF(c.conn_state, ''), '-') AS conn_state,
       COALESCE(NULLIF(c.history, ''), '-') AS history,
       COALESCE(a.orig_act, '-') AS orig_act,
       COALESCE(a.resp_act, '-') AS resp_act,
       LPAD(CAST(MOD(MOD(CAST(FLOOR(c.ts / 3600) AS BIGINT), 24) + 24, 24) AS VARCHAR), 2, '0')
         AS hour,
       CASE WHEN MOD(MOD(CAST(FLOOR(c.ts / 86400) AS BIGINT) + 3, 7) + 7, 7) >= 5
            THEN 'weekend' ELSE 'weekday' END AS daytype,
       CASE WHEN c.src_bytes IS NULL OR ISNAN(c.src_bytes) OR c.src_bytes < 0
                 OR c.src_bytes > 1.0E300 THEN '-'
            ELSE CAST(CAST(CEIL(LOG2(c.src_bytes + 1)) AS BIGINT) AS VARCHAR) END AS src_bytes_bin,
       CASE WHEN c.dst_bytes IS NULL OR ISNAN(c.dst_bytes) OR c.dst_bytes < 0
                 OR c.dst_bytes > 1.0E300 THEN '-'
            ELSE CAST(CAST(CEIL(LOG2(c.dst_bytes + 1)) AS BIGINT) AS VARCHAR) END AS dst_bytes_bin,
       CASE WHEN c.src_pkts IS NULL OR ISNAN(c.src_pkts) OR c.src_pkts < 0
                 OR c.src_pkts > 1.0E300 THEN '-'
            ELSE CAST(CAST(CEIL(LOG2(c.src_pkts + 1)) AS BIGINT) AS VARCHAR) END AS src_pkts_bin,
       CASE WHEN c.dst_pkts IS NULL OR ISNAN(c.dst_pkts) OR c.dst_pkts < 0
                 OR c.dst_pkts > 1.0E300 THEN '-'
            ELSE CAST(CAST(CEIL(LOG2(c.dst_pkts + 1)) AS BIGINT) AS VARCHAR) END AS dst_pkts_bin
FROM {table} c
LEFT JOIN {table}_acts a ON a.history = COALESCE(NULLIF(c.history, ''), '-')
