-- Every record's score by uid (after app_scored; the evaluation only).
SELECT uid, score FROM app_scored
