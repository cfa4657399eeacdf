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

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from graphnet import accumulate, windows
from graphnet.archive import Archive
from graphnet.config import Settings
from graphnet.detectors.contract import Context, DetectorRun
from graphnet.detectors.novelty import fingerprints, histograms, injection, pairlevel, streamed
from graphnet.detectors.novelty.fingerprints import (
    DEFAULT_BASELINE,
    HOST_LEVELS,
    JOINT,
    LEVELS,
    ZONES,
    Fingerprints,
    build,
)
from graphnet.detectors.novelty.histograms import (
    COMPONENTS,
    EdgeHistograms,
    edge_histograms_from_batches,
    fold_limits,
)
from graphnet.errors import NotEnoughHistory
from graphnet.feedback import Feedback, active_benign
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
    by the engine (one pass over the windows; the result grows with edges, not connections),
    every component read (`archive_edges_open` reads them one at a time, when asked)."""
    with archive_edges_open(archive, windows_, settings) as hist:
        return histograms.materialised(hist)


@contextlib.contextmanager
def archive_edges_open(
    archive: Archive, windows_: Sequence[str], settings: Settings
) -> Iterator[EdgeHistograms]:
    """The folded edge histograms of the given windows, their components read from the
    engine when asked for (`histograms.CompSource`: one at a time, turned into numbers as
    they stream in), while the block runs: the engine's session stays open meanwhile, lean
    (`Session.lean`)."""
    if not windows_:
        yield EdgeHistograms.empty()
        return
    top = fold_limits(settings)
    with archive.session({"conns": list(windows_)}, parts=["conns"]) as s:
        s.scalar("novelty_edge_values", {"top_ports": top["dport"], "top_history": top["history"]})
        edges = s.table("novelty_edges")

        def rows(comp: str) -> Iterator[pa.RecordBatch]:
            return s.batches("novelty_edge_component", {"component": comp})

        # the engine's tables are made: while the build turns them into arrays, one component
        # at a time, the engine keeps little in memory (its tables spill), so that the two
        # together stay near the engine's limit; the edges' table is let go once made into
        # the histograms' frame
        with s.lean():
            hist = edge_histograms_from_batches(edges, LazyComponents(rows), settings)
            del edges
            yield hist


class LazyComponents(Mapping[str, Iterator[pa.RecordBatch]]):
    """component -> its batches, asked of the engine only when read."""

    def __init__(self, rows: Callable[[str], Iterator[pa.RecordBatch]]) -> None:
        self._rows = rows

    def __getitem__(self, comp: str) -> Iterator[pa.RecordBatch]:
        if comp not in COMPONENTS:
            raise KeyError(comp)
        return self._rows(comp)

    def __iter__(self) -> Iterator[str]:
        return iter(COMPONENTS)

    def __len__(self) -> int:
        return len(COMPONENTS)


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
    pairs_apart: bool = False,
) -> Fingerprints:
    """Fingerprints as of `window`, from the archived connections of the `baseline` windows
    with data before it (never `window` itself), with benign feedback re-injected; written to
    Neo4j unless `save` is false (skipped when the stored set is already up to date). Read
    through a time split view (`archive`), a window without earlier windows learns from its
    first part (`Archive.history` gives it).

    The edge histograms are read one component at a time while the fingerprint is built. With
    `pairs_apart`, the pair, subnet-pair, client and server levels of each component are
    written as they are made to the window's results (`APART_RESULTS`) and never held whole
    (`fp.apart`; novelty reads them batch by batch, `pairlevel.pair_view`).

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
    approved = active_benign(store, before=window) if use_feedback else []
    fp = fingerprints_from_archive(archive, window, base, settings, approved, pairs_apart)
    # what the fingerprints are made of: the graph's sizes and the archive's files
    made_of = {w: [sizes.get(w), archive.stamp(w)] for w in base}
    fp.meta["signature"] = _signature(window, made_of, fp.feedback, settings)
    fp.meta["baseline"] = baseline
    if save:
        save_fingerprints(store, fp, archive=archive)
    return fp


def fingerprints_from_archive(
    archive: Archive,
    window: str,
    base: Sequence[str],
    settings: Settings,
    approved: Sequence[Feedback] = (),
    pairs_apart: bool = False,
) -> Fingerprints:
    """`build_fingerprints` once its baseline windows `base` and the approved feedback are
    known (nothing read from the graph): the archive's edge histograms of `base`, one
    component at a time, built into the fingerprints as of `window` (see there)."""
    joint = baseline_joint(archive, base)
    with contextlib.ExitStack() as stack:
        hist = stack.enter_context(archive_edges_open(archive, base, settings))
        injected = injection.injection(approved, settings, hist) if approved else None
        sinks: dict[str, Callable[[int, fingerprints.LevelHist], None]] = {}
        if pairs_apart:
            meta = {"as_of": window, "windows": list(base)}
            for lvl, name in APART_RESULTS.items():
                out = stack.enter_context(
                    archive.result_writer(window, name, pairlevel.LEVEL_SCHEMA, meta)
                )
                sinks[lvl] = _sink(out)

        fp = build(
            window,
            hist,
            injected=injected,
            joint=joint,
            feedback=[f.id for f in approved],
            settings=settings,
            split=archive.split is not None and window in base,
            consume=True,  # one component's edge rows at a time, dropped once aggregated
            sinks=sinks,
        )
    if pairs_apart:
        fp.apart = {lvl: (window, name) for lvl, name in APART_RESULTS.items()}
    return fp


def _sink(out: Any) -> Callable[[int, fingerprints.LevelHist], None]:
    """A `build` sink writing one component's level to a result writer."""

    def sink(ci: int, lh: fingerprints.LevelHist) -> None:
        for batch in pairlevel.level_batches(ci, lh):
            out.write(batch)

    return sink


# --------------------------------------------------------------------------------------------
# Neo4j representation
# --------------------------------------------------------------------------------------------
#: the components a stored fingerprint lists, as a `TALKED` edge does (what a person exploring
#: the graph reads); the other components stay in the archive, where novelty computes them
STORED_COMPONENTS: tuple[str, ...] = accumulate.EDGE_COMPONENTS


#: keys (pairs, hosts, ...) whose fingerprint rows are made at a time: the rows written to Neo4j
#: are produced in chunks, so their Python objects never grow with the number of pairs
ROW_CHUNK = 20_000


def fingerprint_rows(
    fp: Fingerprints,
    levels: Iterable[str] = LEVELS,
    components: Sequence[str] = STORED_COMPONENTS,
) -> list[dict[str, Any]]:
    """One dict per (level, key) for `fingerprint_write.cypher` (all of them: tests, small
    fingerprints; `iter_fingerprint_rows` gives the same rows in bounded chunks)."""
    return list(iter_fingerprint_rows(fp, levels, components))


def _level_ids(fp: Fingerprints, lvl: str, lo: int, hi: int) -> list[tuple[Any, Any]]:
    """The (src, dst) ends of the keys lo..hi-1 of a level."""
    if lvl == "pair":
        hosts = fp.hosts.to_numpy(dtype=object)
        src = hosts[fp.pairs["src"].to_numpy()[lo:hi]]
        dst = hosts[fp.pairs["dst"].to_numpy()[lo:hi]]
        return list(zip(src.tolist(), dst.tolist(), strict=True))
    if lvl in ("client", "server"):
        # a view's host level holds some hosts, numbered from 0 (LevelHist.index)
        index = fp.levels[COMPONENTS[0]][lvl].index if fp.levels else None
        codes = np.arange(lo, hi) if index is None else index[lo:hi]
        hs = fp.hosts.to_numpy(dtype=object)[codes].tolist()
        return [(h, None) if lvl == "client" else (None, h) for h in hs]
    if lvl == "zone_pair":
        return [(ZONES[k // 2], ZONES[k % 2]) for k in range(lo, hi)]
    if lvl == "subnet_pair":
        S = max(len(fp.subnets), 1)
        lab = fp.subnets.to_numpy(dtype=object)
        return [(lab[k // S], lab[k % S]) for k in fp.sp_keys[lo:hi].tolist()]
    return [(None, None)]


def _level_size(fp: Fingerprints, lvl: str) -> int:
    return {
        "pair": fp.n_pairs,
        "client": len(fp.hosts),
        "server": len(fp.hosts),
        "zone_pair": 4,
        "subnet_pair": len(fp.sp_keys),
    }.get(lvl, 1)


def iter_fingerprint_rows(
    fp: Fingerprints,
    levels: Iterable[str] = LEVELS,
    components: Sequence[str] = STORED_COMPONENTS,
    chunk: int = ROW_CHUNK,
    archive: Archive | None = None,
) -> Iterator[dict[str, Any]]:
    """One dict per (level, key) for `fingerprint_write.cypher`: per component of
    `components`, its values and counts as two lists, most frequent first, and the readable
    summary a `TALKED` edge has (`services`, `ports`, `states`: `accumulate.summary`).

    Made `chunk` keys at a time (level by level, keys in code order): what is held at once is
    a chunk's rows, never the whole level. A level stored apart (`fp.apart`) is read
    from the `archive`, a chunk of keys at a time."""
    for lvl in levels:
        n_keys = _level_size(fp, lvl)
        if _apart(fp, lvl) and n_keys:
            if archive is None:
                raise ValueError(f"the {lvl} level is stored apart: its archive is needed")
            yield from _stored_level_rows(fp, archive, lvl, components, chunk)
            continue
        for lo in range(0, n_keys, max(chunk, 1)):
            yield from _chunk_rows(fp, lvl, lo, min(lo + chunk, n_keys), components)


def _apart(fp: Fingerprints, lvl: str) -> bool:
    """Whether the level `lvl` of `fp` is stored apart."""
    return lvl in fp.apart


def _stored_level_rows(
    fp: Fingerprints, archive: Archive, lvl: str, components: Sequence[str], chunk: int
) -> Iterator[dict[str, Any]]:
    """The rows of a level stored apart: each chunk of keys read back into a view
    (`pairlevel.pair_view`), made as from the whole level."""
    whole = (fp.meta.get("whole") or {}).get(lvl) or {}
    n_keys = _level_size(fp, lvl)
    no_pairs = np.zeros(0, dtype=np.int64)
    no_rows = pairlevel.LEVEL_SCHEMA.empty_table()
    with archive.session({}, results=pairlevel.apart_results(fp)) as s:
        for lo in range(0, n_keys, max(chunk, 1)):
            hi = min(lo + chunk, n_keys)
            sel = np.arange(lo, hi, dtype=np.int64)
            rows = streamed.read_apart(s, lvl, sel)
            # a view numbers its keys from 0 (a host view is asked by host codes: its
            # LevelHist.index)
            if lvl == "pair":
                view = pairlevel.pair_view(fp, sel, rows)
            elif lvl in HOST_LEVELS:
                view = pairlevel.pair_view(fp, no_pairs, no_rows, hosts={lvl: (sel, rows)})
            else:
                view = pairlevel.pair_view(fp, no_pairs, no_rows, sel, rows)
            yield from _chunk_rows(view, lvl, 0, hi - lo, components, whole)


def _chunk_rows(
    fp: Fingerprints,
    lvl: str,
    lo: int,
    hi: int,
    components: Sequence[str],
    whole_level: Mapping[str, bool] | None = None,
) -> list[dict[str, Any]]:
    """The rows of the keys lo..hi-1 of one level."""
    ids = _level_ids(fp, lvl, lo, hi)
    size = hi - lo
    props: list[dict[str, Any]] = [{} for _ in range(size)]
    totals = np.zeros(size)
    for comp in components:
        lh = fp.levels[comp][lvl]
        if len(lh.keys) == 0:
            continue
        totals = np.maximum(totals, lh.total[lo:hi])
        # the (key, value) entries of these keys: keys are sorted by (key, value)
        a0 = int(np.searchsorted(lh.keys, lo * lh.V))
        b0 = int(np.searchsorted(lh.keys, hi * lh.V))
        if a0 == b0:
            continue
        entries = lh.keys[a0:b0]
        k = entries // lh.V
        v = entries % lh.V
        cn = lh.n[a0:b0]
        # by key, most frequent first
        order = np.lexsort((-cn, k))
        n = np.round(cn[order], 3)
        # Neo4j lists are homogeneous: integers unless feedback weights made fractions (in
        # any key of the level: a level's lists are all of one type)
        if whole_level is not None and comp in whole_level:
            whole = whole_level[comp]
        else:
            whole = lh.whole()
        values = fp.vocab[comp].to_numpy(dtype=object)[v[order]].tolist()
        counts = (n.astype(np.int64) if whole else n).tolist()
        ks = k[order]
        starts = np.flatnonzero(np.concatenate([[True], ks[1:] != ks[:-1]]))
        ends = np.append(starts[1:], len(ks))
        kk, fk = f"{comp}_k", f"{comp}_n"
        for key, a, b in zip(ks[starts].tolist(), starts.tolist(), ends.tolist(), strict=True):
            props[key - lo][kk] = values[a:b]
            props[key - lo][fk] = counts[a:b]
    rows: list[dict[str, Any]] = []
    active = fp.pairs["windows"].to_numpy()[lo:hi].tolist() if lvl == "pair" else []
    injected = fp.pairs["injected"].to_numpy()[lo:hi].tolist() if lvl == "pair" else []
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


def save_fingerprints(
    store: GraphStore, fp: Fingerprints, batch_size: int = 2000, archive: Archive | None = None
) -> int:
    """Replace the stored fingerprints as of `fp.as_of` (skipped when already up to date;
    levels stored apart are read from the `archive`)."""
    sig = fp.meta.get("signature", "")
    got = [r["props"] for r in store.read("fingerprint_set_get", as_of=fp.as_of)]
    if got and sig and got[0].get("signature") == sig and got[0].get("complete"):
        log.info("fingerprints as of %s are up to date", fp.as_of)
        return 0
    store.write("fingerprint_set_begin", as_of=fp.as_of, signature=sig)
    while store.write("fingerprint_delete_some", as_of=fp.as_of, limit=10000)[0]["deleted"]:
        pass
    n = store.write_batches(
        "fingerprint_write",
        iter_fingerprint_rows(fp, archive=archive),
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


#: the stored results holding the levels of a window's fingerprints kept apart (`store_pairs`,
#: `build_fingerprints(pairs_apart=True)`)
PAIRS_RESULT = "fingerprint_pairs"
SUBNET_PAIRS_RESULT = "fingerprint_subnet_pairs"
APART_RESULTS = {
    "pair": PAIRS_RESULT,
    "subnet_pair": SUBNET_PAIRS_RESULT,
    "client": "fingerprint_clients",
    "server": "fingerprint_servers",
}


def store_pairs(archive: Archive, fp: Fingerprints) -> None:
    """Move the pair, subnet-pair and host levels of `fp` out of memory: their rows are
    written as the window's results (`APART_RESULTS`, through the archive door) and dropped
    from `fp`; novelty then reads the keys of each batch it scores (`pairlevel.pair_view`).
    What stays in memory per pair is its key and its row of `fp.pairs`, per subnet pair its
    key and its new-pair rates, per host its codes and the host levels' per-key numbers."""
    if fp.apart:
        return
    meta = {"as_of": fp.as_of, "signature": fp.meta.get("signature"), "pairs": fp.n_pairs}
    where = {}
    for lvl, name in APART_RESULTS.items():
        archive.write_result_batches(
            fp.as_of, name, pairlevel.LEVEL_SCHEMA, pairlevel.level_rows(fp, lvl), meta
        )
        where[lvl] = (fp.as_of, name)
    pairlevel.detach_levels(fp, where)


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
    #: how many earlier windows were asked for (`BaselineOptions.baseline`)
    baseline: int

    def to_json(self) -> dict[str, Any]:
        return self.result.to_json()


def run(ctx: Context) -> DetectorRun:
    """The registry step: the fingerprints as of the window, stored for Neo4j Browser (when
    `ctx.save`) and handed to the novelty step of the same pass."""
    baseline = (ctx.option(BaselineOptions) or BaselineOptions()).baseline
    store = ctx.graph()
    t0 = time.perf_counter()
    fp = build_fingerprints(
        store,
        ctx.window,
        ctx.settings,
        baseline,
        save=False,
        archive=ctx.archive,
        pairs_apart=True,  # novelty reads the pairs it needs, batch by batch
    )
    stored = save_fingerprints(store, fp, archive=ctx.archive) if ctx.save else 0
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
        detail=FingerprintStep(res, fp, baseline),
    )
