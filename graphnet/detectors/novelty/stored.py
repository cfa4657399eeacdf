"""A window's novelty scores, kept for later steps, reports and feedback.

`WindowScores` is everything scoring one window produces; its per-conversation summary and
its per-connection scores are stored through the archive door as the window's `conversations`
and `novelty` results (with the scoring parameters as metadata) and read back by
`graphnet paths`, the report and the feedback re-injection.

The `novelty` result has one row per connection, with the columns of `score_connections` and
`novel` / `reported`, for the connections the readers need: every novel connection (paths and
feedback) and a systematic sample of the others (the report's chart) — every connection of a
window of at most `streamed.SAMPLE_ROWS` connections.
Its metadata says how many connections the window has (`connections`) and how many rows are
stored (`rows`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from graphnet.archive import Archive
from graphnet.detectors.novelty.parts import NoveltyParams
from graphnet.findings import Finding

SCORES = "novelty"
CONVERSATIONS = "conversations"


@dataclass
class WindowScores:
    """Everything scoring one window produces."""

    window: str
    baseline_windows: list[str]
    connections: pd.DataFrame  # per connection, see score_connections (+ novel, reported):
    #                            all of them (score_frame) or those kept (the step; see above)
    conversations: pd.DataFrame  # per (src, dst), see conversations (+ reported, explanation)
    findings: list[Finding]
    threshold: float | None
    top_k: int | None
    params: NoveltyParams
    feedback: tuple[str, ...] = ()


def _meta(ws: WindowScores) -> dict[str, Any]:
    return {
        "window": ws.window,
        "baseline_windows": ws.baseline_windows,
        "threshold": ws.threshold,
        "top_k": ws.top_k,
        "scale_bits": ws.params.scale_bits,
        "novel_p": ws.params.novel_p,
        "feedback": list(ws.feedback),
    }


def write_scores(archive: Archive, ws: WindowScores, connections: int | None = None) -> None:
    """Per-connection scores and per-conversation summary of a window (`connections`: how
    many the window has, when not all of them are in `ws.connections`)."""
    meta = _meta(ws)
    meta["connections"] = len(ws.connections) if connections is None else int(connections)
    meta["rows"] = len(ws.connections)
    archive.write_result(ws.window, SCORES, ws.connections, meta)
    archive.write_result(ws.window, CONVERSATIONS, ws.conversations, meta)


def load_scores(archive: Archive, window: str) -> WindowScores | None:
    """The scores stored for a window (findings not included), or None."""
    conns = archive.read_result(window, SCORES)
    convs = archive.read_result(window, CONVERSATIONS)
    if conns is None or convs is None:
        return None
    meta = conns.meta
    params = NoveltyParams(
        scale_bits=float(meta.get("scale_bits", 10.0)), novel_p=float(meta.get("novel_p", 0.01))
    )
    return WindowScores(
        window=window,
        baseline_windows=list(meta.get("baseline_windows", [])),
        connections=conns.frame,
        conversations=convs.frame,
        findings=[],
        threshold=meta.get("threshold"),
        top_k=meta.get("top_k"),
        params=params,
        feedback=tuple(meta.get("feedback", [])),
    )
