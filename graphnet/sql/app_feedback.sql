-- The records the benign verdicts cover (Spot's feedback re-injection, as lda_feedback does
-- for connections), counted per (client, word): the training records for verdicts without a
-- window (group ''), each reference window's records for the verdicts given for it. A record
-- counts once however many verdicts cover it. Lookup `lda_fb_match` (grp, kind, src, dst,
-- port, service; NULL = any), built by graphnet.detectors.lda.feedback.match_table.
WITH pool AS (
  SELECT '' AS grp, src, dst, dport, service, word, coarse FROM app_words WHERE part = 'past'
  UNION ALL
  SELECT win AS grp, src, dst, dport, service, word, coarse FROM app_words WHERE part = 'ref'
)
SELECT p.src AS host, p.word, MIN(p.coarse) AS coarse, COUNT(*) AS n
FROM pool p
WHERE EXISTS (SELECT 1 FROM lda_fb_match m
              WHERE m.grp = p.grp
                AND ((m.kind = 'pair' AND m.src = p.src AND m.dst = p.dst)
                  OR (m.kind = 'src' AND m.src = p.src)
                  OR (m.kind = 'dst' AND m.dst = p.dst))
                AND (m.port IS NULL OR m.port = p.dport)
                AND (m.service IS NULL OR m.service = p.service))
GROUP BY p.src, p.word
