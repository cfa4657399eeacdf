"""A window's host graph read from the connection archive by the analytical engine.

The engine aggregates the window's connections in SQL (`graphnet/sql/snapshot_*.sql`): per
directed host pair the connections and bytes, per host the exact number of distinct destination
ports it connected to and was connected on, and the hosts numbered in sorted order. Python
receives only these aggregates (their size grows with hosts and edges, not with connections),
the edges streamed in batches into preallocated arrays: a `WindowGraph` for `metrics.compute`.
"""

from __future__ import annotations

import logging
from itertools import pairwise

import numpy as np
import pyarrow as pa

from graphnet.archive import Archive
from graphnet.detectors.snapshots.metrics import WindowGraph

log = logging.getLogger(__name__)

#: edge rows per streamed batch
BATCH_ROWS = 100_000


def window_graph(archive: Archive, window: str, rows: int = BATCH_ROWS) -> WindowGraph:
    """The host graph of `window` from its archived connections: one edge per directed pair of
    distinct hosts (self-loops dropped) with its connections and bytes (both directions), and
    per host the distinct destination ports it connected to and was connected on, counted
    exactly over all its connections (as the fingerprints count ports: a missing port is none,
    every port from 49152 up is one, `dyn`)."""
    with archive.session({"conns": [window]}) as s:
        figures = s.table("snapshot_pairs").to_pylist()[0]
        hosts = s.table("snapshot_hosts")
        n, m = hosts.num_rows, int(figures["edges"])
        src = np.empty(m, dtype=np.int64)
        dst = np.empty(m, dtype=np.int64)
        conns = np.empty(m, dtype=np.float64)
        nbytes = np.empty(m, dtype=np.float64)
        at = 0
        for batch in s.batches("snapshot_edges", rows=rows):
            k = batch.num_rows
            src[at : at + k] = _ints(batch.column("src"))
            dst[at : at + k] = _ints(batch.column("dst"))
            conns[at : at + k] = _floats(batch.column("conns"))
            nbytes[at : at + k] = _floats(batch.column("bytes"))
            at += k
    if at != m:
        raise RuntimeError(f"snapshot of {window}: {at} edges streamed, {m} counted")
    if not np.array_equal(_ints(hosts.column("code")), np.arange(n)):
        raise RuntimeError(f"snapshot of {window}: host codes are not 0..{n - 1}")
    graph = WindowGraph(
        hosts=np.asarray(hosts.column("host").to_pylist(), dtype=object),
        src=src,
        dst=dst,
        conns=conns,
        bytes=nbytes,
        dports_out=_ints(hosts.column("dports_out")),
        dports_in=_ints(hosts.column("dports_in")),
        talked_edges=int(figures["talked_edges"]),
    )
    log.debug(
        "window %s: %d hosts, %d edges, %d connections from the archive",
        window,
        n,
        m,
        int(figures["connections"]),
    )
    return _python_order(graph)


def _ints(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.int64)


def _floats(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)


def _python_order(g: WindowGraph) -> WindowGraph:
    """The engine numbers hosts in its own string order (UTF-8 bytes: the code point order
    Python sorts by). Should it ever differ, renumber the hosts and re-sort the edges, so that
    host codes, and with them tie orders and float sums, are those of Python's sort."""
    hosts = g.hosts
    if len(hosts) < 2 or all(a < b for a, b in pairwise(hosts)):
        return g
    log.warning("the engine's host order is not Python's: renumbering %d hosts", len(hosts))
    order = np.argsort(hosts, kind="stable")
    code = np.empty(len(hosts), dtype=np.int64)
    code[order] = np.arange(len(hosts))
    src, dst = code[g.src], code[g.dst]
    edges = np.lexsort((dst, src))
    return WindowGraph(
        hosts=hosts[order],
        src=src[edges],
        dst=dst[edges],
        conns=g.conns[edges],
        bytes=g.bytes[edges],
        dports_out=g.dports_out[order],
        dports_in=g.dports_in[order],
        talked_edges=g.talked_edges,
    )
