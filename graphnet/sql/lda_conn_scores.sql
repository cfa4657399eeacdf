-- Every connection's score (after lda_summary): for the evaluation only (ConnectionScores).
SELECT uid, score FROM lda_scored
