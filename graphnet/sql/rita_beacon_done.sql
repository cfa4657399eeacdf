-- The beacon step, after its last batch: drop the candidates' connections and the batch
-- tables (the session may serve the other steps); the result is how many candidate pairs
-- there were.
DROP TABLE IF EXISTS r_bconns;
DROP TABLE IF EXISTS r_bc;
DROP TABLE IF EXISTS r_stamps;
DROP TABLE IF EXISTS r_gaps;
DROP TABLE IF EXISTS r_gq;
DROP TABLE IF EXISTS r_gm;
DROP TABLE IF EXISTS r_sq;
DROP TABLE IF EXISTS r_sm;
DROP TABLE IF EXISTS r_bst;
SELECT COUNT(*) AS candidates FROM r_cand_all
