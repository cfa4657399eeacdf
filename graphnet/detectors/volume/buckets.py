"""Sparse (entity, bucket) cells: flows, bytes and distinct peers per host (or busy edge) and
time bucket, the busy edges, and the (hour of day, weekday/weekend) group of a bucket.

Zero buckets are never materialised: every statistic downstream counts them instead. These are
the in-memory versions (the pure model's, and the oracle of the SQL aggregations of
`volume.aggregates` that the step runs over the archive).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NG = 48  # groups: hour of day x (weekday, weekend)
POOLED = NG  # group id of an entity's pooled distribution (fallback)
SHIFT = np.int64(1) << np.int64(31)


def _total(frame: pd.DataFrame, a: str, b: str) -> np.ndarray:
    x = pd.to_numeric(frame[a], errors="coerce").to_numpy(dtype="float64")
    y = pd.to_numeric(frame[b], errors="coerce").to_numpy(dtype="float64")
    return np.nan_to_num(x, nan=0.0) + np.nan_to_num(y, nan=0.0)


def day_span(
    first: float, last: float, start: float | None = None, end: float | None = None
) -> tuple[float, float]:
    """[start, end) of a fit: given, or the whole UTC days from `first` to `last` (the first
    and last connection times)."""
    if start is None:
        start = float(np.floor(first / 86400.0) * 86400.0)
    if end is None:
        end = float(np.floor(last / 86400.0) * 86400.0 + 86400.0)
    return start, end


def busy_edges(conns: pd.DataFrame, min_flows: int, max_edges: int) -> pd.Index:
    """The edges (`src->dst`) with at least `min_flows` connections, busiest first (ties: the
    first seen first), at most `max_edges`: those that get their own series."""
    pair = conns["src"].astype(str) + "->" + conns["dst"].astype(str)
    vc = pair.value_counts()
    vc = vc[vc >= min_flows].head(max_edges)
    return pd.Index(vc.index.to_numpy())


def group_of(bucket: np.ndarray, bucket_seconds: int) -> np.ndarray:
    """Absolute bucket index -> group id hour*2 + weekend (UTC)."""
    t = bucket.astype(np.int64) * int(bucket_seconds)
    hour = (t // 3600) % 24
    dow = ((t // 86400) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    return (hour * 2 + (dow >= 5)).astype(np.int64)


def _entity_rows(conns: pd.DataFrame, edges: pd.Index | None, bucket_seconds: int) -> pd.DataFrame:
    """One row per (entity, connection): both endpoints as hosts, and the edge if tracked."""
    ts = conns["ts"].to_numpy(dtype="float64")
    bucket = np.floor(ts / bucket_seconds).astype(np.int64)
    src = conns["src"].astype(str).to_numpy(dtype=object)
    dst = conns["dst"].astype(str).to_numpy(dtype=object)
    byt = _total(conns, "src_bytes", "dst_bytes")
    dport = pd.to_numeric(conns["dport"], errors="coerce").fillna(-1).astype(np.int64).to_numpy()
    rows = np.arange(len(ts))
    other = src != dst  # a connection from a host to itself counts once for it
    parts = [
        pd.DataFrame({"entity": src, "bucket": bucket, "bytes": byt, "peer": dst, "row": rows}),
        pd.DataFrame(
            {
                "entity": dst[other],
                "bucket": bucket[other],
                "bytes": byt[other],
                "peer": src[other],
                "row": rows[other],
            }
        ),
    ]
    if edges is not None and len(edges):
        ekey = src + "->" + dst
        m = pd.Index(edges).get_indexer(pd.Index(ekey)) >= 0
        if m.any():
            parts.append(
                pd.DataFrame(
                    {
                        "entity": ekey[m],
                        "bucket": bucket[m],
                        "bytes": byt[m],
                        "peer": dport[m].astype(str).astype(object),
                        "row": rows[m],
                    }
                )
            )
    return pd.concat(parts, ignore_index=True)


def cells(
    conns: pd.DataFrame,
    entities: pd.Index,
    edges: pd.Index | None,
    bucket_seconds: int,
    add_entities: bool = True,
) -> tuple[pd.DataFrame, pd.Index]:
    """Sparse cells (entity code, bucket, flows, bytes, peers) of connections.

    `entities` maps entity id -> code; new ids are appended when `add_entities`."""
    rows = _entity_rows(conns, edges, bucket_seconds)
    if rows.empty:
        return (
            pd.DataFrame(
                {
                    "entity": pd.Series(dtype=np.int64),
                    "bucket": pd.Series(dtype=np.int64),
                    "flows": pd.Series(dtype="float64"),
                    "bytes": pd.Series(dtype="float64"),
                    "peers": pd.Series(dtype="float64"),
                }
            ),
            entities,
        )
    ent = pd.Index(rows["entity"].to_numpy())
    code = entities.get_indexer(ent)
    if add_entities and (code < 0).any():
        new = pd.unique(ent[code < 0].to_numpy())
        entities = entities.append(pd.Index(new))
        code = entities.get_indexer(ent)
    keep = code >= 0
    code = code[keep].astype(np.int64)
    b = rows["bucket"].to_numpy()[keep]
    key = (code << np.int64(31)) | (b - b.min() if len(b) else b)
    base = int(b.min()) if len(b) else 0
    ukey, inv = np.unique(key, return_inverse=True)
    inv = inv.reshape(-1)
    flows = np.bincount(inv, minlength=len(ukey)).astype("float64")
    byt = np.bincount(inv, weights=rows["bytes"].to_numpy()[keep], minlength=len(ukey))
    pcodes = pd.factorize(rows["peer"].to_numpy()[keep])[0].astype(np.int64)
    pair = np.unique(inv.astype(np.int64) * (int(pcodes.max()) + 1) + pcodes)
    peers = np.bincount(pair // (int(pcodes.max()) + 1), minlength=len(ukey)).astype("float64")
    out = pd.DataFrame(
        {
            "entity": ukey >> np.int64(31),
            "bucket": (ukey & (SHIFT - 1)) + base,
            "flows": flows,
            "bytes": byt,
            "peers": peers,
        }
    )
    return out, entities
