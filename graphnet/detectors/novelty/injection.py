"""Benign feedback re-injected into the fingerprints (Apache Spot style).

The approved observations of a benign verdict (`graphnet.feedback`) — the connections of its
reference window that fall in its scope and were novel there, or all in scope when that window
was not scored — become pseudo-edges of their own pairs, each connection counting `weight`
times and at least as much as the pair's whole baseline, so approved behaviour holds at least
half of its pair's fingerprint. `injection_from_frames` is pure; `injection` reads the
reference windows through the archive door.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from graphnet import windows
from graphnet.archive import Archive
from graphnet.config import Settings
from graphnet.detectors.novelty import fingerprints, stored
from graphnet.detectors.novelty.fingerprints import INJECTED, EdgeHistograms
from graphnet.feedback import Feedback, matches, subnet_lookup

log = logging.getLogger(__name__)


def approved(
    fb: Feedback,
    conns: pd.DataFrame,
    subnet_of: Callable[[str], str | None] | None = None,
) -> pd.DataFrame:
    """The feedback's approved observations among the reference window's connections: those
    in scope that were novel (the `novel` column of the window's scores), or all in scope when
    the window was not scored (no `novel` column)."""
    m = matches(fb, conns, subnet_of)
    if "novel" in conns.columns:
        m &= conns["novel"].to_numpy(dtype=bool)
    return conns[m]


def injection_from_frames(
    feedbacks: Sequence[Feedback],
    frames: Mapping[str, pd.DataFrame],
    baseline_pairs: pd.DataFrame | None,
    settings: Settings | None = None,
    subnet_of: Callable[[str], str | None] | None = None,
) -> EdgeHistograms | None:
    """Pseudo-edges of the approved observations of benign feedbacks (pure).

    `frames[window]` holds the reference window's connections (with a `novel` column when it
    was scored); `baseline_pairs` (src, dst, conns) the baseline size of each pair."""
    parts = []
    base = (
        baseline_pairs.groupby(["src", "dst"])["conns"].sum()
        if baseline_pairs is not None and len(baseline_pairs)
        else pd.Series(dtype="float64")
    )
    for fb in feedbacks:
        if fb.verdict != "benign" or not fb.window or fb.window not in frames:
            continue
        obs = approved(fb, frames[fb.window], subnet_of)
        if obs.empty:
            log.info("feedback %s approves no connection of %s", fb.id, fb.window)
            continue
        cols = [c for c in obs.columns if c in _CONN_COLUMNS]
        hist = fingerprints.edge_histograms_from_connections(
            obs[cols], windows.kind_of(fb.window), settings, fold=False, window=INJECTED
        )
        e = hist.edges
        matched = e["conns"].to_numpy(dtype="float64")
        key = pd.MultiIndex.from_frame(e[["src", "dst"]])
        before = base.reindex(key).fillna(0.0).to_numpy() if len(base) else np.zeros(len(e))
        w = np.maximum(fb.weight, before / np.maximum(matched, 1.0))
        parts.append(_scale(hist, w))
    if not parts:
        return None
    return fingerprints.concat_histograms(parts)


_CONN_COLUMNS = (
    "ts", "uid", "src", "dst", "sport", "dport", "proto", "service", "duration",
    "src_bytes", "dst_bytes", "src_pkts", "dst_pkts", "conn_state", "history", "line",
)  # fmt: skip


def _scale(hist: EdgeHistograms, w: np.ndarray) -> EdgeHistograms:
    edges = hist.edges.copy()
    edges["conns"] = edges["conns"].to_numpy(dtype="float64") * w
    comps = {
        c: fingerprints.CompEdges(ce.edge, ce.value, ce.n * w[ce.edge], ce.vocab, ce.distinct)
        for c, ce in hist.comps.items()
    }
    return EdgeHistograms(edges, comps)


def _window_frame(settings: Settings, window: str) -> pd.DataFrame:
    """A window's archived connections with the `novel` flags of its scores (if scored)."""
    archive = Archive(settings)
    conns = archive.connections([window])
    ws = stored.load_scores(archive, window)
    if ws is None or conns.empty:
        return conns
    flags = ws.connections[["uid", "ts", "novel"]].drop_duplicates(["uid", "ts"])
    merged = conns.merge(flags, on=["uid", "ts"], how="left")
    merged["novel"] = merged["novel"].fillna(False).astype(bool)
    return merged


def injection(
    feedbacks: Sequence[Feedback], settings: Settings, hist: EdgeHistograms
) -> EdgeHistograms | None:
    """Pseudo-edges for the benign feedbacks, from their windows' archived connections."""
    wins = sorted({fb.window for fb in feedbacks if fb.window})
    frames = {w: _window_frame(settings, w) for w in wins}
    base = hist.edges[["src", "dst", "conns"]] if len(hist.edges) else None
    subnet_of = subnet_lookup(settings)
    return injection_from_frames(feedbacks, frames, base, settings, subnet_of)
