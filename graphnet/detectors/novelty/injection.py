"""Benign feedback re-injected into the fingerprints (Apache Spot style).

The approved observations of a benign verdict (`graphnet.feedback`) — the connections of its
reference window that fall in its scope and were novel there, or all in scope when that window
was not scored — become pseudo-edges of their own pairs, each connection counting `weight`
times and at least as much as the pair's whole baseline, so approved behaviour holds at least
half of its pair's fingerprint. `injection_from_frames` is pure (small frames, tests);
`injection` asks the analytical engine for the approved observations' histograms of each
reference window (`novelty_approved.sql`): a window's connections never come into memory,
only the hosts' pairs and the novel connections' ids of its stored scores.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from graphnet import windows
from graphnet.archive import Archive
from graphnet.config import Settings
from graphnet.detectors.novelty import histograms, stored
from graphnet.detectors.novelty.histograms import INJECTED, EdgeHistograms
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
        hist = histograms.edge_histograms_from_connections(
            obs[cols], windows.kind_of(fb.window), settings, fold=False, window=INJECTED
        )
        parts.append(_scale(hist, _weights(fb, hist.edges, base)))
    if not parts:
        return None
    return histograms.concat_histograms(parts)


_CONN_COLUMNS = (
    "ts", "uid", "src", "dst", "sport", "dport", "proto", "service", "duration",
    "src_bytes", "dst_bytes", "src_pkts", "dst_pkts", "conn_state", "history", "line",
)  # fmt: skip


def _scale(hist: EdgeHistograms, w: np.ndarray) -> EdgeHistograms:
    edges = hist.edges.copy()
    edges["conns"] = edges["conns"].to_numpy(dtype="float64") * w
    comps = {
        c: histograms.CompEdges(ce.edge, ce.value, ce.n * w[ce.edge], ce.vocab, ce.distinct)
        for c, ce in hist.comps.items()
    }
    return EdgeHistograms(edges, comps)


def _weights(fb: Feedback, edges: pd.DataFrame, base: pd.Series) -> np.ndarray:
    """Per pseudo-edge: each approved connection counts `fb.weight` times, and the edge at least
    as much as its pair's whole baseline."""
    matched = edges["conns"].to_numpy(dtype="float64")
    key = pd.MultiIndex.from_frame(edges[["src", "dst"]])
    before = base.reindex(key).fillna(0.0).to_numpy() if len(base) else np.zeros(len(edges))
    w: np.ndarray = np.maximum(fb.weight, before / np.maximum(matched, 1.0))
    return w


def _novel_flags(archive: Archive, window: str) -> pa.Table | None:
    """uid and ts of the novel connections of a window's stored scores; None when the window
    was not scored (then every connection in scope is approved)."""
    if archive.result_meta(window, stored.CONVERSATIONS) is None:
        return None
    got = archive.read_result(window, stored.SCORES, columns=["uid", "ts", "novel"])
    if got is None:
        return None
    f = got.frame
    f = f[f["novel"].to_numpy(dtype=bool)].drop_duplicates(["uid", "ts"])
    return pa.table(
        {
            "uid": pa.array(f["uid"].astype(str).tolist(), type=pa.string()),
            "ts": pa.array(f["ts"].to_numpy(dtype="float64"), type=pa.float64()),
        }
    )


def approved_histograms(
    archive: Archive,
    fb: Feedback,
    settings: Settings,
    subnet_of: Callable[[str], str | None] | None = None,
) -> EdgeHistograms | None:
    """The approved observations of a benign feedback in its reference window as unfolded
    pseudo-edge histograms (window INJECTED, unweighted), or None when it approves nothing.
    The feedback's hosts are matched on the window's distinct pairs (`feedback.matches`), its
    port and service and the novel flags by the engine."""
    assert fb.window is not None
    window = fb.window
    flags = _novel_flags(archive, window)
    with archive.session({"conns": [window]}, parts=["conns"]) as s:
        pairs = s.table("novelty_window_pairs").to_pandas()
        hosts_only = dataclasses.replace(fb, port=None, service=None)
        scope = pairs[matches(hosts_only, pairs, subnet_of)] if len(pairs) else pairs
        if scope.empty:
            return None
        s.lookup(
            "novelty_scope",
            pa.table(
                {
                    "src": pa.array(scope["src"].tolist(), type=pa.string()),
                    "dst": pa.array(scope["dst"].tolist(), type=pa.string()),
                }
            ),
        )
        empty = pa.table({"uid": pa.array([], pa.string()), "ts": pa.array([], pa.float64())})
        s.lookup("novelty_flags", flags if flags is not None else empty)
        params = {"port": fb.port, "service": fb.service or None, "scored": flags is not None}
        values = s.table("novelty_approved", params)
        edges = s.table("novelty_approved_edges")
    if edges.num_rows == 0:
        return None
    frame = edges.to_pandas()
    key = pd.MultiIndex.from_frame(frame[["src", "dst"]])
    vals = values.to_pandas()
    edge = key.get_indexer(pd.MultiIndex.from_frame(vals[["src", "dst"]]))
    table = pa.table(
        {
            "edge": pa.array(edge, type=pa.int64()),
            "component": pa.array(vals["component"].tolist(), type=pa.string()),
            "value": pa.array(vals["value"].tolist(), type=pa.string()),
            "n": pa.array(vals["n"].to_numpy(dtype="float64"), type=pa.float64()),
        }
    )
    frame["win"] = INJECTED
    hist = histograms.edge_histograms_from_tables(pa.Table.from_pandas(frame), table, settings)
    hist.edges["window"] = INJECTED
    return hist


def injection(
    feedbacks: Sequence[Feedback], settings: Settings, hist: EdgeHistograms
) -> EdgeHistograms | None:
    """Pseudo-edges for the benign feedbacks, from their windows' archived connections."""
    archive = Archive(settings)
    base = (
        hist.edges.groupby(["src", "dst"])["conns"].sum()
        if len(hist.edges)
        else pd.Series(dtype="float64")
    )
    subnet_of = subnet_lookup(settings)
    present = set(archive.windows())
    parts = []
    for fb in feedbacks:
        if fb.verdict != "benign" or not fb.window or fb.window not in present:
            continue
        got = approved_histograms(archive, fb, settings, subnet_of)
        if got is None:
            log.info("feedback %s approves no connection of %s", fb.id, fb.window)
            continue
        parts.append(_scale(got, _weights(fb, got.edges, base)))
    if not parts:
        return None
    return histograms.concat_histograms(parts)
