"""Per-edge component histograms: what the novelty fingerprints are built from, in code form.

The histograms are those of the connection archive's edges (src, dst, window), folded as ingest
used to keep them on the `TALKED` edges: `dport` and `history` keep their most frequent values
per edge and count the rest under 'other' (`FOLDED`, `fold_top`). The store path computes them
with the analytical engine (`graphnet/sql/novelty_edge_values.sql`, see `baseline`) and turns
them into code form here (`edge_histograms_from_tables`, `edge_histograms_from_batches`);
`edge_histograms_from_connections` is the same aggregation in pandas (tests, benchmarks, its
oracle). Feedback pseudo-edges are edge histograms too, in the window `INJECTED`.

In code form a component's histograms are parallel arrays (edge, value code, count) over its
value strings (`CompEdges`); the edges carry ingest's classification of both ends
(`classify_hosts`: subnet and zone, what the Host nodes hold).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from graphnet import features, ingest, windows
from graphnet.archive import LABEL_COLUMNS
from graphnet.config import Settings

COMPONENTS: tuple[str, ...] = tuple(features.COMPONENTS)
#: components with an 'other' bucket: an edge keeps its most frequent values of these
FOLDED: tuple[str, ...] = ("dport", "history")
OTHER = "other"  # the value that counts an edge's folded rest
EDGE_KEY = ["src", "dst", "window"]
INJECTED = ""  # window id of feedback pseudo-edges


def fold_limits(settings: Settings) -> dict[str, int]:
    """How many values of each folded component an edge keeps."""
    return {"dport": settings.top_ports, "history": settings.top_history}


# --------------------------------------------------------------------------------------------
# input: edge histograms in code form
# --------------------------------------------------------------------------------------------
@dataclass
class CompEdges:
    """One component's histograms over a set of edges: parallel arrays of (edge, value, n)."""

    edge: np.ndarray  # row of EdgeHistograms.edges (int64, or int32 as the engine's are read)
    value: np.ndarray  # code into vocab (int64, or int32 as the engine's are read)
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
    n = len(edges)
    codes, uniq = pd.factorize(
        np.concatenate([edges["src"].to_numpy(dtype=object), edges["dst"].to_numpy(dtype=object)])
    )
    # per distinct host (either end), the last entry for a missing one (code -1); equal subnets
    # are one string
    sub = np.full(len(uniq) + 1, None, dtype=object)
    internal = np.full(len(uniq) + 1, None, dtype=object)
    shared: dict[str, str] = {}
    for i, h in enumerate(uniq):
        info = classify(str(h))
        subnet = info["subnet"]
        sub[i] = None if subnet is None else shared.setdefault(subnet, subnet)
        internal[i] = info["internal"]
    del shared, uniq
    for key, part in (("src", codes[:n]), ("dst", codes[n:])):
        edges[f"{key}_subnet"] = pd.Series(sub[part], index=edges.index, dtype=object)
        edges[f"{key}_internal"] = pd.Series(internal[part], index=edges.index, dtype=object)


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
            "src": named(text("src")),
            "dst": named(text("dst")),
            "window": named(text("win")),
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


def named(values: np.ndarray) -> pd.Series:
    """An edges frame's column of names (hosts, windows) as the Python strings it is given
    (pandas would make a string column of them, whose every read as objects, to code the
    names, makes a new Python string per row)."""
    return pd.Series(values.astype(object, copy=False), dtype=object)


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
        """The values' codes, as int32 (a component has far fewer values)."""
        arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        if len(arr) == 0:
            return np.zeros(0, dtype=np.int32)
        enc = pc.dictionary_encode(arr)
        local = enc.dictionary.to_pylist()  # first appearance within the batch
        remap = np.empty(len(local), dtype=np.int32)
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
            "src": named(shared_strings(edges.column("src"))),
            "dst": named(shared_strings(edges.column("dst"))),
            "window": named(shared_strings(edges.column("win"))),
            "conns": edges.column("conns").cast(pa.float64()).to_numpy(),
        }
    )
    for name, ms in (("first", "first_ms"), ("last", "last_ms")):
        if ms in names:  # epoch ms -> epoch seconds, as the TALKED edges gave them
            frame[name] = edges.column(ms).cast(pa.float64()).to_numpy() / 1000.0
    classify_hosts(frame, settings)
    # what the components need of the engine's table, so that it is not kept meanwhile
    distincts = {
        comp: edges.column(f"{comp}_distinct").cast(pa.float64()).to_numpy()
        for comp in FOLDED
        if f"{comp}_distinct" in names
    }
    del edges

    def make(comp: str) -> CompEdges:
        codes = _Codes()
        e_parts: list[np.ndarray] = []
        v_parts: list[np.ndarray] = []
        n_parts: list[np.ndarray] = []
        for batch in components[comp]:
            # int32 rows and codes: a component's rows take 16 bytes, not 24 (the edges of
            # a set of windows number far below 2**31)
            e_parts.append(batch.column("edge").cast(pa.int32()).to_numpy())
            v_parts.append(codes.encode(batch.column("value")))
            n_parts.append(batch.column("n").cast(pa.float64()).to_numpy())
        # each column's parts let go once joined: the rows are held once and one column more,
        # never twice
        edge, value, n = (
            _joined(parts, dtype)
            for parts, dtype in ((e_parts, np.int32), (v_parts, np.int32), (n_parts, np.float64))
        )
        return CompEdges(edge, value, n, codes.vocab, distincts.get(comp))

    return EdgeHistograms(frame, CompSource(make))


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    """The parts joined into one array, `parts` emptied (so that the caller's list holds them
    no more)."""
    if not parts:
        return np.zeros(0, dtype=dtype)
    out = np.concatenate(parts) if len(parts) > 1 else parts[0]
    parts.clear()
    return out


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
            "src": named(table.column("src").to_numpy(zero_copy_only=False)),
            "dst": named(table.column("dst").to_numpy(zero_copy_only=False)),
            "window": named(table.column("window").to_numpy(zero_copy_only=False)),
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
