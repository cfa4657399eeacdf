"""Per-edge aggregates in compact code form: what an ingest group adds to the graph.

`chunk_codes` turns a chunk of normalised connections into per (src, dst, window) sums and
categorical histograms, with the histograms as integer codes; `EdgeAccumulator` sums any number
of such chunks while holding only numbers (an edge id, a (component, value) id and a count per
histogram row), so a group of files as large as a week of logs fits in a bounded amount of
memory; `EdgeAccumulator.rows` then gives the edges, sorted by (partition, src, dst, window),
as the rows that are written to Neo4j, top-N folded into `other`.
"""

from __future__ import annotations

import gc
import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from graphnet import features, windows

NUMERIC = ("src_bytes", "dst_bytes", "src_pkts", "dst_pkts", "duration")
EDGE_KEY = ["src", "dst", "window"]
OTHER = "other"
#: the components an edge in the graph summarises (what a person exploring the graph reads);
#: the full histograms of every component live in the connection archive
EDGE_COMPONENTS = ("service", "dport", "conn_state")
#: the readable summary property of each of them, e.g. `services: "ssl 1204, dns 3, 2 more"`
SUMMARY_PROPS = {"service": "services", "dport": "ports", "conn_state": "states"}
#: values named in a summary
SUMMARY_VALUES = 3


def summary(keys: Sequence[str], counts: Sequence[int], limit: int = SUMMARY_VALUES) -> str:
    """A readable summary of a histogram listed by count: the first `limit` values with their
    counts, then how many more (`ssl 1204, dns 3, 2 more`); "" when empty."""
    shown = [f"{k} {int(n)}" for k, n in zip(keys[:limit], counts[:limit], strict=False)]
    rest = len(keys) - len(shown)
    return ", ".join(shown + ([f"{rest} more"] if rest > 0 else []))


def edge_key(src: str, dst: str, window: str) -> str:
    """The `key` property of a TALKED edge (indexed): `<len(src)>:src|<len(dst)>:dst|window`,
    lengths in characters (code points). The length prefixes make it unambiguous for any
    strings: host ids may hold `|`, `:` and digits. graphnet/cypher/edge_keys_v2.cypher builds
    the same key in Cypher (`size()` counts code points too) to rewrite, once, the keys of the
    older and ambiguous format `src|dst|window`."""
    return f"{len(src)}:{src}|{len(dst)}:{dst}|{window}"


def _edge_keys(src: np.ndarray, dst: np.ndarray, win: np.ndarray) -> np.ndarray:
    """`edge_key` of whole columns (object array)."""
    return np.array([edge_key(*k) for k in zip(src, dst, win, strict=True)], dtype=object)


def _partition_text(src: np.ndarray, dst: np.ndarray, win: np.ndarray) -> np.ndarray:
    """What an edge's partition hashes: the key text of before edge keys were length-prefixed,
    `src|dst|window`. Any fixed function of (src, dst, window) would do (two edges that share
    it share a partition, nothing more); this one cuts a group's batches as before, so that
    an ingest interrupted before the upgrade resumes exactly after it."""
    return np.array([f"{s}|{d}|{w}" for s, d, w in zip(src, dst, win, strict=True)], dtype=object)


def partitions(src: np.ndarray, dst: np.ndarray, win: np.ndarray, parts: int) -> np.ndarray:
    """The partition (0 .. parts-1) of each edge (src, dst, window): a fixed hash of
    `_partition_text`, the same in every process and run."""
    if not len(src):
        return np.zeros(0, dtype=np.int64)
    hashed = pd.util.hash_array(_partition_text(src, dst, win), categorize=False)
    return (hashed % np.uint64(parts)).astype(np.int64)


@dataclass
class ChunkCodes:
    """One chunk's aggregate: unique edges with their sums, and per component the histogram
    rows as (edge position, value code, count) with the component's value vocabulary."""

    edges: pd.DataFrame  # src, dst, window, conns, NUMERIC..., first, last
    hist: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]  # comp -> e, v, n, vocab


def chunk_codes(frame: pd.DataFrame, window_kind: str) -> ChunkCodes:
    """Normalised connections -> per (src, dst, window) sums and coded histograms."""
    ts = frame["ts"].to_numpy(dtype="float64")
    win = windows.window_ids(ts, window_kind).to_numpy()
    keys = pd.DataFrame(
        {"src": frame["src"].to_numpy(), "dst": frame["dst"].to_numpy(), "window": win}
    )
    codes = keys.groupby(EDGE_KEY, sort=False).ngroup().to_numpy()
    n_edges = int(codes.max()) + 1 if len(codes) else 0
    _, first_row = np.unique(codes, return_index=True)
    edge_keys = keys.iloc[first_row].reset_index(drop=True)

    sums: dict[str, np.ndarray] = {"conns": np.bincount(codes, minlength=n_edges).astype(np.int64)}
    for col in NUMERIC:
        v = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype="float64")
        sums[col] = np.bincount(codes, weights=np.nan_to_num(v, nan=0.0), minlength=n_edges)
    first = np.full(n_edges, np.inf)
    last = np.full(n_edges, -np.inf)
    np.minimum.at(first, codes, ts)
    np.maximum.at(last, codes, ts)
    edges = edge_keys.assign(**sums, first=first, last=last)

    comps = features.components(frame, EDGE_COMPONENTS)
    hist = {}
    for comp in comps.columns:
        vcodes, uniques = pd.factorize(comps[comp].to_numpy(), sort=False)
        k = max(len(uniques), 1)
        combo = codes.astype(np.int64) * k + vcodes
        u, n = np.unique(combo, return_counts=True)
        hist[comp] = (u // k, u % k, n.astype(np.int64), np.asarray(uniques, dtype=object))
    return ChunkCodes(edges, hist)


def _grow(a: np.ndarray, n: int, fill: float) -> np.ndarray:
    if len(a) >= n:
        return a
    return np.concatenate([a, np.full(n - len(a), fill, dtype=a.dtype)])


class EdgeAccumulator:
    """Sum of chunk aggregates, held as numbers only."""

    def __init__(self) -> None:
        self._index = pd.Index([], dtype=object)  # edge key (`edge_key`) -> edge id
        self._src: list[np.ndarray] = []
        self._dst: list[np.ndarray] = []
        self._win: list[np.ndarray] = []
        self._sums = {c: np.zeros(0) for c in ("conns", *NUMERIC)}
        self._sums["conns"] = np.zeros(0, dtype=np.int64)
        self._first = np.zeros(0)
        self._last = np.zeros(0)
        self._cv = pd.Index([], dtype=object)  # "comp\x00value" -> value id
        self._cv_comp: list[str] = []
        self._cv_value: list[str] = []
        # histogram rows: compacted (unique (edge, cv)) and pending (not yet summed)
        self._he = np.zeros(0, dtype=np.int64)
        self._hv = np.zeros(0, dtype=np.int64)
        self._hn = np.zeros(0, dtype=np.int64)
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._pending_rows = 0

    # -- size ---------------------------------------------------------------------------------
    @property
    def edges(self) -> int:
        return len(self._index)

    @property
    def hist_rows(self) -> int:
        """Histogram rows held (after summing what is pending)."""
        self._compact()
        return len(self._he)

    @property
    def held_rows(self) -> int:
        """Upper bound of `hist_rows` that does not sum what is pending (cheap)."""
        return len(self._he) + self._pending_rows

    def __len__(self) -> int:
        return self.edges

    # -- adding -------------------------------------------------------------------------------
    def add_frame(self, frame: pd.DataFrame, window_kind: str) -> None:
        if not frame.empty:
            self.add(chunk_codes(frame, window_kind))

    def add(self, chunk: ChunkCodes) -> None:
        e = chunk.edges
        if e.empty:
            return
        keys = _edge_keys(
            e["src"].astype(str).to_numpy(dtype=object),
            e["dst"].astype(str).to_numpy(dtype=object),
            e["window"].astype(str).to_numpy(dtype=object),
        )
        ids = self._index.get_indexer(pd.Index(keys, dtype=object))
        new = ids < 0
        if new.any():
            start = len(self._index)
            ids[new] = np.arange(start, start + int(new.sum()))
            self._index = self._index.append(pd.Index(keys[new], dtype=object))
            self._src.append(e["src"].to_numpy(dtype=object)[new])
            self._dst.append(e["dst"].to_numpy(dtype=object)[new])
            self._win.append(e["window"].to_numpy(dtype=object)[new])
        n = len(self._index)
        for col, arr in self._sums.items():
            arr = _grow(arr, n, 0)
            arr[ids] += e[col].to_numpy(dtype=arr.dtype)  # ids are unique within a chunk
            self._sums[col] = arr
        self._first = _grow(self._first, n, np.inf)
        self._last = _grow(self._last, n, -np.inf)
        self._first[ids] = np.minimum(self._first[ids], e["first"].to_numpy(dtype="float64"))
        self._last[ids] = np.maximum(self._last[ids], e["last"].to_numpy(dtype="float64"))
        for comp, (he, hv, hn, vocab) in chunk.hist.items():
            if len(he) == 0:
                continue
            names = np.array([f"{comp}\x00{v}" for v in vocab], dtype=object)
            cv = self._cv.get_indexer(pd.Index(names, dtype=object))
            fresh = cv < 0
            if fresh.any():
                start = len(self._cv)
                cv[fresh] = np.arange(start, start + int(fresh.sum()))
                self._cv = self._cv.append(pd.Index(names[fresh], dtype=object))
                self._cv_comp.extend([comp] * int(fresh.sum()))
                self._cv_value.extend(str(v) for v in vocab[fresh])
            self._pending.append((ids[he].astype(np.int64), cv[hv].astype(np.int64), hn))
            self._pending_rows += len(he)
        if self._pending_rows > max(len(self._he), 1_000_000):
            self._compact()

    def _compact(self) -> None:
        if not self._pending:
            return
        he = np.concatenate([self._he, *(p[0] for p in self._pending)])
        hv = np.concatenate([self._hv, *(p[1] for p in self._pending)])
        hn = np.concatenate([self._hn, *(p[2] for p in self._pending)])
        self._pending, self._pending_rows = [], 0
        k = max(len(self._cv), 1)
        u, inv = np.unique(he * k + hv, return_inverse=True)
        self._hn = np.bincount(inv, weights=hn, minlength=len(u)).astype(np.int64)
        self._he, self._hv = u // k, u % k

    def absorb(self, other: EdgeAccumulator) -> None:
        """Add everything `other` holds."""
        self.add(other.to_chunk())

    def to_chunk(self) -> ChunkCodes:
        """What this accumulator holds, in the form `add` takes."""
        self._compact()
        edges = pd.DataFrame(
            {"src": _cat(self._src), "dst": _cat(self._dst), "window": _cat(self._win)}
        ).assign(**self._sums, first=self._first, last=self._last)
        cv_comp = np.asarray(self._cv_comp, dtype=object)
        values = np.asarray(self._cv_value, dtype=object)
        row_comp = cv_comp[self._hv] if len(self._hv) else np.zeros(0, dtype=object)
        hist = {}
        for comp in dict.fromkeys(self._cv_comp):
            ids = np.flatnonzero(cv_comp == comp)
            local = np.full(len(cv_comp), -1, dtype=np.int64)
            local[ids] = np.arange(len(ids))
            sel = row_comp == comp
            hist[comp] = (self._he[sel], local[self._hv[sel]], self._hn[sel], values[ids])
        return ChunkCodes(edges, hist)

    # -- output -------------------------------------------------------------------------------
    def rows(self, top: dict[str, int], parts: int = 1) -> EdgeRows:
        """The edges, sorted by (partition, src, dst, window), ready to be written in slices.

        An edge's partition is a fixed hash of (src, dst, window) modulo `parts`: writers
        working on different partitions never touch the same edge."""
        self._compact()
        return EdgeRows(self, top, parts)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many acyclic objects."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _cat(parts: Sequence[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=object)


class EdgeRows:
    """Sorted edges of an accumulator; `slice(lo, hi)` builds the Neo4j rows of edges lo..hi-1.

    Histogram values are listed per component by count (descending), then value; components
    in `top` keep their N most frequent values per edge and fold the rest into `other`, and each
    edge gets `<comp>_distinct`, the number of distinct values before folding."""

    def __init__(self, acc: EdgeAccumulator, top: dict[str, int], parts: int = 1) -> None:
        src, dst, win = _cat(acc._src), _cat(acc._dst), _cat(acc._win)
        n = len(src)
        part = partitions(src, dst, win, parts)
        order = (
            pd.DataFrame({"p": part, "s": src, "d": dst, "w": win})
            .sort_values(["p", "s", "d", "w"], kind="stable")
            .index.to_numpy()
        )
        self.part = part[order]
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        self.src, self.dst, self.win = src[order], dst[order], win[order]
        self.sums = {c: a[order] for c, a in acc._sums.items()}
        self.first = np.floor(acc._first[order] * 1000).astype(np.int64)
        self.last = np.floor(acc._last[order] * 1000).astype(np.int64)

        comps = np.asarray(acc._cv_comp, dtype=object)
        values = np.asarray(acc._cv_value, dtype=object)
        comp_names = sorted(set(acc._cv_comp))
        comp_id = {c: i for i, c in enumerate(comp_names)}
        cv_comp = np.array([comp_id[c] for c in comps], dtype=np.int64)
        e, v, cnt = rank[acc._he], acc._hv, acc._hn
        # fold the top-N components: rank values per (edge, comp) by count desc, value asc
        value_rank = np.empty(len(values), dtype=np.int64)
        value_rank[np.argsort(values.astype(str), kind="stable")] = np.arange(len(values))
        self.distinct: dict[str, np.ndarray] = {}
        keep = np.ones(len(e), dtype=bool)
        extra_e, extra_v, extra_n = [], [], []
        for comp, limit in top.items():
            if comp not in comp_id:
                continue
            sel = np.flatnonzero(cv_comp[v] == comp_id[comp])
            se, sv, sn = e[sel], v[sel], cnt[sel]
            o = np.lexsort((value_rank[sv], -sn, se))
            se, sv, sn, sel = se[o], sv[o], sn[o], sel[o]
            starts = np.r_[0, np.flatnonzero(np.diff(se)) + 1]
            group_len = np.diff(np.r_[starts, len(se)])
            pos = np.arange(len(se)) - np.repeat(starts, group_len)
            self.distinct[comp] = np.bincount(se, minlength=n).astype(np.int64)
            fold = pos >= limit
            if not fold.any():
                continue
            keep[sel[fold]] = False
            folded = np.bincount(se[fold], weights=sn[fold], minlength=n).astype(np.int64)
            fe = np.flatnonzero(folded)
            name = f"{comp}\x00{OTHER}"
            other = acc._cv.get_indexer(pd.Index([name], dtype=object))[0]
            if other < 0:  # a value id for 'other' that only the output knows
                values = np.append(values, OTHER)
                cv_comp = np.append(cv_comp, comp_id[comp])
                other = len(values) - 1
            extra_e.append(fe)
            extra_v.append(np.full(len(fe), other, dtype=np.int64))
            extra_n.append(folded[fe])
        if extra_e:
            e = np.concatenate([e[keep], *extra_e])
            v = np.concatenate([v[keep], *extra_v])
            cnt = np.concatenate([cnt[keep], *extra_n])
            # a real value named 'other' and the folded rest are one value: sum them
            k = len(values)
            u, inv = np.unique(e * k + v, return_inverse=True)
            cnt = np.bincount(inv, weights=cnt, minlength=len(u)).astype(np.int64)
            e, v = u // k, u % k
            value_rank = np.empty(len(values), dtype=np.int64)
            value_rank[np.argsort(values.astype(str), kind="stable")] = np.arange(len(values))
        o = np.lexsort((value_rank[v], -cnt, cv_comp[v], e))
        self.h_edge, self.h_comp = e[o], cv_comp[v[o]]
        self.h_value, self.h_n = values[v[o]], cnt[o]
        self.comp_names = comp_names
        self.n = n

    def __len__(self) -> int:
        return self.n

    def batches(self, size: int) -> list[tuple[int, int, int]]:
        """(partition, lo, hi) of every batch: at most `size` edges, never two partitions."""
        out = []
        bounds = np.r_[0, np.flatnonzero(np.diff(self.part)) + 1, self.n].tolist()
        for a, b in itertools.pairwise(bounds):
            if b > a:
                p = int(self.part[a])
                out += [(p, lo, min(lo + size, b)) for lo in range(a, b, size)]
        return out

    def slice(self, lo: int, hi: int) -> list[dict[str, Any]]:
        # millions of small lists and dicts, none in a cycle: the cyclic garbage collector
        # would scan them again and again (5x slower)
        with gc_paused():
            return self._slice(lo, hi)

    def _slice(self, lo: int, hi: int) -> list[dict[str, Any]]:
        hi = min(hi, self.n)
        m = hi - lo
        a, b = np.searchsorted(self.h_edge, [lo, hi])
        he, hc = self.h_edge[a:b] - lo, self.h_comp[a:b]
        hv, hn = self.h_value[a:b], self.h_n[a:b]
        names: list[str] = []
        columns: list[list[Any]] = []
        for ci, comp in enumerate(self.comp_names):
            sel = hc == ci
            counts = np.bincount(he[sel], minlength=m)
            offsets = pa.array(np.r_[0, np.cumsum(counts)], type=pa.int64())
            keys = pa.LargeListArray.from_arrays(offsets, pa.array(hv[sel], type=pa.string()))
            ns = pa.LargeListArray.from_arrays(offsets, pa.array(hn[sel], type=pa.int64()))
            klist, nlist = keys.to_pylist(), ns.to_pylist()
            if not counts.all():  # an edge without this component: no property at all
                for i in np.flatnonzero(counts == 0).tolist():
                    klist[i] = nlist[i] = None
            names += [f"{comp}_k", f"{comp}_n"]
            columns += [klist, nlist]
            if comp in SUMMARY_PROPS:
                names.append(SUMMARY_PROPS[comp])
                columns.append(
                    [
                        None if k is None else summary(k, n)
                        for k, n in zip(klist, nlist, strict=True)
                    ]
                )
        for c, arr in self.sums.items():
            names.append(c)
            columns.append(arr[lo:hi].tolist())
        for c, arr in self.distinct.items():
            names.append(f"{c}_distinct")
            columns.append(arr[lo:hi].tolist())
        first, last = self.first[lo:hi].tolist(), self.last[lo:hi].tolist()
        src, dst, win = self.src[lo:hi], self.dst[lo:hi], self.win[lo:hi]
        rows = []
        for i, values in enumerate(zip(*columns, strict=True)):
            props = dict(zip(names, values, strict=True))
            if None in values:
                props = {k: v for k, v in props.items() if v is not None}
            s, d, w = str(src[i]), str(dst[i]), str(win[i])
            rows.append(
                {
                    "src": s,
                    "dst": d,
                    "window": w,
                    "key": edge_key(s, d, w),
                    "first_ms": first[i],
                    "last_ms": last[i],
                    "props": props,
                }
            )
        return rows

    def hosts(self) -> dict[str, tuple[int, int]]:
        """Every host of the edges with the first and last time it was seen (ms)."""
        frame = pd.DataFrame(
            {
                "h": np.concatenate([self.src, self.dst]),
                "f": np.concatenate([self.first, self.first]),
                "l": np.concatenate([self.last, self.last]),
            }
        )
        g = frame.groupby("h", sort=True).agg(f=("f", "min"), l=("l", "max"))
        return {
            str(h): (int(f), int(lst))
            for h, f, lst in zip(g.index, g["f"].to_numpy(), g["l"].to_numpy(), strict=True)
        }
