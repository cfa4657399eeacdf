"""The transform, pure functions over DataFrames: parsed connections -> per (src, dst, window)
sums and categorical histograms (`graphnet.accumulate`), the rows of edges and hosts ready for
loading, and what a later file adds to an edge (`merge_props`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from graphnet import accumulate, archive
from graphnet.config import Settings

NUMERIC = accumulate.NUMERIC
TOPN_COMPONENTS = ("dport", "history")
#: rows transformed at once (amortises per-call overhead over small files; bounds memory)
TRANSFORM_ROWS = 500_000
LABEL_COLUMNS = archive.LABEL_COLUMNS
OTHER = accumulate.OTHER  # one folding value and one edge key for ingest and accumulate
EDGE_KEY = accumulate.EDGE_KEY


@dataclass
class Aggregate:
    """Per-edge sums (`edges`) and long-format histograms (`hist`) of some connections."""

    edges: pd.DataFrame  # src, dst, window, conns, src_bytes..duration, first, last
    hist: pd.DataFrame  # src, dst, window, comp, value, n

    @staticmethod
    def empty() -> Aggregate:
        return Aggregate(
            pd.DataFrame(columns=[*EDGE_KEY, "conns", *NUMERIC, "first", "last"]),
            pd.DataFrame(columns=[*EDGE_KEY, "comp", "value", "n"]),
        )


def transform(frame: pd.DataFrame, window_kind: str) -> Aggregate:
    """Normalised connections -> per (src, dst, window) sums and categorical histograms."""
    if frame.empty:
        return Aggregate.empty()
    chunk = accumulate.chunk_codes(frame, window_kind)
    edge_keys = chunk.edges[EDGE_KEY]
    parts = []
    for comp, (e, v, n, vocab) in chunk.hist.items():
        part = edge_keys.iloc[e].reset_index(drop=True)
        part["comp"] = comp
        part["value"] = vocab[v]
        part["n"] = n
        parts.append(part)
    return Aggregate(chunk.edges, pd.concat(parts, ignore_index=True))


def combine(aggs: Sequence[Aggregate]) -> Aggregate:
    """Sum several aggregates (chunks of one file) into one."""
    aggs = [a for a in aggs if not a.edges.empty]
    if not aggs:
        return Aggregate.empty()
    if len(aggs) == 1:
        return aggs[0]
    edges = pd.concat([a.edges for a in aggs], ignore_index=True)
    edges = edges.groupby(EDGE_KEY, sort=False, as_index=False).agg(
        conns=("conns", "sum"),
        **{c: (c, "sum") for c in NUMERIC},
        first=("first", "min"),
        last=("last", "max"),
    )
    hist = pd.concat([a.hist for a in aggs], ignore_index=True)
    summed: pd.DataFrame = hist.groupby(  # type: ignore[assignment]
        [*EDGE_KEY, "comp", "value"], sort=False, as_index=False
    )["n"].sum()
    return Aggregate(edges, summed)


def host_rows(
    rows: accumulate.EdgeRows, classify: Callable[[str], dict[str, Any]]
) -> list[dict[str, Any]]:
    """`hosts_upsert` rows for every host of the edges: its classification and time span."""
    return [
        {"id": h, "props": classify(h), "first_ms": span[0], "last_ms": span[1]}
        for h, span in rows.hosts().items()
    ]


def edge_rows(agg: Aggregate, top: dict[str, int]) -> list[dict[str, Any]]:
    """Aggregate -> one dict per edge (sorted by src, dst, window) ready for loading: the rows
    `graphnet.accumulate.EdgeRows` gives (the one implementation, used by ingest itself)."""
    if agg.edges.empty:
        return []
    pos = pd.MultiIndex.from_frame(agg.edges[EDGE_KEY]).get_indexer(
        pd.MultiIndex.from_frame(agg.hist[EDGE_KEY])
    )
    hist = {}
    for comp, h in agg.hist.assign(e=pos).groupby("comp", sort=False):
        codes, vocab = pd.factorize(h["value"].to_numpy(), sort=False)
        hist[str(comp)] = (
            h["e"].to_numpy(dtype=np.int64),
            codes.astype(np.int64),
            h["n"].to_numpy(dtype=np.int64),
            np.asarray(vocab, dtype=object),
        )
    acc = accumulate.EdgeAccumulator()
    acc.add(accumulate.ChunkCodes(agg.edges, hist))
    rows = acc.rows(top)
    return rows.slice(0, len(rows))


def edge_key(src: str, dst: str, window: str) -> str:
    """The `key` property of a TALKED edge (indexed): unique per (src, dst, window) for any
    strings, `<len(src)>:src|<len(dst)>:dst|window` (`graphnet.accumulate.edge_key`)."""
    return accumulate.edge_key(src, dst, window)


def edge_top(settings: Settings) -> dict[str, int]:
    """How many values of each summarised component an edge keeps (the rest: `other`)."""
    return {c: settings.top_ports for c in accumulate.EDGE_COMPONENTS}


def merge_props(old: dict[str, Any], new: dict[str, Any], top: dict[str, int]) -> dict[str, Any]:
    """Add a new file's edge aggregate to what the edge already holds."""
    out = dict(new)
    for key, value in old.items():
        if key in ("window", "first_seen", "last_seen", *accumulate.SUMMARY_PROPS.values()):
            continue
        if key.endswith("_k"):
            comp = key[:-2]
            counts: dict[str, int] = {}
            for k, n in zip(old.get(f"{comp}_k", []), old.get(f"{comp}_n", []), strict=False):
                counts[k] = counts.get(k, 0) + int(n)
            for k, n in zip(new.get(f"{comp}_k", []), new.get(f"{comp}_n", []), strict=False):
                counts[k] = counts.get(k, 0) + int(n)
            items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            limit = top.get(comp)
            if limit is not None and sum(1 for k, _ in items if k != OTHER) > limit:
                kept = [(k, n) for k, n in items if k != OTHER][:limit]
                folded = sum(counts.values()) - sum(n for _, n in kept)
                items = sorted([*kept, (OTHER, folded)], key=lambda kv: (-kv[1], kv[0]))
            out[f"{comp}_k"] = [k for k, _ in items]
            out[f"{comp}_n"] = [n for _, n in items]
        elif key.endswith("_n"):
            continue
        elif key.endswith("_distinct"):
            comp = key[: -len("_distinct")]
            union = {
                k for k in [*old.get(f"{comp}_k", []), *new.get(f"{comp}_k", [])] if k != OTHER
            }
            out[key] = max(int(value), int(new.get(key, 0)), len(union))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = type(value)(value + new.get(key, 0))
    for comp, prop in accumulate.SUMMARY_PROPS.items():
        if f"{comp}_k" in out:
            out[prop] = accumulate.summary(out[f"{comp}_k"], out[f"{comp}_n"])
    return out


def concat(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
