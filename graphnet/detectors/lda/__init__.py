"""Suspicious connects: Apache Spot's netflow topic model, then improved where it is weak.

Spot (spot-ml, `FlowWordCreator` / `FlowSuspiciousConnectsModel` / `FlowScoreFunction`) turns
every flow into two *words*, one for each endpoint,

    portKey_proto_hour_ceil(log2(bytes+1))_ceil(log2(packets+1))

where the port key is `0` when both ports are 0, `111111` when both are <= 1024, `333333` when
both are > 1024, and otherwise the low (or the non-zero) port; the endpoint that owns that port
gets its word prefixed with `-1_`. Every IP is a document made of its words from both roles; LDA
learns topics (profiles of traffic); a flow's probability is, for each endpoint,
`sum_k P(word | topic k) * P(topic k | IP)`, and the flow keeps the smaller of the two. Words never
seen in training have probability 0 (most suspicious). Analyst feedback marks flows benign; Spot
re-injects them `DUPFACTOR` (1000) times into training.

graphnet keeps those words and that score (`variant="spot"` reproduces Spot exactly) and by
default (`variant="graphnet"`) changes what is weak (see docs/methods.md):

- fit on earlier windows and score the new one (Spot fits and scores the same day, so a large
  attack shapes its own topics);
- unseen words get a back-off probability below every seen word, ordered by how familiar the
  word's port and protocol are, instead of a tie at 0;
- a host that was not in training gets a topic mix inferred from its known words in the scored
  window (Spot: probability 0 for all its flows);
- analyst feedback is scoped (pair, source host, destination service, subnet pair) and stored
  in Neo4j; removing it removes its re-injection at the next fit.

Out of core: the step (`step.py`) has the archive's engine build the words and count them per
(host, word) in SQL (`graphnet/sql/lda_*.sql`); Python fits LDA on that sparse count matrix and
scores the window's distinct (host, word) pairs, whose scores the engine joins back to the
connections for the alerts, host scores, findings and top connections. The pure model
(`SuspiciousConnects`, frames in and out) shares the same fit and scoring core (`model.py`).
The model is a function of the connections alone, whatever the archive's files: documents are
taken in a canonical order (`model.canonical_docs`), and a history beyond `max_train_flows` is
sampled by a seeded hash of each connection's uid.

- `words`: Spot's words in pandas; `model`: settings, fit from counts, pair scoring, the pure
  model, explanations and host scores; `feedback`: the analysts' verdicts; `findings`: the
  `suspicious_connect` findings; `step`: the step on the archive and its result.
"""

from graphnet.detectors.lda.feedback import (
    benign_groups,
    feedback_flows,
    feedback_mask,
    load_feedback,
    match_table,
)
from graphnet.detectors.lda.findings import findings_from_scores, suspicious_connect
from graphnet.detectors.lda.model import (
    P_FLOOR,
    LdaModel,
    LdaSettings,
    PairScores,
    SuspiciousConnects,
    canonical_docs,
    coarse_shares,
    explain_rows,
    fit_counts,
    host_scores,
    host_scores_from_top,
    pair_codes,
    score_pairs,
)
from graphnet.detectors.lda.step import LdaResult, LdaRun, fit_window, run
from graphnet.detectors.lda.words import (
    CONN_COLUMNS,
    HIGH_TO_HIGH,
    LOW_TO_LOW,
    Variant,
    Words,
    flow_words,
    log2_bin,
    word_text,
)

__all__ = [
    "CONN_COLUMNS",
    "HIGH_TO_HIGH",
    "LOW_TO_LOW",
    "P_FLOOR",
    "LdaModel",
    "LdaResult",
    "LdaRun",
    "LdaSettings",
    "PairScores",
    "SuspiciousConnects",
    "Variant",
    "Words",
    "benign_groups",
    "canonical_docs",
    "coarse_shares",
    "explain_rows",
    "feedback_flows",
    "feedback_mask",
    "findings_from_scores",
    "fit_counts",
    "fit_window",
    "flow_words",
    "host_scores",
    "host_scores_from_top",
    "load_feedback",
    "log2_bin",
    "match_table",
    "pair_codes",
    "run",
    "score_pairs",
    "suspicious_connect",
    "word_text",
]
