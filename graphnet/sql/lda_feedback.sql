-- The connections the benign verdicts cover (after lda_views): each connection of a verdict
-- group's pool (the training history for verdicts without a window, else their reference
-- window) that a verdict of the group covers (`lda_fb_match`), once however many do, into
-- `lda_fb_rows`. Returns how many per group.
INSERT INTO lda_fb_rows
SELECT p.grp, p.ts_key, p.src, p.dst, p.owner, p.port_key, p.proto, p.hour, p.bytes_bin,
       p.pkts_bin, p.state, p.src_word, p.dst_word, p.src_coarse, p.dst_coarse
FROM lda_pool p
WHERE EXISTS (SELECT 1 FROM lda_fb_match m
              WHERE m.kind = 'pair' AND m.grp = p.grp AND m.src = p.src AND m.dst = p.dst
                AND (m.port IS NULL OR m.port = p.dport)
                AND (m.service IS NULL OR m.service = p.service))
   OR EXISTS (SELECT 1 FROM lda_fb_match m
              WHERE m.kind = 'src' AND m.grp = p.grp AND m.src = p.src
                AND (m.port IS NULL OR m.port = p.dport)
                AND (m.service IS NULL OR m.service = p.service))
   OR EXISTS (SELECT 1 FROM lda_fb_match m
              WHERE m.kind = 'dst' AND m.grp = p.grp AND m.dst = p.dst
                AND (m.port IS NULL OR m.port = p.dport)
                AND (m.service IS NULL OR m.service = p.service));

SELECT grp, COUNT(*) AS n FROM lda_fb_rows GROUP BY grp ORDER BY grp
