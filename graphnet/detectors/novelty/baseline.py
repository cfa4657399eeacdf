"""Fingerprints as of a window, from the archive and the graph: the baseline of novelty.

The store path of `fingerprints` (which is pure): the baseline windows before a window (the
graph's list of windows), their edge histograms and (proto, service, dport, conn_state) counts
computed from the connection archive by the analytical engine (`novelty_edge_values.sql`,
`novelty_joint.sql`: aggregates only, never a window of connections in memory; the counts
cached as a stored result per window), the analysts' benign feedback re-injected
(`injection`), and the fingerprints written back to Neo4j as `(:Fingerprint)` nodes for Neo4j
Browser. `run` is the registry's `fingerprints` step.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from graphnet import accumulate, windows
from graphnet.archive import Archive
from graphnet.config import Settings
from graphnet.detectors.contract import Context, DetectorRun
from graphnet.detectors.novelty import injection
from graphnet.detectors.novelty.fingerprints import (
    DEFAULT_BASELINE,
    JOINT,
    LEVELS,
    ZONES,
    EdgeHistograms,
    Fingerprints,
    build,
    edge_histograms_from_tables,
)
from graphnet.errors import NotEnoughHistory
from graphnet.feedback import active_benign
from graphnet.store.protocol import GraphStore

log = logging.getLogger(__name__)

JOINT_RESULT = "joint"


# --------------------------------------------------------------------------------------------
# the store path
# --------------------------------------------------------------------------------------------
def baseline_windows(store: GraphStore, window: str, baseline: int = DEFAULT_BASELINE) -> list[str]:
    """The up to `baseline` windows with data before `window`, oldest first."""
    if baseline < 1:
        raise ValueError("baseline must be at least one window")
    present = [str(r["window"]) for r in store.read("windows_list")]
    before = [w for w in present if w < window]
    return before[-baseline:]


def archive_edges(archive: Archive, windows_: Sequence[str], settings: Settings) -> EdgeHistograms:
    """The folded edge histograms of the archived connections of the given windows, aggregated
    by the engine (one pass over the windows; the result grows with edges, not connections)."""
    if not windows_:
        return EdgeHistograms.empty()
    params = {"top_ports": settings.top_ports, "top_history": settings.top_history}
    with archive.session({"conns": list(windows_)}, parts=["conns"]) as s:
        values = s.table("novelty_edge_values", params)
        edges = s.table("novelty_edges")
    return edge_histograms_from_tables(edges, values, settings)


def window_joint(archive: Archive, window: str) -> pd.DataFrame | None:
    """(proto, service, dport, conn_state) counts of a window, stored as a result of the
    window and recomputed (by the engine) when the window's archive changed."""
    if not archive.files(window):
        return None
    stamp = archive.stamp(window)
    meta = archive.result_meta(window, JOINT_RESULT)
    if meta is not None and meta.get("stamp") == stamp:
        got = archive.read_result(window, JOINT_RESULT)
        if got is not None:
            return got.frame
    counts = archive.query("novelty_joint", {"conns": [window]}, parts=["conns"]).to_pandas()
    counts = counts.astype({c: object for c in JOINT}).astype({"n": "float64"})
    archive.write_result(window, JOINT_RESULT, counts, {"stamp": stamp})
    return counts


def baseline_joint(archive: Archive, windows_: Sequence[str]) -> pd.DataFrame | None:
    parts = [j for j in (window_joint(archive, w) for w in windows_) if j is not None]
    if not parts:
        return None
    allj = pd.concat(parts, ignore_index=True)
    out: pd.DataFrame = allj.groupby(list(JOINT), sort=False)["n"].sum().reset_index()
    return out


def _signature(
    as_of: str, sizes: Mapping[str, Any], feedback_ids: Sequence[str], settings: Settings
) -> str:
    text = json.dumps(
        {
            "as_of": as_of,
            "sizes": sizes,
            "feedback": sorted(feedback_ids),
            "top": [settings.top_ports, settings.top_history],
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def build_fingerprints(
    store: GraphStore,
    window: str,
    settings: Settings,
    baseline: int = DEFAULT_BASELINE,
    *,
    save: bool = True,
    use_feedback: bool = True,
    archive: Archive | None = None,
) -> Fingerprints:
    """Fingerprints as of `window`, from the archived connections of the `baseline` windows
    with data before it (never `window` itself), with benign feedback re-injected; written to
    Neo4j unless `save` is false (skipped when the stored set is already up to date). Read
    through a time split view (`archive`), a window without earlier windows learns from its
    first part (`Archive.history` gives it).

    Raises NotEnoughHistory when no earlier window holds data."""
    windows.kind_of(window)
    archive = archive or Archive(settings)
    base: list[str] = baseline_windows(store, window, baseline)
    if not base and archive.split is not None:
        base = archive.history(window, 0.0)
    if not base:
        raise NotEnoughHistory(
            f"no window before {window} holds data to learn normal behaviour from",
            hint="ingest earlier logs first; the first window of a graph cannot be scored",
        )
    sizes = {str(r["window"]): [r["edges"], r["connections"]] for r in store.read("windows_list")}
    hist = archive_edges(archive, base, settings)
    approved = active_benign(store, before=window) if use_feedback else []
    injected = injection.injection(approved, settings, hist) if approved else None
    fp = build(
        window,
        hist,
        injected=injected,
        joint=baseline_joint(archive, base),
        feedback=[f.id for f in approved],
        settings=settings,
        split=archive.split is not None and window in base,
    )
    # what the fingerprints are made of: the graph's sizes and the archive's files
    made_of = {w: [sizes.get(w), archive.stamp(w)] for w in base}
    fp.meta["signature"] = _signature(window, made_of, fp.feedback, settings)
    fp.meta["baseline"] = baseline
    if save:
        save_fingerprints(store, fp)
    return fp


# --------------------------------------------------------------------------------------------
# Neo4j representation
# --------------------------------------------------------------------------------------------
#: the components a stored fingerprint lists, as a `TALKED` edge does (what a person exploring
#: the graph reads); the other components stay in the archive, where novelty computes them
STORED_COMPONENTS: tuple[str, ...] = accumulate.EDGE_COMPONENTS


def fingerprint_rows(
    fp: Fingerprints,
    levels: Iterable[str] = LEVELS,
    components: Sequence[str] = STORED_COMPONENTS,
) -> list[dict[str, Any]]:
    """One dict per (level, key) for `fingerprint_write.cypher`: per component of
    `components`, its values and counts as two lists, most frequent first, and the readable
    summary a `TALKED` edge has (`services`, `ports`, `states`: `accumulate.summary`)."""
    rows: list[dict[str, Any]] = []
    for lvl in levels:
        if lvl == "pair":
            n_keys = fp.n_pairs
            src = fp.hosts.to_numpy(dtype=object)[fp.pairs["src"].to_numpy()] if n_keys else []
            dst = fp.hosts.to_numpy(dtype=object)[fp.pairs["dst"].to_numpy()] if n_keys else []
            ids = [(s, d) for s, d in zip(src, dst, strict=True)]
        elif lvl in ("client", "server"):
            n_keys = len(fp.hosts)
            ids = [
                (h, None) if lvl == "client" else (None, h) for h in fp.hosts.to_numpy(dtype=object)
            ]
        elif lvl == "zone_pair":
            n_keys = 4
            ids = [(ZONES[k // 2], ZONES[k % 2]) for k in range(4)]
        elif lvl == "subnet_pair":
            n_keys = len(fp.sp_keys)
            S = max(len(fp.subnets), 1)
            lab = fp.subnets.to_numpy(dtype=object)
            ids = [(lab[k // S], lab[k % S]) for k in fp.sp_keys]
        else:
            n_keys, ids = 1, [(None, None)]
        props: list[dict[str, Any]] = [{} for _ in range(n_keys)]
        totals = np.zeros(n_keys)
        for comp in components:
            lh = fp.levels[comp][lvl]
            if len(lh.keys) == 0:
                continue
            totals = np.maximum(totals, lh.total)
            k = lh.keys // lh.V
            v = lh.keys % lh.V
            # by key, most frequent first (keys are sorted by (key, value) already)
            order = np.argsort(k * (float(lh.n.max()) + 1.0) - lh.n, kind="stable")
            n = np.round(lh.n[order], 3)
            # Neo4j lists are homogeneous: integers unless feedback weights made fractions
            whole = bool(np.all(n == np.floor(n)))
            values = fp.vocab[comp].to_numpy(dtype=object)[v[order]].tolist()
            counts = (n.astype(np.int64) if whole else n).tolist()
            ks = k[order]
            starts = np.flatnonzero(np.concatenate([[True], ks[1:] != ks[:-1]]))
            ends = np.append(starts[1:], len(ks))
            kk, fk, fn = f"{comp}_k", f"{comp}_n", props
            for key, a, b in zip(ks[starts].tolist(), starts.tolist(), ends.tolist(), strict=True):
                fn[key][kk] = values[a:b]
                fn[key][fk] = counts[a:b]
        active = fp.pairs["windows"].to_numpy().tolist()
        injected = fp.pairs["injected"].to_numpy().tolist()
        for i, (a, b) in enumerate(ids):
            if totals[i] <= 0:
                continue
            p = props[i]
            p["conns"] = float(totals[i])
            for comp in components:
                if f"{comp}_k" in p and comp in accumulate.SUMMARY_PROPS:
                    p[accumulate.SUMMARY_PROPS[comp]] = accumulate.summary(
                        p[f"{comp}_k"], p[f"{comp}_n"]
                    )
            if lvl == "pair":
                p["windows_active"] = int(active[i])
                p["feedback_conns"] = float(injected[i])
            key_text = "\x1f".join([lvl, fp.as_of, str(a), str(b)])
            rows.append(
                {
                    "id": hashlib.sha1(key_text.encode()).hexdigest()[:20],
                    "level": lvl,
                    "src": a,
                    "dst": b,
                    "client": a if lvl in ("pair", "client") else None,
                    "server": b if lvl in ("pair", "server") else None,
                    "props": p,
                }
            )
    return rows


def save_fingerprints(store: GraphStore, fp: Fingerprints, batch_size: int = 2000) -> int:
    """Replace the stored fingerprints as of `fp.as_of` (skipped when already up to date)."""
    sig = fp.meta.get("signature", "")
    got = [r["props"] for r in store.read("fingerprint_set_get", as_of=fp.as_of)]
    if got and sig and got[0].get("signature") == sig and got[0].get("complete"):
        log.info("fingerprints as of %s are up to date", fp.as_of)
        return 0
    store.write("fingerprint_set_begin", as_of=fp.as_of, signature=sig)
    while store.write("fingerprint_delete_some", as_of=fp.as_of, limit=10000)[0]["deleted"]:
        pass
    rows = fingerprint_rows(fp)
    n = store.write_batches(
        "fingerprint_write",
        rows,
        batch_size=batch_size,
        as_of=fp.as_of,
        baseline_windows=fp.windows,
    )
    store.write(
        "fingerprint_set_finish",
        as_of=fp.as_of,
        signature=sig,
        windows=fp.windows,
        pairs=fp.n_pairs,
        conns=fp.conns,
        feedback=list(fp.feedback),
    )
    log.info("stored %d fingerprints as of %s", n, fp.as_of)
    return n


@dataclass
class FingerprintResult:
    as_of: str
    windows: list[str]
    pairs: int
    conns: float
    stored: int
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "baseline_windows": self.windows,
            "pairs": self.pairs,
            "connections": self.conns,
            "stored": self.stored,
            "seconds": round(self.seconds, 3),
        }


def fingerprint(
    store: GraphStore,
    settings: Settings,
    window: str | None = None,
    *,
    all_windows: bool = False,
    baseline: int = DEFAULT_BASELINE,
    progress: Callable[[str], None] | None = None,
) -> list[FingerprintResult]:
    """`graphnet fingerprint [--window W | --all]`: build and store the fingerprints as of W
    (default: the latest window), or as of every window that has an earlier one."""
    present = [str(r["window"]) for r in store.read("windows_list")]
    if all_windows:
        targets = present[1:]
    else:
        if window is None:
            if not present:
                raise NotEnoughHistory("the graph holds no windows", hint="ingest logs first")
            window = present[-1]
        targets = [window]
    out = []
    for w in targets:
        t0 = time.perf_counter()
        fp = build_fingerprints(store, w, settings, baseline, save=False)
        stored = save_fingerprints(store, fp)
        out.append(
            FingerprintResult(w, fp.windows, fp.n_pairs, fp.conns, stored, time.perf_counter() - t0)
        )
        if progress:
            progress(w)
    return out


@dataclass(frozen=True)
class BaselineOptions:
    """How many earlier windows make the fingerprints of a window."""

    baseline: int = DEFAULT_BASELINE


@dataclass
class FingerprintStep:
    """The fingerprints step's result: what `novelty` scores against, in the same pass."""

    result: FingerprintResult
    fingerprints: Fingerprints

    def to_json(self) -> dict[str, Any]:
        return self.result.to_json()


def run(ctx: Context) -> DetectorRun:
    """The registry step: the fingerprints as of the window, stored for Neo4j Browser (when
    `ctx.save`) and handed to the novelty step of the same pass."""
    baseline = (ctx.option(BaselineOptions) or BaselineOptions()).baseline
    store = ctx.graph()
    t0 = time.perf_counter()
    fp = build_fingerprints(
        store, ctx.window, ctx.settings, baseline, save=False, archive=ctx.archive
    )
    stored = save_fingerprints(store, fp) if ctx.save else 0
    res = FingerprintResult(
        ctx.window, fp.windows, fp.n_pairs, fp.conns, stored, time.perf_counter() - t0
    )
    summary = (
        f"{fp.n_pairs:,} pairs from {', '.join(fp.windows)} ({fp.conns:,.0f} connections), "
        f"{stored:,} fingerprints stored"
    )
    return DetectorRun(
        "fingerprints",
        ctx.window,
        summary,
        info={"baseline_windows": fp.windows, "baseline": baseline},
        detail=FingerprintStep(res, fp),
    )
