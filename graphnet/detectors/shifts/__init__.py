"""Centrality shifts: how much each host's place in the graph changed against its own history.

For a window that has a snapshot, every host's metrics are compared with its earlier snapshots
(by default the 4 before it): a robust z-score per metric (median and MAD of the host's own
history; the MAD is floored by the population's typical window-to-window change *at the host's
level* and by a fixed floor, so a flat history never divides by zero), a PageRank percentile
jump, the out/in balance (client-like vs server-like role) and whether it became a hub. Counts
and volumes are compared in log space started at the average host's level, and each z is
weighted by the evidence (connections) it rests on, so that hosts with a handful of connections
cannot produce 50-sigma shifts. One score per host (the mean of its three largest saturated
group values) with its parts, a sentence for the analyst and a Cypher query that opens the host
in Neo4j Browser. Graph-level change (new and vanished edges, hosts that changed community) is
reported with it.

`CentralityShiftDetector` is the pure model (`fit(history)` / `score(observations)`);
`score_window` builds a report from metric tables (pure); `shift_report` reads the snapshots
from the store; `run` is the registry step (findings of kind `centrality_shift`, saved by the
pipeline: a re-run replaces them).

Files follow the step: `model` (the pure model and its settings), `report` (`score_window`, the
report's rows and Browser queries, pure) and `step` (the store's side and the registry step).
"""

from graphnet.detectors.shifts.model import (
    KIND,
    LABELS,
    NOT_ENOUGH_HISTORY,
    SCORED,
    CentralityShiftDetector,
    ShiftSettings,
    derive,
)
from graphnet.detectors.shifts.report import (
    GraphChange,
    ShiftReport,
    ShiftRow,
    browser_query,
    community_moves,
    score_window,
)
from graphnet.detectors.shifts.step import ShiftOptions, run, shift_report

__all__ = [
    "KIND",
    "LABELS",
    "NOT_ENOUGH_HISTORY",
    "SCORED",
    "CentralityShiftDetector",
    "GraphChange",
    "ShiftOptions",
    "ShiftReport",
    "ShiftRow",
    "ShiftSettings",
    "browser_query",
    "community_moves",
    "derive",
    "run",
    "score_window",
    "shift_report",
]
