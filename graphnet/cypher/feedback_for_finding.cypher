// How much feedback of a verdict still refers to a finding.
MATCH (fb:Feedback {finding: $finding, verdict: $verdict})
RETURN count(fb) AS n
