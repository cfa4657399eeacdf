"""Centrality shifts, the registry step: the snapshots read from the store, scored by
`score_window`, findings of kind `centrality_shift`."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from graphnet.detectors import snapshots
from graphnet.detectors.contract import Context, DetectorRun
from graphnet.detectors.shifts.model import KIND, ShiftSettings
from graphnet.detectors.shifts.report import ShiftReport, pair_keys, score_window
from graphnet.errors import NotEnoughHistory
from graphnet.findings import Finding
from graphnet.store.protocol import GraphStore

log = logging.getLogger(__name__)

#: hosts whose explanation the step's evidence keeps (the highest scores)
EVIDENCE_ROWS = 50


# --------------------------------------------------------------------------------------------
# store
# --------------------------------------------------------------------------------------------
def _pairs(store: GraphStore, window: str) -> np.ndarray:
    """The `pair_keys` of a window's edges: the names are let go of as soon as they are keys."""
    rows = store.read_values("shift_window_pairs", window=window)
    if not rows or not rows[0]["src"]:
        return pair_keys([], [])
    return pair_keys(rows[0]["src"], rows[0]["dst"])


@dataclass(frozen=True)
class ShiftOptions:
    """How many rows the report lists and how many earlier snapshots it compares with."""

    top: int = 20
    history: int = 4


def shift_report(
    store: GraphStore,
    window: str | None = None,
    top: int = 20,
    history: int = 4,
    settings: ShiftSettings | None = None,
    detail: int | None = None,
) -> tuple[ShiftReport, pd.DataFrame]:
    """Score the hosts of `window` (default: the latest window with a snapshot) against their
    `history` earlier snapshots: the report (top `top` rows) and the score table (see
    `score_window` for `detail`).

    A window with fewer than `settings.min_history` earlier snapshots gives a report with
    status "not enough history" and no rows. Raises NotEnoughHistory only when there is no
    snapshot to score at all (none yet, or none for `window`)."""
    s = settings or ShiftSettings()
    done = snapshots.snapshots(store)
    wins = [str(w) for w in done["window"]]
    if not wins:
        raise NotEnoughHistory(
            "no snapshots yet", hint="compute them with `graphnet snapshot --all`"
        )
    if window is None:
        window = wins[-1]
    elif window not in wins:
        raise NotEnoughHistory(
            f"window {window} has no snapshot",
            hint=f"compute it with `graphnet snapshot --window {window}`",
        )
    earlier = [w for w in wins if w < window][-history:] if history > 0 else []
    cur_pairs = _pairs(store, window)
    prev_pairs = _pairs(store, earlier[-1]) if earlier else None
    # the metric table handed over without a reference kept here: `score_window` lets it go
    # once the model is fitted, before the hosts are scored
    return score_window(
        snapshots.measures(store, [*earlier, window]),
        window,
        earlier,
        top,
        s,
        cur_pairs,
        prev_pairs,
        detail,
    )


def run(ctx: Context) -> DetectorRun:
    """The window's hosts scored against their earlier snapshots; the rows scoring at least
    `finding_score` (among the top `top`) as `centrality_shift` findings."""
    s = ctx.option(ShiftSettings) or ShiftSettings()
    opts = ctx.option(ShiftOptions) or ShiftOptions()
    report, table = shift_report(
        ctx.graph(), ctx.window, opts.top, opts.history, s, detail=EVIDENCE_ROWS
    )
    keep = [
        Finding(
            kind=KIND,
            window=report.window,
            score=r.score,
            hosts=[r.host],
            explanation=r.explanation,
            parts=r.parts,
            cypher=r.cypher,
            evidence={"rank": r.rank, "history": report.history},
        )
        for r in report.rows
        if r.score >= s.finding_score
    ]
    report.findings_saved = len(keep) if ctx.save else 0
    log.info(
        "shifts %s: %s (%d rows, %d findings)",
        report.window,
        report.status,
        len(report.rows),
        len(keep),
    )
    if report.status != "ok" or table.empty:
        return DetectorRun(
            "shifts", report.window, report.message, detail=report, skipped=report.message
        )
    hs = table["score"].astype("float64")
    hs.index = hs.index.map(str)
    ev = table["explanation"].astype(str) if "explanation" in table else pd.Series(dtype=str)
    return DetectorRun(
        step="shifts",
        window=report.window,
        summary=f"{report.message}; {len(keep)} findings",
        host_scores=hs.sort_values(ascending=False),
        findings=keep,
        alerts=float(min(opts.top, int((hs >= s.finding_score).sum()))),
        evidence={str(h): str(e) for h, e in ev.head(EVIDENCE_ROWS).items()},
        info={"history": report.history},
        detail=report,
    )
