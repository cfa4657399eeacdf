-- Keep a scored batch (`novelty_batch`: id and the scores of each combination) in
-- `novelty_scored`, created like the first batch.
CREATE TEMP TABLE IF NOT EXISTS novelty_scored AS SELECT * FROM novelty_batch WHERE 1 = 0;
INSERT INTO novelty_scored SELECT * FROM novelty_batch;
SELECT COUNT(*) AS n FROM novelty_batch
