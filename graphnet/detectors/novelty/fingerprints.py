"""Per-pair categorical fingerprints: what "normal" is for each directed host pair.

A fingerprint is built from per-edge component histograms of a trailing baseline of windows
*before* the window it is used for (`as_of`); the window being scored is never part of its own
baseline. The histograms are those of the connection archive's edges (src, dst, window), folded
as ingest used to keep them on the `TALKED` edges: `dport` and `history` keep their most
frequent values per edge and count the rest under 'other' (`FOLDED`, `fold_top`). The store
path computes them with the analytical engine (`graphnet/sql/novelty_edge_values.sql`, see
`baseline`); `edge_histograms_from_connections` is the same aggregation in pandas (tests,
benchmarks, its oracle). Next to the pair level a fingerprint keeps the backoff levels used for
sparse or new pairs:

    pair         (src, dst)            all connections of the pair
    client       src                   all outgoing connections of the source host
    server       dst                   all incoming connections of the destination host
    subnet_pair  (subnet(src), subnet(dst))   subnet of both ends (no subnet -> host id)
    zone_pair    (zone(src), zone(dst))       zone = internal or external
    global       -                     everything

Subnet and zone of a host are ingest's classification (`ingest.host_classifier` with the
settings' internal CIDRs: what the Host nodes hold).

Everything here is vectorised over integer codes: hosts, pairs and component values are
factorised once, histograms are (key, value, count) arrays aggregated with bincount.

Fingerprints are written to Neo4j as `(:Fingerprint {level, as_of, ...})` nodes (see
docs/novelty.md) so a Browser user can look at what normal is for a pair.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from graphnet import features, ingest, windows
from graphnet.archive import LABEL_COLUMNS
from graphnet.config import Settings

log = logging.getLogger(__name__)

COMPONENTS: tuple[str, ...] = tuple(features.COMPONENTS)
#: components with an 'other' bucket: an edge keeps its most frequent values of these
FOLDED: tuple[str, ...] = ("dport", "history")
OTHER = "other"  # the value that counts an edge's folded rest
EDGE_KEY = ["src", "dst", "window"]
LEVELS: tuple[str, ...] = ("pair", "client", "server", "subnet_pair", "zone_pair", "global")
ZONES: tuple[str, ...] = ("external", "internal")
DEFAULT_BASELINE = 4
# the (proto, service, dport, conn_state) tuple whose global rarity is the "uniqueness" score
JOINT: tuple[str, ...] = ("proto", "service", "dport", "conn_state")
INJECTED = ""  # window id of feedback pseudo-edges
DENSE_MAX = 1 << 21  # largest (keys x values) float32 table (8 MiB) kept for O(1) lookups


def fold_limits(settings: Settings) -> dict[str, int]:
    """How many values of each folded component an edge keeps."""
    return {"dport": settings.top_ports, "history": settings.top_history}


# --------------------------------------------------------------------------------------------
# input: edge histograms in code form
# --------------------------------------------------------------------------------------------
@dataclass
class CompEdges:
    """One component's histograms over a set of edges: parallel arrays of (edge, value, n)."""

    edge: np.ndarray  # int64 row of EdgeHistograms.edges
    value: np.ndarray  # int64 code into vocab
    n: np.ndarray  # float64 count
    vocab: pd.Index  # value strings
    distinct: np.ndarray | None = None  # per edge: distinct values before top-N folding


class CompSource(MutableMapping[str, CompEdges]):
    """Component -> its CompEdges, made when asked (from an engine session that is open, or
    from other sources): a build that takes one component at a time (`build(consume=True)`)
    holds one component's edge rows, never all thirteen. Each access makes them again;
    deleting a component (or `clear`) only forgets it."""

    def __init__(self, make: Callable[[str], CompEdges]) -> None:
        self._make = make
        self._gone: set[str] = set()
        self._set: dict[str, CompEdges] = {}

    def __getitem__(self, comp: str) -> CompEdges:
        if comp in self._set:
            return self._set[comp]
        if comp not in COMPONENTS or comp in self._gone:
            raise KeyError(comp)
        return self._make(comp)

    def __setitem__(self, comp: str, value: CompEdges) -> None:
        self._set[comp] = value
        self._gone.discard(comp)

    def __delitem__(self, comp: str) -> None:
        if comp not in self:
            raise KeyError(comp)
        self._set.pop(comp, None)
        self._gone.add(comp)

    def __contains__(self, comp: object) -> bool:
        return comp in self._set or (comp in COMPONENTS and comp not in self._gone)

    def __iter__(self) -> Iterator[str]:
        return iter([c for c in COMPONENTS if c in self])

    def __len__(self) -> int:
        return len(list(iter(self)))

    def clear(self) -> None:
        self._set.clear()
        self._gone.update(COMPONENTS)


@dataclass
class EdgeHistograms:
    """Edges (src, dst, window) or feedback pseudo-edges with their component histograms."""

    edges: pd.DataFrame  # src, dst, window, conns, [first, last,] src_/dst_subnet, _internal
    comps: MutableMapping[str, CompEdges]  # a dict, or a CompSource (made when asked)

    @staticmethod
    def empty() -> EdgeHistograms:
        edges = pd.DataFrame(
            {
                "src": pd.Series([], dtype=object),
                "dst": pd.Series([], dtype=object),
                "window": pd.Series([], dtype=object),
                "conns": pd.Series([], dtype="float64"),
                "src_subnet": pd.Series([], dtype=object),
                "dst_subnet": pd.Series([], dtype=object),
                "src_internal": pd.Series([], dtype=object),
                "dst_internal": pd.Series([], dtype=object),
            }
        )
        z = np.zeros(0, dtype=np.int64)
        comps = {c: CompEdges(z, z, np.zeros(0), pd.Index([], dtype=object)) for c in COMPONENTS}
        return EdgeHistograms(edges, comps)


def classify_hosts(edges: pd.DataFrame, settings: Settings | None) -> None:
    """Add `src_/dst_subnet` and `src_/dst_internal` to edges: ingest's classification of each
    end (what its Host node holds), once per distinct host."""
    classify = ingest.host_classifier(settings.internal_cidrs if settings else ())
    for key in ("src", "dst"):
        codes, uniq = pd.factorize(edges[key].to_numpy(dtype=object))
        info = [classify(str(h)) for h in uniq]
        sub = np.array([i["subnet"] for i in info] + [None], dtype=object)
        internal = np.array([i["internal"] for i in info] + [None], dtype=object)
        edges[f"{key}_subnet"] = pd.Series(sub[codes], index=edges.index, dtype=object)
        edges[f"{key}_internal"] = pd.Series(internal[codes], index=edges.index, dtype=object)


def edge_histograms_from_tables(
    edges: pa.Table, values: pa.Table, settings: Settings | None = None
) -> EdgeHistograms:
    """The engine's edge histograms -> code form.

    `edges`: one row per edge in edge order (`edge` = 0, 1, ...) with win, src, dst, conns and
    optionally first_ms / last_ms (epoch ms) and `<comp>_distinct` of the folded components;
    `values`: (edge, component, value, n) rows. Hosts are classified (`classify_hosts`)."""
    if edges.num_rows == 0:
        return EdgeHistograms.empty()
    names = edges.column_names

    def text(name: str) -> np.ndarray:
        return np.asarray(edges.column(name).to_pylist(), dtype=object)

    frame = pd.DataFrame(
        {
            "src": text("src"),
            "dst": text("dst"),
            "window": text("win"),
            "conns": edges.column("conns").cast(pa.float64()).to_numpy(),
        }
    )
    for name, ms in (("first", "first_ms"), ("last", "last_ms")):
        if ms in names:  # epoch ms -> epoch seconds, as the TALKED edges gave them
            frame[name] = edges.column(ms).cast(pa.float64()).to_numpy() / 1000.0
    classify_hosts(frame, settings)
    edge_col = values.column("edge").cast(pa.int64()).to_numpy()
    comp_col = values.column("component")
    comps: dict[str, CompEdges] = {}
    for comp in COMPONENTS:
        mask = pc.equal(comp_col, comp)
        sel = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
        vals = values.column("value").take(pa.array(sel)).to_pylist()
        codes, vocab = pd.factorize(np.asarray(vals, dtype=object), sort=False)
        distinct = None
        if comp in FOLDED and f"{comp}_distinct" in names:
            distinct = edges.column(f"{comp}_distinct").cast(pa.float64()).to_numpy()
        comps[comp] = CompEdges(
            edge_col[sel].astype(np.int64),
            codes.astype(np.int64),
            values.column("n").take(pa.array(sel)).cast(pa.float64()).to_numpy(),
            pd.Index(vocab, dtype=object),
            distinct,
        )
    return EdgeHistograms(frame, comps)


def shared_strings(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A string column as an object array whose equal values are one Python string (a host id
    repeated on a million edges costs a pointer per edge, not a string)."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if len(arr) == 0:
        return np.zeros(0, dtype=object)
    enc = pc.dictionary_encode(arr)
    uniq = np.asarray(enc.dictionary.to_pylist(), dtype=object)
    out: np.ndarray = uniq[enc.indices.to_numpy(zero_copy_only=False)]
    return out


class _Codes:
    """Value strings -> int codes in order of first appearance over successive batches (as
    `pd.factorize(sort=False)` of the concatenated values), without a Python string per row."""

    def __init__(self) -> None:
        self.code: dict[str, int] = {}

    def encode(self, values: pa.Array | pa.ChunkedArray) -> np.ndarray:
        arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        if len(arr) == 0:
            return np.zeros(0, dtype=np.int64)
        enc = pc.dictionary_encode(arr)
        local = enc.dictionary.to_pylist()  # first appearance within the batch
        remap = np.empty(len(local), dtype=np.int64)
        for i, v in enumerate(local):
            remap[i] = self.code.setdefault(v, len(self.code))
        codes: np.ndarray = remap[enc.indices.to_numpy(zero_copy_only=False)]
        return codes

    @property
    def vocab(self) -> pd.Index:
        return pd.Index(list(self.code), dtype=object)


def edge_histograms_from_batches(
    edges: pa.Table,
    components: Mapping[str, Iterable[pa.RecordBatch]],
    settings: Settings | None = None,
) -> EdgeHistograms:
    """The engine's edge histograms, one component at a time -> code form (as
    `edge_histograms_from_tables`, without holding every component's value strings at once).

    `edges`: as for `edge_histograms_from_tables`; `components[comp]`: batches of (edge, value,
    n) rows of that component, by edge. The components are a `CompSource`: each is read to
    numbers (edge, value code, count) when asked for, so `components` must stay readable
    while they are (`materialised` reads them all at once)."""
    if edges.num_rows == 0:
        return EdgeHistograms.empty()
    names = edges.column_names
    frame = pd.DataFrame(
        {
            "src": shared_strings(edges.column("src")),
            "dst": shared_strings(edges.column("dst")),
            "window": shared_strings(edges.column("win")),
            "conns": edges.column("conns").cast(pa.float64()).to_numpy(),
        }
    )
    for name, ms in (("first", "first_ms"), ("last", "last_ms")):
        if ms in names:  # epoch ms -> epoch seconds, as the TALKED edges gave them
            frame[name] = edges.column(ms).cast(pa.float64()).to_numpy() / 1000.0
    classify_hosts(frame, settings)

    def make(comp: str) -> CompEdges:
        codes = _Codes()
        e_parts: list[np.ndarray] = []
        v_parts: list[np.ndarray] = []
        n_parts: list[np.ndarray] = []
        for batch in components[comp]:
            e_parts.append(batch.column("edge").cast(pa.int64()).to_numpy())
            v_parts.append(codes.encode(batch.column("value")))
            n_parts.append(batch.column("n").cast(pa.float64()).to_numpy())
        distinct = None
        if comp in FOLDED and f"{comp}_distinct" in names:
            distinct = edges.column(f"{comp}_distinct").cast(pa.float64()).to_numpy()
        z = np.zeros(0, dtype=np.int64)
        return CompEdges(
            np.concatenate(e_parts) if e_parts else z,
            np.concatenate(v_parts) if v_parts else z,
            np.concatenate(n_parts) if n_parts else np.zeros(0),
            codes.vocab,
            distinct,
        )

    return EdgeHistograms(frame, CompSource(make))


def materialised(hist: EdgeHistograms) -> EdgeHistograms:
    """Every component's edge rows made now (a `CompSource` reads them once)."""
    return EdgeHistograms(hist.edges, {c: hist.comps[c] for c in COMPONENTS if c in hist.comps})


def edge_histograms_from_records(records: Sequence[Mapping[str, Any]]) -> EdgeHistograms:
    """Edge rows in the former `TALKED` form (one per edge, `<comp>_k`/`<comp>_n` lists, as
    `fingerprint_edges.cypher` read them) -> code form. Vectorised with Arrow."""
    if not records:
        return EdgeHistograms.empty()
    return edge_histograms_from_table(pa.Table.from_pylist(list(records)))


def edge_histograms_from_table(table: pa.Table) -> EdgeHistograms:
    """An Arrow table of edge rows in the former `TALKED` form (`<comp>_k`/`<comp>_n` lists) ->
    code form (benchmarks of `build` on list-shaped input)."""
    if table.num_rows == 0:
        return EdgeHistograms.empty()
    n_edges = table.num_rows

    def col(name: str) -> pa.ChunkedArray | None:
        return table.column(name) if name in table.column_names else None

    edges = pd.DataFrame(
        {
            "src": table.column("src").to_numpy(zero_copy_only=False).astype(object),
            "dst": table.column("dst").to_numpy(zero_copy_only=False).astype(object),
            "window": table.column("window").to_numpy(zero_copy_only=False).astype(object),
            "conns": pc.fill_null(table.column("conns"), 0).to_numpy().astype("float64"),
        }
    )
    for name, ms in (("first", "first_ms"), ("last", "last_ms")):
        c = col(ms)
        if c is not None:  # epoch ms (null on edges written without them) -> epoch seconds
            edges[name] = c.cast(pa.float64()).to_numpy(zero_copy_only=False) / 1000.0
    for side in ("src_subnet", "dst_subnet", "src_internal", "dst_internal"):
        c = col(side)
        edges[side] = c.to_numpy(zero_copy_only=False).astype(object) if c is not None else None
    comps: dict[str, CompEdges] = {}
    for comp in COMPONENTS:
        keys, counts = col(f"{comp}_k"), col(f"{comp}_n")
        if keys is None or counts is None or keys.null_count == n_edges:
            z = np.zeros(0, dtype=np.int64)
            comps[comp] = CompEdges(z, z, np.zeros(0), pd.Index([], dtype=object))
            continue
        k = keys.combine_chunks()
        n = counts.combine_chunks()
        parents = pc.list_parent_indices(k).to_numpy().astype(np.int64)
        flat = pc.list_flatten(k).cast(pa.string())
        enc = (
            pc.dictionary_encode(flat).combine_chunks()
            if isinstance(flat, pa.ChunkedArray)
            else pc.dictionary_encode(flat)
        )
        codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        vocab = pd.Index(enc.dictionary.to_pylist(), dtype=object)
        nn = pc.list_flatten(n).to_numpy(zero_copy_only=False).astype("float64")
        distinct = None
        d = col(f"{comp}_distinct")
        if comp in FOLDED and d is not None:
            distinct = pc.fill_null(d, 0).to_numpy().astype("float64")
        comps[comp] = CompEdges(parents, codes, nn, vocab, distinct)
    return EdgeHistograms(edges, comps)


def fold_top(hist: pd.DataFrame, top: Mapping[str, int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep the top N values of the given components per edge, fold the rest into 'other'
    (ranked by count descending, then value; a real value 'other' and the folded rest are one
    value). The pandas twin of the engine's folding (`novelty_edge_values.sql`).

    Returns the folded histogram (src, dst, window, comp, value, n) and, per edge, the number
    of distinct values seen before folding (columns src, dst, window, <comp>_distinct)."""
    distinct = (
        hist[hist["comp"].isin(list(top))]
        .groupby([*EDGE_KEY, "comp"], sort=False)["value"]
        .nunique()
        .unstack("comp", fill_value=0)
        .add_suffix("_distinct")
        .reset_index()
    )
    distinct.columns.name = None
    out = [hist[~hist["comp"].isin(list(top))]]
    for comp, n in top.items():
        h = hist[hist["comp"] == comp].sort_values(
            [*EDGE_KEY, "n", "value"], ascending=[True, True, True, False, True]
        )
        rank = h.groupby(EDGE_KEY, sort=False).cumcount().to_numpy()
        h = h.assign(value=np.where(rank >= n, OTHER, h["value"].to_numpy()))
        summed: pd.DataFrame = h.groupby(  # type: ignore[assignment]
            [*EDGE_KEY, "comp", "value"], sort=False, as_index=False
        )["n"].sum()
        out.append(summed)
    return pd.concat(out, ignore_index=True), distinct


def _edge_aggregate(frame: pd.DataFrame, window_kind: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Normalised connections -> per edge (src, dst, window) its connections and first / last
    connection (to the millisecond, as the edges keep them), and the long histograms (src, dst,
    window, comp, value, n) of every component."""
    ts = frame["ts"].to_numpy(dtype="float64")
    keys = pd.DataFrame(
        {
            "src": frame["src"].to_numpy(dtype=object),
            "dst": frame["dst"].to_numpy(dtype=object),
            "window": windows.window_ids(ts, window_kind).to_numpy(),
        }
    )
    codes = keys.groupby(EDGE_KEY, sort=False).ngroup().to_numpy()
    n_edges = int(codes.max()) + 1 if len(codes) else 0
    _, first_row = np.unique(codes, return_index=True)
    edges = keys.iloc[first_row].reset_index(drop=True)
    first = np.full(n_edges, np.inf)
    last = np.full(n_edges, -np.inf)
    np.minimum.at(first, codes, ts)
    np.maximum.at(last, codes, ts)
    edges["conns"] = np.bincount(codes, minlength=n_edges).astype("float64")
    edges["first"] = np.floor(first * 1000) / 1000.0
    edges["last"] = np.floor(last * 1000) / 1000.0
    comps = features.components(frame)
    parts = []
    for comp in COMPONENTS:
        vc, vocab = pd.factorize(comps[comp].to_numpy(dtype=object), sort=False)
        pair, n = np.unique(codes * max(len(vocab), 1) + vc, return_counts=True)
        e, v = pair // max(len(vocab), 1), pair % max(len(vocab), 1)
        part = edges.iloc[e][EDGE_KEY].reset_index(drop=True)
        part["comp"] = comp
        part["value"] = np.asarray(vocab, dtype=object)[v]
        part["n"] = n.astype(np.int64)
        parts.append(part)
    return edges, pd.concat(parts, ignore_index=True)


def edge_histograms_from_connections(
    frame: pd.DataFrame,
    window_kind: str,
    settings: Settings | None = None,
    *,
    fold: bool = True,
    weight: float | np.ndarray = 1.0,
    window: str | None = None,
) -> EdgeHistograms:
    """Normalised connections -> the folded edge histograms of the fingerprints (`fold_top`
    with the settings' limits), in code form: the pandas twin of the engine's aggregation, for
    tests, benchmarks and small frames.

    `weight` multiplies the counts (a scalar, or one weight per resulting edge in edge order);
    `window` overrides the window id of every edge (feedback pseudo-edges use INJECTED)."""
    if frame.empty:
        return EdgeHistograms.empty()
    settings = settings or Settings(home=Path("."))
    cols = [c for c in frame.columns if c not in LABEL_COLUMNS]
    edges, hist = _edge_aggregate(frame[cols], window_kind)
    distinct = None
    if fold:
        hist, distinct = fold_top(hist, fold_limits(settings))
    eidx = pd.MultiIndex.from_frame(edges[EDGE_KEY])
    w = np.broadcast_to(np.asarray(weight, dtype="float64"), (len(edges),))
    edges["conns"] = edges["conns"].to_numpy() * w
    classify_hosts(edges, settings)
    comps: dict[str, CompEdges] = {}
    for comp in COMPONENTS:
        h = hist[hist["comp"] == comp]
        e = eidx.get_indexer(pd.MultiIndex.from_frame(h[EDGE_KEY])).astype(np.int64)
        codes, vocab = pd.factorize(h["value"].astype(str).to_numpy(), sort=False)
        d = None
        if distinct is not None and f"{comp}_distinct" in distinct.columns:
            dd = distinct.set_index(EDGE_KEY)[f"{comp}_distinct"]
            d = (
                dd.reindex(eidx).fillna(0).to_numpy(dtype="float64")
                if len(dd)
                else np.zeros(len(edges))
            )
        comps[comp] = CompEdges(
            e,
            codes.astype(np.int64),
            h["n"].to_numpy(dtype="float64") * w[e],
            pd.Index(vocab, dtype=object),
            d,
        )
    if window is not None:
        edges["window"] = window
    return EdgeHistograms(edges.reset_index(drop=True), comps)


def concat_histograms(parts: Sequence[EdgeHistograms]) -> EdgeHistograms:
    """The edges of `parts` one after the other, with their histograms (a component is
    concatenated when asked for: parts whose components are made when asked stay so)."""
    parts = [p for p in parts if len(p.edges)]
    if not parts:
        return EdgeHistograms.empty()
    if len(parts) == 1:
        return parts[0]
    offsets = np.cumsum([0, *[len(p.edges) for p in parts[:-1]]])
    edges = pd.concat([p.edges for p in parts], ignore_index=True)

    def make(comp: str) -> CompEdges:
        got = [p.comps[comp] for p in parts]  # each part's rows made once
        vocab = pd.Index(pd.unique(np.concatenate([ce.vocab.to_numpy(dtype=object) for ce in got])))
        e, v, n, d = [], [], [], []
        has_distinct = any(ce.distinct is not None for ce in got)
        for off, p, ce in zip(offsets, parts, got, strict=True):
            e.append(ce.edge + off)
            remap = vocab.get_indexer(ce.vocab).astype(np.int64)
            v.append(remap[ce.value] if len(ce.value) else ce.value)
            n.append(ce.n)
            if has_distinct:
                d.append(ce.distinct if ce.distinct is not None else np.zeros(len(p.edges)))
        return CompEdges(
            np.concatenate(e),
            np.concatenate(v),
            np.concatenate(n),
            vocab,
            np.concatenate(d) if has_distinct else None,
        )

    if not any(isinstance(p.comps, CompSource) for p in parts):
        return EdgeHistograms(edges, {c: make(c) for c in COMPONENTS})
    return EdgeHistograms(edges, CompSource(make))


# --------------------------------------------------------------------------------------------
# the fingerprint
# --------------------------------------------------------------------------------------------
@dataclass
class LevelHist:
    """One component's histograms at one level: per key (pair / host / subnet pair / global)."""

    V: int  # size of the value vocabulary (codes 0..V-1)
    keys: np.ndarray  # sorted int64 key * V + value
    n: np.ndarray  # float64 count of each (key, value)
    total: np.ndarray  # per key: number of connections
    entropy: np.ndarray  # per key: empirical entropy in bits
    other_n: np.ndarray  # per key: count in the 'other' bucket (folded components)
    other_m: np.ndarray  # per key: estimated distinct values hidden in 'other' (>= 1)

    def _dense(self) -> np.ndarray | None:
        """A (keys x V) table of counts, NaN where a value is not kept explicitly, when it is
        small enough: O(1) lookups instead of binary searches."""
        cached = self.__dict__.get("_dense_table", False)
        if cached is not False:
            return cached
        table: np.ndarray | None = None
        n_keys = len(self.total)
        if n_keys and n_keys * self.V <= DENSE_MAX:
            flat = np.full(n_keys * self.V, np.nan, dtype=np.float32)
            flat[self.keys] = self.n
            table = flat.reshape(n_keys, self.V)
        self.__dict__["_dense_table"] = table
        return table

    def lookup(self, key: np.ndarray, value: np.ndarray) -> np.ndarray:
        """Counts n(key, value); -1 keys/values give 0; values not kept explicitly at a key get
        an equal share of the key's 'other' bucket."""
        out = np.zeros(len(key), dtype="float64")
        ok = key >= 0
        if not ok.any() or len(self.keys) == 0:
            return out
        k = key[ok].astype(np.int64)
        v = value[ok].astype(np.int64)
        if self.__dict__.get("_has_other") is None:
            self.__dict__["_has_other"] = bool(self.other_n.any())
        share = self.other_n[k] / self.other_m[k] if self.__dict__["_has_other"] else 0.0
        dense = self._dense()
        if dense is not None:
            got = dense[k, np.maximum(v, 0)].astype(np.float64)
            got = np.where((v >= 0) & ~np.isnan(got), got, share)
        else:
            combined = k * self.V + np.where(v >= 0, v, 0)
            pos = np.searchsorted(self.keys, combined)
            pos = np.minimum(pos, len(self.keys) - 1)
            found = (self.keys[pos] == combined) & (v >= 0)
            got = np.where(found, self.n[pos], share)
        out[ok] = got
        return out


@dataclass
class Fingerprints:
    """Per-pair component distributions with backoff levels, as of a window."""

    as_of: str
    windows: list[str]  # baseline windows that held data, oldest first
    hosts: pd.Index  # host ids (code = position)
    host_subnet: np.ndarray  # host code -> subnet code
    host_zone: np.ndarray  # host code -> 1 internal (Host.internal), 0 external
    subnets: pd.Index  # subnet labels (Host.subnet, or the host id when it has none)
    pair_keys: np.ndarray  # sorted int64 src * len(hosts) + dst; pair code = position
    pairs: pd.DataFrame  # per pair code: src, dst (host codes), sp (subnet pair code),
    #                      zp (zone pair code: 2 * zone(src) + zone(dst)), conns,
    #                      windows (baseline windows with an edge), injected (feedback weight)
    sp_keys: np.ndarray  # sorted int64 subnet_src * len(subnets) + subnet_dst
    vocab: dict[str, pd.Index]  # component -> value strings (code = position)
    levels: dict[str, dict[str, LevelHist]]  # component -> level -> histogram
    who: dict[str, np.ndarray | float]  # new-pair / new-host statistics (see _who_stats)
    joint: pd.DataFrame | None = None  # counts of (proto, service, dport, conn_state) tuples
    feedback: tuple[str, ...] = ()
    build_seconds: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)
    #: where the pair level is when it is not held here (`detach_pairs`): a stored result
    #: (window, name) of PAIR_SCHEMA rows; scoring then reads the pairs of each batch
    #: (`pair_view`)
    pairs_result: tuple[str, str] | None = None
    #: the pairs of every host, for explanations (a view's `pairs` holds only its own)
    peer_pairs: pd.DataFrame | None = None

    # -- lookups of observation keys ---------------------------------------------------------
    def host_codes(self, hosts: np.ndarray | pd.Series) -> np.ndarray:
        return self.hosts.get_indexer(pd.Index(hosts, dtype=object)).astype(np.int64)

    def pair_codes(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Host codes -> pair codes (-1 when the pair has no baseline)."""
        out = np.full(len(src), -1, dtype=np.int64)
        ok = (src >= 0) & (dst >= 0)
        if not ok.any() or len(self.pair_keys) == 0:
            return out
        combined = src[ok] * len(self.hosts) + dst[ok]
        pos = np.minimum(np.searchsorted(self.pair_keys, combined), len(self.pair_keys) - 1)
        out[ok] = np.where(self.pair_keys[pos] == combined, pos, -1)
        return out

    def subnet_pair_codes(self, ssub: np.ndarray, dsub: np.ndarray) -> np.ndarray:
        out = np.full(len(ssub), -1, dtype=np.int64)
        ok = (ssub >= 0) & (dsub >= 0)
        if not ok.any() or len(self.sp_keys) == 0:
            return out
        combined = ssub[ok] * len(self.subnets) + dsub[ok]
        pos = np.minimum(np.searchsorted(self.sp_keys, combined), len(self.sp_keys) - 1)
        out[ok] = np.where(self.sp_keys[pos] == combined, pos, -1)
        return out

    @property
    def n_pairs(self) -> int:
        return len(self.pairs)

    @property
    def conns(self) -> float:
        return float(self.pairs["conns"].sum()) if len(self.pairs) else 0.0

    def distribution(
        self, comp: str, level: str, key: int, top: int | None = None
    ) -> list[tuple[str, float]]:
        """(value, count) of one key at one level, most frequent first, equally frequent ones
        by value (reports, explanations: whatever the order of the value codes)."""
        lh = self.levels[comp][level]
        lo = np.searchsorted(lh.keys, key * lh.V)
        hi = np.searchsorted(lh.keys, (key + 1) * lh.V)
        vals = lh.keys[lo:hi] % lh.V
        ns = lh.n[lo:hi]
        voc = self.vocab[comp]
        out = sorted(
            ((str(voc[int(v)]), float(n)) for v, n in zip(vals, ns, strict=True)),
            key=lambda vn: (-vn[1], vn[0]),
        )
        return out[:top] if top else out


def _aggregate(
    key: np.ndarray,
    value: np.ndarray,
    n: np.ndarray,
    n_keys: int,
    V: int,
    other_code: int,
    m_per_key: np.ndarray | None,
) -> LevelHist:
    """(key, value, n) rows -> LevelHist, summing duplicates."""
    V = max(V, 1)
    if len(key) == 0:
        z = np.zeros(n_keys)
        return LevelHist(V, np.zeros(0, np.int64), np.zeros(0), z, z.copy(), z.copy(), z + 1)
    combined = key.astype(np.int64) * V + value
    codes, uniq = pd.factorize(combined, sort=True)
    counts = np.bincount(codes, weights=n, minlength=len(uniq))
    uniq = np.asarray(uniq, dtype=np.int64)
    keep = counts > 0
    uniq, counts = uniq[keep], counts[keep]
    k = uniq // V
    v = uniq % V
    total = np.bincount(k, weights=counts, minlength=n_keys)
    p = counts / total[k]
    entropy = np.bincount(k, weights=-p * np.log2(p), minlength=n_keys)
    if other_code >= 0:
        other_n = np.zeros(n_keys)
        o = v == other_code
        other_n[k[o]] = counts[o]
    else:  # nothing folded: one read-only zero for every key
        other_n = np.broadcast_to(np.float64(0.0), (n_keys,))
    # without folded values every key's estimate is 1: one read-only number for all of them
    other_m = (
        np.broadcast_to(np.float64(1.0), (n_keys,))
        if m_per_key is None
        else np.maximum(m_per_key, 1.0)
    )
    return LevelHist(V, uniq, counts, total, entropy, other_n, other_m)


#: with a single baseline window, its last share of time in which new pairs and hosts are
#: counted against the earlier rest (see _who_stats)
WHO_HOLDOUT = 0.3


def _who_stats(
    win_idx: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    pair: np.ndarray,
    zone: np.ndarray,
    host_subnet: np.ndarray,
    pair_sp: np.ndarray,
    sizes: tuple[int, int, int, int],
    first_ts: np.ndarray | None = None,
    last_ts: np.ndarray | None = None,
) -> dict[str, np.ndarray | float]:
    """How often new pairs, new clients and new servers appeared within the baseline itself.

    From the second baseline window on, an edge is a "new pair" event when its pair did not
    appear in an earlier baseline window; a host appearing as a source (destination) is a "new
    client" ("new server") event when it was never a source (destination) before. Events and
    opportunities are counted per level, so that scoring can back rates off like components:

        new pair:   client (src, zone of dst) / server (dst, zone of src) <- subnet pair
                    <- zone pair <- global
        new client: subnet of src <- zone of src <- global   (new server likewise)

    The zone split keeps the churn of external addresses from making a new internal host or
    a new internal pair look ordinary.

    With a single baseline window and the edges' first / last connection times (`first_ts`,
    `last_ts`), the window's last `WHO_HOLDOUT` share of time plays the later window: an edge
    active then is an opportunity, and a new pair when its first connection falls in it (a
    host likewise, by its first and last connection in that role). Without either, every rate
    is its prior (one bit for a new pair)."""
    n_hosts, n_pairs, n_sub, n_sp = sizes
    big = np.iinfo(np.int64).max
    nw = int(win_idx.max(initial=0)) + 1
    split = (
        nw == 1
        and first_ts is not None
        and last_ts is not None
        and len(first_ts) > 0
        and bool(np.isfinite(first_ts).all() and np.isfinite(last_ts).all())
    )
    if split:
        assert first_ts is not None and last_ts is not None
        lo, hi = float(first_ts.min()), float(last_ts.max())
        cut = lo + (1.0 - WHO_HOLDOUT) * (hi - lo)
        later = (last_ts >= cut) & (hi > lo)
        new = later & (first_ts >= cut)  # one edge per pair in a single window
    else:
        first_pair = np.full(n_pairs, big, dtype=np.int64)
        np.minimum.at(first_pair, pair, win_idx)
        later = win_idx >= 1
        new = later & (first_pair[pair] == win_idx)
    zs, zd = zone[src], zone[dst]

    def count(key: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.bincount(key[new], minlength=size).astype("float64"),
            np.bincount(key[later], minlength=size).astype("float64"),
        )

    out: dict[str, np.ndarray | float] = {}
    for name, key, size in (
        ("c", src * 2 + zd, 2 * n_hosts),
        ("s", dst * 2 + zs, 2 * n_hosts),
        ("sp", pair_sp[pair], n_sp),
        ("zp", zs * 2 + zd, 4),
    ):
        out[f"{name}_new"], out[f"{name}_opp"] = count(key, size)
    out["g_new"], out["g_opp"] = float(new.sum()), float(later.sum())
    for side, h in (("src", src), ("dst", dst)):
        first = np.full(n_hosts, big, dtype=np.int64)
        np.minimum.at(first, h, win_idx)
        if split:
            assert first_ts is not None and last_ts is not None
            t_first = np.full(n_hosts, np.inf)
            t_last = np.full(n_hosts, -np.inf)
            np.minimum.at(t_first, h, first_ts)
            np.maximum.at(t_last, h, last_ts)
            hh = np.flatnonzero(np.isfinite(t_first) & (t_last >= cut) & (hi > lo))
            is_new = t_first[hh] >= cut
        else:
            appear = np.unique(h[later] * nw + win_idx[later])
            hh, ww = appear // nw, appear % nw
            is_new = first[hh] == ww
        p = "hc" if side == "src" else "hs"
        out[f"{p}_sub_new"] = np.bincount(host_subnet[hh][is_new], minlength=n_sub).astype(float)
        out[f"{p}_sub_opp"] = np.bincount(host_subnet[hh], minlength=n_sub).astype(float)
        out[f"{p}_zone_new"] = np.bincount(zone[hh][is_new], minlength=2).astype(float)
        out[f"{p}_zone_opp"] = np.bincount(zone[hh], minlength=2).astype(float)
        out[f"{p}_g_new"], out[f"{p}_g_opp"] = float(is_new.sum()), float(len(hh))
        out[f"is_{side}"] = first < big  # host seen in this role in the baseline
    return out


def build(
    as_of: str,
    hist: EdgeHistograms,
    injected: EdgeHistograms | None = None,
    hosts_info: Mapping[str, Mapping[str, Any]] | None = None,
    joint: pd.DataFrame | None = None,
    feedback: Sequence[str] = (),
    settings: Settings | None = None,
    split: bool = False,
    consume: bool = False,
    pair_sink: Callable[[int, LevelHist], None] | None = None,
) -> Fingerprints:
    """Edge histograms of the baseline windows (+ feedback pseudo-edges) -> Fingerprints.

    With `consume`, each component's edge histograms are dropped from `hist` (and `injected`)
    once aggregated, so the edge rows and the fingerprint are not held in full together.
    With `pair_sink`, each component's pair level is handed to it (with the component's
    position in COMPONENTS) as soon as it is made, and not kept: the caller stores it (see
    `level_batches`) and sets `pairs_result`; `meta["pair_whole"]` says per component whether
    its pair-level counts are whole numbers (how Neo4j lists them).

    `hist.edges.window` must be baseline windows (all before `as_of`; with `split`, `as_of`
    itself: the window's first part, a time split of a window without history); `injected`
    edges carry approved (benign) observations with their weight already applied to the
    counts. Subnet and zone of a host: Host.subnet / Host.internal carried by the edges, else
    `hosts_info` ({id: {"subnet", "internal"}}), else ingest's classification
    (settings.internal_cidrs)."""
    t0 = time.perf_counter()
    real = hist
    allh = concat_histograms([hist, injected]) if injected is not None else hist
    if consume and allh is not hist and not isinstance(allh.comps, CompSource):
        hist.comps.clear()  # the concatenation holds them
        if injected is not None:
            injected.comps.clear()
    edges = allh.edges
    n_real = len(real.edges)
    bad = [
        w
        for w in pd.unique(real.edges["window"])
        if str(w) > as_of or (str(w) == as_of and not split)
    ]
    if bad:
        raise ValueError(f"baseline of {as_of} contains windows not before it: {bad}")
    # hosts in id order: pair codes then follow (src, dst) order, the order in which the engine
    # gives a window's combinations, so a batch of them needs one range of pairs (`pair_view`)
    hosts = pd.Index(
        np.sort(
            pd.unique(np.concatenate([edges["src"].to_numpy(), edges["dst"].to_numpy()])).astype(
                str
            )
        ),
        dtype=object,
    )
    H = len(hosts)
    src = hosts.get_indexer(edges["src"]).astype(np.int64)
    dst = hosts.get_indexer(edges["dst"]).astype(np.int64)

    # subnet and zone of each host
    sub = pd.Series([None] * H, index=hosts, dtype=object)
    internal = pd.Series([None] * H, index=hosts, dtype=object)
    for side, h in (("src", src), ("dst", dst)):
        for col, target in ((f"{side}_subnet", sub), (f"{side}_internal", internal)):
            if col in edges.columns:
                vals = edges[col].to_numpy(dtype=object)
                ok = pd.notna(vals)
                target.iloc[h[ok]] = vals[ok]
    classify = ingest.host_classifier(settings.internal_cidrs if settings else ())
    missing = [h for h, i, z in zip(hosts, sub, internal, strict=True) if i is None or z is None]
    for h in missing:
        info = (hosts_info or {}).get(str(h)) or classify(str(h))
        if sub[h] is None:
            sub[h] = info.get("subnet")
        if internal[h] is None:
            internal[h] = info.get("internal")
    sub = sub.where(sub.notna(), pd.Series(hosts.to_numpy(dtype=object), index=hosts))
    host_subnet_codes, subnet_labels = pd.factorize(sub.astype(str).to_numpy(), sort=False)
    host_subnet = host_subnet_codes.astype(np.int64)
    host_zone = internal.fillna(False).astype(bool).to_numpy().astype(np.int64)
    S = max(len(subnet_labels), 1)

    pair_combined = src * max(H, 1) + dst
    pair_of_edge, pair_keys = pd.factorize(pair_combined, sort=True)
    pair_keys = np.asarray(pair_keys, dtype=np.int64)
    P = len(pair_keys)
    p_src = pair_keys // max(H, 1)
    p_dst = pair_keys % max(H, 1)
    sp_combined = host_subnet[p_src] * S + host_subnet[p_dst]
    pair_sp, sp_keys = pd.factorize(sp_combined, sort=True)
    pair_sp = pair_sp.astype(np.int64)
    sp_keys = np.asarray(sp_keys, dtype=np.int64)
    pair_zp = host_zone[p_src] * 2 + host_zone[p_dst]

    conns = edges["conns"].to_numpy(dtype="float64")
    is_real = np.arange(len(edges)) < n_real
    windows_sorted = sorted({str(w) for w in real.edges["window"]})
    widx = pd.Index(windows_sorted)
    real_win = widx.get_indexer(pd.Index(real.edges["window"].astype(str))).astype(np.int64)
    pair_windows = np.zeros(P, dtype=np.int64)
    if n_real:
        pw = np.unique(pair_of_edge[:n_real] * (len(widx) + 1) + real_win)
        pair_windows = np.bincount(pw // (len(widx) + 1), minlength=P)
    pairs = pd.DataFrame(
        {
            "src": p_src,
            "dst": p_dst,
            "sp": pair_sp,
            "zp": pair_zp,
            "conns": np.bincount(pair_of_edge, weights=conns, minlength=P),
            "windows": pair_windows,
            "injected": np.bincount(
                pair_of_edge, weights=np.where(is_real, 0.0, conns), minlength=P
            ),
        }
    )
    level_key = {
        "pair": np.arange(P, dtype=np.int64),
        "client": p_src,
        "server": p_dst,
        "subnet_pair": pair_sp,
        "zone_pair": pair_zp,
        "global": np.zeros(P, dtype=np.int64),
    }
    level_size = {
        "pair": P,
        "client": H,
        "server": H,
        "subnet_pair": len(sp_keys),
        "zone_pair": 4,
        "global": 1,
    }

    vocab: dict[str, pd.Index] = {}
    levels: dict[str, dict[str, LevelHist]] = {}
    whole: dict[str, bool] = {}
    totals: dict[str, np.ndarray] = {}  # per level, the first component's per-key totals
    for comp in COMPONENTS:
        ce = allh.comps.pop(comp) if consume else allh.comps[comp]
        voc = ce.vocab
        vocab[comp] = voc
        V = max(len(voc), 1)
        other_code = (
            int(np.flatnonzero(voc == OTHER)[0]) if (comp in FOLDED and OTHER in voc) else -1
        )
        pair_rows = pair_of_edge[ce.edge] if len(ce.edge) else np.zeros(0, np.int64)
        m_pair: np.ndarray | None = None
        if comp in FOLDED and other_code >= 0 and ce.distinct is not None:
            # distinct values folded into 'other' per edge = distinct - explicit keys kept
            explicit = np.bincount(ce.edge[ce.value != other_code], minlength=len(edges)).astype(
                "float64"
            )
            has_other = np.bincount(ce.edge[ce.value == other_code], minlength=len(edges)) > 0
            m_edge = np.where(has_other, np.maximum(ce.distinct - explicit, 1.0), 0.0)
            m_pair = np.zeros(P)
            np.maximum.at(m_pair, pair_of_edge, m_edge)
        # the pair level from the edges' rows; every coarser level sums the pair level's
        # (pair, value) counts, which are fewer than the edges' rows (a pair has an edge per
        # window)
        levels[comp] = {"pair": _aggregate(pair_rows, ce.value, ce.n, P, V, other_code, m_pair)}
        del ce, pair_rows  # before the coarser levels' rows are made
        by_pair = levels[comp]["pair"]
        pk, pv = by_pair.keys // V, by_pair.keys % V
        for lvl in LEVELS:
            if lvl == "pair":
                continue
            m = None
            if m_pair is not None:
                m = np.zeros(level_size[lvl])
                np.maximum.at(m, level_key[lvl], m_pair)
            key = level_key[lvl][pk]
            lh = _aggregate(key, pv, by_pair.n, level_size[lvl], V, other_code, m)
            del key
            # a key's total is its connections, the same for every component: one array
            seen = totals.get(lvl)
            if seen is not None and np.array_equal(seen, lh.total):
                lh.total = seen
            else:
                totals[lvl] = lh.total
            levels[comp][lvl] = lh
        del by_pair, pk, pv
        if pair_sink is not None:
            lh = levels[comp]["pair"]
            pair_sink(COMPONENTS.index(comp), lh)
            rounded = np.round(lh.n, 3)
            whole[comp] = bool(np.all(rounded == np.floor(rounded)))
            levels[comp]["pair"] = _empty_level(lh.V)
            del lh, rounded
    timed = {"first", "last"} <= set(real.edges.columns)
    who = _who_stats(
        real_win,
        src[:n_real],
        dst[:n_real],
        pair_of_edge[:n_real].astype(np.int64),
        host_zone,
        host_subnet,
        pair_sp,
        (H, P, len(subnet_labels), len(sp_keys)),
        first_ts=real.edges["first"].to_numpy(dtype="float64") if timed else None,
        last_ts=real.edges["last"].to_numpy(dtype="float64") if timed else None,
    )
    fp = Fingerprints(
        as_of=as_of,
        windows=windows_sorted,
        hosts=hosts,
        host_subnet=host_subnet,
        host_zone=host_zone,
        subnets=pd.Index(subnet_labels, dtype=object),
        pair_keys=pair_keys,
        pairs=pairs,
        sp_keys=sp_keys,
        vocab=vocab,
        levels=levels,
        who=who,
        joint=joint,
        feedback=tuple(feedback),
    )
    if pair_sink is not None:
        fp.meta["pair_whole"] = whole
    fp.build_seconds = time.perf_counter() - t0
    log.debug("fingerprints as of %s: %d pairs in %.2fs", as_of, P, fp.build_seconds)
    return fp


def joint_counts(comps: pd.DataFrame) -> pd.DataFrame:
    """Counts of each (proto, service, dport, conn_state) tuple in a components frame."""
    if comps.empty:
        return pd.DataFrame({**{c: pd.Series([], dtype=object) for c in JOINT}, "n": []})
    out = comps.groupby(list(JOINT), sort=False).size().rename("n").reset_index()
    out["n"] = out["n"].astype("float64")
    return out


def fingerprints_from_connections(
    baseline: pd.DataFrame,
    as_of: str,
    settings: Settings | None = None,
    *,
    window_kind: str | None = None,
    injected: EdgeHistograms | None = None,
) -> Fingerprints:
    """Pure path (tests, benchmarks): baseline connections -> Fingerprints, through exactly the
    aggregation ingest stores on the edges."""
    settings = settings or Settings(home=Path("."))
    kind = window_kind or windows.kind_of(as_of)
    hist = edge_histograms_from_connections(baseline, kind, settings)
    joint = joint_counts(features.components(baseline)) if len(baseline) else None
    return build(as_of, hist, injected=injected, joint=joint, settings=settings)


# --------------------------------------------------------------------------------------------
# the pair level out of memory: stored rows, and views of the pairs a batch needs
# --------------------------------------------------------------------------------------------
#: the pair level as rows: pair code, component (position in COMPONENTS), value code, count,
#: and the pair's estimate of distinct values folded into 'other' (1 when none)
PAIR_SCHEMA = pa.schema(
    [
        ("pair", pa.int64()),
        ("comp", pa.int8()),
        ("value", pa.int64()),
        ("n", pa.float64()),
        ("m", pa.float64()),
    ]
)
#: pairs whose rows make one batch of PAIR_SCHEMA rows
PAIR_CHUNK = 50_000


def pair_batches(fp: Fingerprints, chunk: int = PAIR_CHUNK) -> Iterator[pa.RecordBatch]:
    """The pair level of every component as PAIR_SCHEMA rows, by (pair, comp, value), `chunk`
    pairs at a time."""
    for lo in range(0, fp.n_pairs, max(chunk, 1)):
        hi = min(lo + chunk, fp.n_pairs)
        cols: dict[str, list[np.ndarray]] = {name: [] for name in PAIR_SCHEMA.names}
        for ci, comp in enumerate(COMPONENTS):
            lh = fp.levels[comp]["pair"]
            a = int(np.searchsorted(lh.keys, lo * lh.V))
            b = int(np.searchsorted(lh.keys, hi * lh.V))
            k = lh.keys[a:b] // lh.V
            cols["pair"].append(k)
            cols["comp"].append(np.full(b - a, ci, dtype=np.int8))
            cols["value"].append(lh.keys[a:b] % lh.V)
            cols["n"].append(lh.n[a:b])
            cols["m"].append(np.asarray(lh.other_m, dtype="float64")[k])
        pair = np.concatenate(cols["pair"])
        order = np.lexsort((np.concatenate(cols["value"]), np.concatenate(cols["comp"]), pair))
        yield pa.record_batch(
            [pa.array(np.concatenate(cols[name])[order]) for name in PAIR_SCHEMA.names],
            schema=PAIR_SCHEMA,
        )


def _empty_level(V: int) -> LevelHist:
    z = np.zeros(0)
    return LevelHist(V, np.zeros(0, dtype=np.int64), z, z, z, z, z)


def level_batches(ci: int, lh: LevelHist, chunk: int = 1 << 20) -> Iterator[pa.RecordBatch]:
    """One component's pair level (`ci`: its position in COMPONENTS) as PAIR_SCHEMA rows, by
    (pair, value), `chunk` rows at a time (`build(pair_sink=...)` stores them)."""
    for a in range(0, len(lh.keys), max(chunk, 1)):
        keys = lh.keys[a : a + chunk]
        k = keys // lh.V
        yield pa.record_batch(
            [
                pa.array(k),
                pa.array(np.full(len(keys), ci, dtype=np.int8)),
                pa.array(keys % lh.V),
                pa.array(lh.n[a : a + chunk]),
                pa.array(np.asarray(lh.other_m, dtype="float64")[k]),
            ],
            schema=PAIR_SCHEMA,
        )


def detach_pairs(fp: Fingerprints, where: tuple[str, str]) -> None:
    """Drop the pair level from `fp` (its rows were stored as the result `where`, from
    `pair_batches`): what stays in memory per pair is its key and its row of `pairs`."""
    whole: dict[str, bool] = {}
    for comp in COMPONENTS:
        lh = fp.levels[comp]["pair"]
        rounded = np.round(lh.n, 3)
        whole[comp] = bool(np.all(rounded == np.floor(rounded)))
        fp.levels[comp]["pair"] = _empty_level(lh.V)
    fp.meta["pair_whole"] = whole
    for cached in ("_pair_weights", "_pair_coefficients"):
        fp.meta.pop(cached, None)
    fp.pairs_result = where


def pair_view(fp: Fingerprints, sel: np.ndarray, rows: pa.Table) -> Fingerprints:
    """`fp` restricted to the pairs `sel` (sorted global pair codes), their pair level made of
    their stored rows (PAIR_SCHEMA, by pair, comp, value): scoring through the view gives what
    the whole fingerprint gives for those pairs (each pair's numbers come from its own rows,
    summed in the same order). Pair codes of the view are positions in `sel`."""
    sel = np.asarray(sel, dtype=np.int64)
    pair = rows.column("pair").to_numpy()
    local = np.searchsorted(sel, pair).astype(np.int64)
    comp_col = rows.column("comp").to_numpy()
    value = rows.column("value").to_numpy().astype(np.int64)
    n = rows.column("n").to_numpy()
    m = rows.column("m").to_numpy()
    levels: dict[str, dict[str, LevelHist]] = {}
    for ci, comp in enumerate(COMPONENTS):
        mask = comp_col == ci
        voc = fp.vocab[comp]
        other_code = (
            int(np.flatnonzero(voc == OTHER)[0]) if (comp in FOLDED and OTHER in voc) else -1
        )
        m_key = None
        if other_code >= 0:
            m_key = np.zeros(len(sel))
            np.maximum.at(m_key, local[mask], m[mask])
        V = fp.levels[comp]["pair"].V
        lh = _aggregate(local[mask], value[mask], n[mask], len(sel), V, other_code, m_key)
        levels[comp] = {**fp.levels[comp], "pair": lh}
    return replace(
        fp,
        pair_keys=fp.pair_keys[sel],
        pairs=fp.pairs.iloc[sel].reset_index(drop=True),
        levels=levels,
        meta={},
        pairs_result=None,
        peer_pairs=fp.pairs if fp.peer_pairs is None else fp.peer_pairs,
    )
