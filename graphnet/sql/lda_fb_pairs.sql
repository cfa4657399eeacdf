-- The distinct (src, dst) pairs of the pools of the verdict groups that hold a subnet verdict
-- (`lda_fb_match` rows of kind 'subnet'): which of them fall in the subnets is decided in
-- Python, over these pairs only.
SELECT DISTINCT p.grp, p.src, p.dst
FROM lda_pool p
WHERE p.grp IN (SELECT m.grp FROM lda_fb_match m WHERE m.kind = 'subnet')
