-- The suspicious-connects detector's views (graphnet.detectors.lda): Spot's two words of every
-- connection of the scored window (`conns`), of the training history (`past`) and of the
-- reference windows of the analysts' verdicts (`refs`), exactly as `lda.words.flow_words`
-- builds them in Python; the scored window's words kept once (`lda_now`, a temporary table the
-- engine spills beyond its memory limit); the training rows (the history, or a seeded sample
-- of it, plus the connections the benign verdicts cover, `lda_fb_rows`, filled by
-- lda_feedback); and the connections split into their two ends (host, word).
-- Lookups: `lda_opts` (one row: sample_cut NULL or the first 8 hex digits of
-- MD5(uid || sample_salt) a sampled row stays below, state, dupfactor) and `lda_fb_match`
-- (grp, kind 'pair' | 'src' | 'dst', src, dst, port, service; NULL = any).
CREATE OR REPLACE TEMP VIEW lda_rows AS
SELECT 'now' AS part, win, ts, uid, src, dst, sport, dport, proto, service, conn_state,
       src_bytes, dst_bytes, src_pkts, dst_pkts, line
FROM conns
UNION ALL
SELECT 'past' AS part, win, ts, uid, src, dst, sport, dport, proto, service, conn_state,
       src_bytes, dst_bytes, src_pkts, dst_pkts, line
FROM past
UNION ALL
SELECT 'ref' AS part, win, ts, uid, src, dst, sport, dport, proto, service, conn_state,
       src_bytes, dst_bytes, src_pkts, dst_pkts, line
FROM refs;

-- unknown ports are Spot's "no port" (0); unknown counts count as 0; unknown times as hour 0
CREATE OR REPLACE TEMP VIEW lda_known AS
SELECT r.part, r.win, r.ts, r.uid, r.src, r.dst, r.sport, r.dport, r.proto, r.service, r.line,
       CASE WHEN r.sport IS NULL OR ISNAN(CAST(r.sport AS DOUBLE)) OR r.sport < 0 THEN 0
            ELSE CAST(FLOOR(CAST(r.sport AS DOUBLE)) AS BIGINT) END AS sp,
       CASE WHEN r.dport IS NULL OR ISNAN(CAST(r.dport AS DOUBLE)) OR r.dport < 0 THEN 0
            ELSE CAST(FLOOR(CAST(r.dport AS DOUBLE)) AS BIGINT) END AS dp,
       CASE WHEN r.ts IS NULL OR ISNAN(r.ts) THEN 0.0 ELSE r.ts END AS ts0,
       COALESCE(r.ts, CAST('NaN' AS DOUBLE)) AS ts_key,
       (CASE WHEN r.src_bytes IS NULL OR ISNAN(r.src_bytes) THEN 0.0 ELSE r.src_bytes END)
       + (CASE WHEN r.dst_bytes IS NULL OR ISNAN(r.dst_bytes) THEN 0.0 ELSE r.dst_bytes END)
         AS nbytes,
       (CASE WHEN r.src_pkts IS NULL OR ISNAN(r.src_pkts) THEN 0.0 ELSE r.src_pkts END)
       + (CASE WHEN r.dst_pkts IS NULL OR ISNAN(r.dst_pkts) THEN 0.0 ELSE r.dst_pkts END)
         AS npkts,
       CASE WHEN r.conn_state IN ('SF', 'S1', 'S2', 'S3') THEN 1
            WHEN r.conn_state = 'S0' THEN 2
            WHEN r.conn_state = 'REJ' THEN 3
            WHEN r.conn_state IN ('RSTO', 'RSTR', 'RSTOS0', 'RSTRH') THEN 4
            WHEN r.conn_state IN ('SH', 'SHR') THEN 5
            WHEN r.conn_state = 'OTH' THEN 6
            ELSE 0 END AS state_code
FROM lda_rows r;

-- the port key and which end owns the port (1 the originator, 2 the responder), Spot's order
CREATE OR REPLACE TEMP VIEW lda_parts AS
SELECT k.part, k.win, k.ts, k.ts_key, k.uid, k.src, k.dst, k.sport, k.dport, k.proto AS proto_raw,
       k.service, k.line,
       CASE WHEN k.sp = 0 AND k.dp = 0 THEN 0
            WHEN k.dp = 0 AND k.sp > 0 THEN k.sp
            WHEN k.sp = 0 AND k.dp > 0 THEN k.dp
            WHEN k.sp <= 1024 AND k.dp <= 1024 THEN 111111
            WHEN k.sp <= 1024 AND k.dp > 1024 THEN k.sp
            WHEN k.sp > 1024 AND k.dp <= 1024 THEN k.dp
            ELSE 333333 END AS port_key,
       CASE WHEN k.sp = 0 AND k.dp = 0 THEN 0
            WHEN k.dp = 0 AND k.sp > 0 THEN 1
            WHEN k.sp = 0 AND k.dp > 0 THEN 2
            WHEN k.sp <= 1024 AND k.dp <= 1024 THEN 0
            WHEN k.sp <= 1024 AND k.dp > 1024 THEN 1
            WHEN k.sp > 1024 AND k.dp <= 1024 THEN 2
            ELSE 0 END AS owner,
       LOWER(COALESCE(k.proto, '-')) AS proto,
       MOD(MOD(CAST(FLOOR(k.ts0 / 3600.0) AS BIGINT), 24) + 24, 24) AS hour,
       CAST(LEAST(CEIL(LOG2(GREATEST(k.nbytes, 0.0) + 1.0)), 63.0) AS BIGINT) AS bytes_bin,
       CAST(LEAST(CEIL(LOG2(GREATEST(k.npkts, 0.0) + 1.0)), 63.0) AS BIGINT) AS pkts_bin,
       CASE WHEN o.state THEN k.state_code ELSE 0 END AS state,
       o.state AS with_state
FROM lda_known k CROSS JOIN lda_opts o;

-- the words as text: port_proto_hour_bytes_packets[_state]; "-1_" for the end owning the port
CREATE OR REPLACE TEMP VIEW lda_words AS
SELECT t.*,
       CASE WHEN t.owner = 1 THEN '-1_' ELSE '' END || t.coarse_base AS src_coarse,
       CASE WHEN t.owner = 2 THEN '-1_' ELSE '' END || t.coarse_base AS dst_coarse,
       CASE WHEN t.owner = 1 THEN '-1_' ELSE '' END || t.word_base AS src_word,
       CASE WHEN t.owner = 2 THEN '-1_' ELSE '' END || t.word_base AS dst_word
FROM (
  SELECT p.*,
         CAST(p.port_key AS VARCHAR) || '_' || p.proto AS coarse_base,
         CAST(p.port_key AS VARCHAR) || '_' || p.proto || '_' || CAST(p.hour AS VARCHAR) || '_'
         || CAST(p.bytes_bin AS VARCHAR) || '_' || CAST(p.pkts_bin AS VARCHAR)
         || CASE WHEN NOT p.with_state THEN ''
                 WHEN p.state = 1 THEN '_ok'
                 WHEN p.state = 2 THEN '_noreply'
                 WHEN p.state = 3 THEN '_rej'
                 WHEN p.state = 4 THEN '_rst'
                 WHEN p.state = 5 THEN '_half'
                 WHEN p.state = 6 THEN '_oth'
                 ELSE '_-' END AS word_base
  FROM lda_parts p
) t;

-- the scored window's connections with their words, once
CREATE OR REPLACE TEMP TABLE lda_now AS
SELECT uid, ts, line, src, dst, sport, dport, proto_raw, service, hour, bytes_bin, pkts_bin,
       src_word, dst_word, src_coarse, dst_coarse
FROM lda_words
WHERE part = 'now';

-- ... as its two ends (role 0: the originator, 1: the responder)
CREATE OR REPLACE TEMP VIEW lda_now_ends AS
SELECT CASE WHEN r.role = 0 THEN n.src ELSE n.dst END AS host,
       CASE WHEN r.role = 0 THEN n.src_word ELSE n.dst_word END AS word,
       CASE WHEN r.role = 0 THEN n.src_coarse ELSE n.dst_coarse END AS coarse
FROM lda_now n CROSS JOIN (VALUES (0), (1)) AS r(role);

-- the training history, a seeded uniform sample of it beyond max_train_flows
CREATE OR REPLACE TEMP VIEW lda_history AS
SELECT w.* FROM lda_words w CROSS JOIN lda_opts o
WHERE w.part = 'past'
  AND (o.sample_cut IS NULL OR SUBSTR(MD5(w.uid || o.sample_salt), 1, 8) < o.sample_cut);

-- where the benign verdicts look: the training history (grp '') and their reference windows
CREATE OR REPLACE TEMP VIEW lda_pool AS
SELECT '' AS grp, h.* FROM lda_history h
UNION ALL
SELECT w.win AS grp, w.* FROM lda_words w WHERE w.part = 'ref';

-- the connections the benign verdicts cover (filled by lda_feedback)
CREATE OR REPLACE TEMP TABLE lda_fb_rows AS
SELECT grp, ts_key, src, dst, owner, port_key, proto, hour, bytes_bin, pkts_bin, state,
       src_word, dst_word, src_coarse, dst_coarse
FROM lda_pool
WHERE 1 = 0;

-- what the model learns from: the history once, the covered connections DUPFACTOR times
CREATE OR REPLACE TEMP VIEW lda_train AS
SELECT h.ts_key, h.src, h.dst, h.owner, h.port_key, h.proto, h.hour, h.bytes_bin, h.pkts_bin,
       h.state, h.src_word, h.dst_word, h.src_coarse, h.dst_coarse,
       1.0 AS weight, 1 AS hist
FROM lda_history h
UNION ALL
SELECT f.ts_key, f.src, f.dst, f.owner, f.port_key, f.proto, f.hour, f.bytes_bin, f.pkts_bin,
       f.state, f.src_word, f.dst_word, f.src_coarse, f.dst_coarse,
       CAST(o.dupfactor AS DOUBLE) AS weight, 0 AS hist
FROM lda_fb_rows f CROSS JOIN lda_opts o;

-- every training connection as its two ends; `prefix`: the end owns the port ("-1_")
CREATE OR REPLACE TEMP VIEW lda_train_ends AS
SELECT t.ts_key, r.role,
       CASE WHEN r.role = 0 THEN t.src ELSE t.dst END AS host,
       CASE WHEN r.role = 0 THEN t.src_word ELSE t.dst_word END AS word,
       CASE WHEN r.role = 0 THEN t.src_coarse ELSE t.dst_coarse END AS coarse,
       t.port_key, t.proto, t.hour, t.bytes_bin, t.pkts_bin, t.state,
       CASE WHEN t.owner = r.role + 1 THEN 1 ELSE 0 END AS prefix,
       t.weight, t.hist
FROM lda_train t CROSS JOIN (VALUES (0), (1)) AS r(role);

-- how many connections the window and the history hold, and the window's time span
SELECT 'now' AS part, COUNT(*) AS n,
       MIN(CASE WHEN ISNAN(ts) THEN NULL ELSE ts END) AS first_ts,
       MAX(CASE WHEN ISNAN(ts) THEN NULL ELSE ts END) AS last_ts
FROM lda_now
UNION ALL
SELECT 'past' AS part, COUNT(*) AS n, NULL AS first_ts, NULL AS last_ts FROM past
