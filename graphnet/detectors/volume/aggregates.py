"""What the volume step asks the archive, as SQL aggregations run by the analytical engine
(`graphnet/sql/volume_*.sql`) over a session's bound table `conns`: the span of the
connections, the busy edges, the sparse (entity, bucket) cells, the top peers and ports of the
findings' buckets and, for the evaluation, every connection's score.

Only aggregates reach Python — cells grow with hosts x buckets, never with connections — and
the large ones are streamed in batches. The in-memory versions in `buckets` (and
`findings.tops_from_connections`) are the oracles these are tested against.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa

log = logging.getLogger(__name__)

#: rows per streamed batch of a result (every result is read in batches)
BATCH_ROWS = 50_000
#: the lookup of busy edges every statement joins against (src, dst, edge)
EDGES = "volume_edges"
#: the columns of the cells and their types, as the model keeps them
CELL_TYPES: dict[str, Any] = {
    "entity": np.int64,
    "bucket": np.int64,
    "flows": np.float64,
    "bytes": np.float64,
    "peers": np.float64,
}


class Session(Protocol):
    """The part of an archive session (`Archive.session`) the volume step uses."""

    def batches(
        self, name: str, params: Mapping[str, Any] | None = None, rows: int = ...
    ) -> Iterator[pa.RecordBatch]: ...

    def lookup(self, table: str, data: pa.Table) -> None: ...

    def lean(self, share: float = ...) -> AbstractContextManager[None]: ...


@dataclass(frozen=True)
class Span:
    """How many connections a bound table holds, and their first and last times (None when
    there are none)."""

    n: int
    first: float | None
    last: float | None

    def frame(self) -> pd.DataFrame:
        """A stand-in frame with the first and last times (for `windows.span_days`)."""
        if not self.n or self.first is None or self.last is None:
            return pd.DataFrame({"ts": pd.Series(dtype="float64")})
        return pd.DataFrame({"ts": [self.first, self.last]})


def _table(s: Session, name: str, params: Mapping[str, Any] | None = None) -> pa.Table:
    """The whole result of a statement, read in batches of `BATCH_ROWS`."""
    parts = list(s.batches(name, params, BATCH_ROWS))
    if not parts:
        return pa.table({})
    return pa.Table.from_batches(parts)


def span(s: Session) -> Span:
    """The span of the session's `conns`."""
    row = _table(s, "volume_span").to_pylist()[0]
    first, last = row["first_ts"], row["last_ts"]
    return Span(
        int(row["n"]),
        None if first is None else float(first),
        None if last is None else float(last),
    )


def edge_table(edges: pd.Index | None) -> pa.Table:
    """The lookup of busy edges: (src, dst, edge) with edge = `src->dst` (empty: none)."""
    keys = [] if edges is None else [str(e) for e in edges]
    pairs = [k.split("->", 1) for k in keys]
    return pa.table(
        {
            "src": pa.array([p[0] for p in pairs], pa.string()),
            "dst": pa.array([p[1] if len(p) > 1 else "" for p in pairs], pa.string()),
            "edge": pa.array(keys, pa.string()),
        }
    )


def busy_edges(s: Session, min_flows: int, max_edges: int) -> pd.Index:
    """`buckets.busy_edges` of the session's `conns`: the `src->dst` keys, busiest first."""
    t = _table(s, "volume_edges", {"min_flows": int(min_flows), "max_edges": int(max_edges)})
    if not t.num_rows:
        return pd.Index(np.array([], dtype=object), dtype=object)
    src = t.column("src").to_pylist()
    dst = t.column("dst").to_pylist()
    return pd.Index(
        np.array([f"{a}->{b}" for a, b in zip(src, dst, strict=True)], dtype=object),
        dtype=object,
    )


def entity_order(first: pd.DataFrame) -> np.ndarray:
    """Entity ids in the order they get their codes: hosts seen as a source by their first
    connection as one, then hosts seen only as a destination by their first as one, then edges
    by their first connection (ties by id) — the order of first appearance of `buckets.cells`
    when the connections are read in time order."""
    f = first.dropna(subset=["entity"])
    cls = np.where(f["first_edge"].notna(), 2, np.where(f["first_src"].notna(), 0, 1))
    t = f["first_src"].fillna(f["first_dst"]).fillna(f["first_edge"])
    keys = pd.DataFrame({"cls": cls, "t": t.to_numpy(), "entity": f["entity"].to_numpy()})
    keys = keys.sort_values(["cls", "t", "entity"], kind="stable")
    return keys["entity"].to_numpy(dtype=object)


def _empty_cells() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "entity": pd.Series(dtype=np.int64),
            "bucket": pd.Series(dtype=np.int64),
            "flows": pd.Series(dtype="float64"),
            "bytes": pd.Series(dtype="float64"),
            "peers": pd.Series(dtype="float64"),
        }
    )


def cells(s: Session, entities: pd.Index, bucket_seconds: int) -> tuple[pd.DataFrame, pd.Index]:
    """`buckets.cells` of the session's `conns` (busy edges: the `volume_edges` lookup):
    sparse cells (entity code, bucket, flows, bytes, peers) sorted by code and bucket; new
    entity ids are appended to `entities` (returned) in the order of `entity_order`."""
    first = _table(s, "volume_entities")
    if not first.num_rows:
        return _empty_cells(), entities
    names = entity_order(first.to_pandas())
    if not len(names):
        return _empty_cells(), entities
    known = entities.get_indexer(pd.Index(names, dtype=object))
    if (known < 0).any():
        entities = entities.append(pd.Index(names[known < 0], dtype=object))
        known = entities.get_indexer(pd.Index(names, dtype=object))
    codes = pa.table(
        {
            "entity": pa.array(names.tolist(), pa.string()),
            "code": pa.array(known.astype(np.int64), pa.int64()),
        }
    )
    s.lookup("volume_codes", codes)
    # each batch's columns as arrays, then one column at a time joined and its pieces let go
    # of: the cells are held about once (at 32 M a week the history has some 27 M of them),
    # not as an Arrow table, its arrays and a frame's copy of them at once
    pieces: dict[str, list[np.ndarray]] = {c: [] for c in CELL_TYPES}
    params = {"bucket_seconds": int(bucket_seconds)}
    for batch in s.batches("volume_cells", params, BATCH_ROWS):
        for c, dtype in CELL_TYPES.items():
            col = batch.column(batch.schema.get_field_index(c))
            pieces[c].append(np.asarray(col.to_numpy(zero_copy_only=False), dtype=dtype))
        del batch
    if not pieces["entity"]:
        return _empty_cells(), entities
    columns = {}
    with s.lean():  # the engine's memory goes before the pieces become columns
        for c in CELL_TYPES:
            columns[c] = np.concatenate(pieces.pop(c))
    out = pd.DataFrame(columns, copy=False)
    del columns
    log.debug("volume cells: %d over %d entities", len(out), len(names))
    return out, entities


def top_peers_ports(
    s: Session, members: pd.DataFrame, bucket_seconds: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """For the member buckets of the findings' runs (run, entity id, bucket), the three peers
    (run, peer, role, n) and the three (port, state) pairs (run, dport, state, n) with the most
    connections per run, largest first: `findings.tops_from_connections` of `conns`."""
    lookup = pa.table(
        {
            "run": pa.array(members["run"].to_numpy().astype(np.int64), pa.int64()),
            "entity": pa.array([str(e) for e in members["entity"]], pa.string()),
            "bucket": pa.array(members["bucket"].to_numpy().astype(np.int64), pa.int64()),
        }
    )
    s.lookup("volume_members", lookup)
    got = _table(s, "volume_tops", {"bucket_seconds": int(bucket_seconds)})
    if not got.num_rows:
        got = pa.table(
            {
                "what": pa.array([], pa.string()),
                "run": pa.array([], pa.int64()),
                "peer": pa.array([], pa.string()),
                "role": pa.array([], pa.string()),
                "dport": pa.array([], pa.int64()),
                "state": pa.array([], pa.string()),
                "n": pa.array([], pa.int64()),
            }
        )
    got = got.to_pandas()
    peers = got[got["what"] == "peer"]
    ports = got[got["what"] == "port"]
    top_peer = pd.DataFrame(
        {
            "run": peers["run"].to_numpy().astype(np.int64),
            "peer": peers["peer"].to_numpy(dtype=object),
            "role": peers["role"].to_numpy(dtype=object),
            "n": peers["n"].to_numpy().astype(np.int64),
        }
    )
    top_port = pd.DataFrame(
        {
            "run": ports["run"].to_numpy().astype(np.int64),
            "dport": ports["dport"].to_numpy().astype(np.int64),
            "state": ports["state"].to_numpy(dtype=object),
            "n": ports["n"].to_numpy().astype(np.int64),
        }
    )
    return top_peer, top_port


def connection_scores(
    s: Session, scored: pd.DataFrame, entities: pd.Index, bucket_seconds: int
) -> pd.Series:
    """Every connection's score (uid -> score): the highest score of the buckets of its two
    hosts and its edge, from the scored cells (entity code, bucket, score, flows; `entities`
    names the codes); 0 without any. What `VolumeBaselines.score` gives per connection,
    joined in SQL."""
    busy = scored[scored["flows"].to_numpy() > 0]
    score = np.nan_to_num(busy["score"].to_numpy(dtype="float64"), nan=0.0)
    names = np.asarray(entities, dtype=object)[busy["entity"].to_numpy().astype(np.int64)]
    s.lookup(
        "volume_scores",
        pa.table(
            {
                "entity": pa.array([str(e) for e in names], pa.string()),
                "bucket": pa.array(busy["bucket"].to_numpy().astype(np.int64), pa.int64()),
                "score": pa.array(score, pa.float64()),
            }
        ),
    )
    uids: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    for b in s.batches(
        "volume_conn_scores", {"bucket_seconds": int(bucket_seconds)}, rows=BATCH_ROWS
    ):
        uids.append(b.column(0).to_numpy(zero_copy_only=False).astype(object))
        scores.append(b.column(1).to_numpy(zero_copy_only=False).astype("float64"))
    if not uids:
        return pd.Series(dtype="float64")
    return pd.Series(np.concatenate(scores), index=np.concatenate(uids))
