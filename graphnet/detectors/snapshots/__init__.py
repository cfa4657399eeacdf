"""Centrality snapshots: a window's host graph from the archive -> per-host metrics -> store.

For one window the connections are aggregated by the analytical engine into one edge per
directed host pair (connections, bytes) and, per host, the exact number of distinct destination
ports, and every host gets degree, peer, port and volume counts, PageRank (weighted by
connections), betweenness (exact on small graphs, sampled with a fixed seed above a size
threshold), HITS hub and authority scores and a Louvain community. The results are written to
the graph as `(:Snapshot {window, ...})-[:MEASURED {metrics}]->(:Host)`, so a host's history is
one query away.

The package, one concern per module (none imports this `__init__`):

- `metrics`: the pure maths, `compute` (a `WindowGraph` or a DataFrame of edges in, metrics
  out) with its two engines (`networkx`, the reference, and `fast`: scipy and igraph);
- `edges`: `window_graph`, a window's `WindowGraph` read from the connection archive with the
  engine (`graphnet/sql/snapshot_*.sql`), streamed in batches;
- `store`: `snapshot` (measure windows of the graph and write them to Neo4j), the readers of
  stored snapshots, and the `snapshot` step's `run`.
"""

from __future__ import annotations

from graphnet.detectors.snapshots.edges import window_graph
from graphnet.detectors.snapshots.metrics import (
    INT_METRICS,
    METRICS,
    Engine,
    HostMetrics,
    SnapshotSettings,
    WindowGraph,
    compute,
    frame_graph,
    hits,
    modularity,
    pagerank,
)
from graphnet.detectors.snapshots.store import (
    SnapshotResult,
    SnapshotRun,
    host_history,
    measures,
    run,
    save,
    snapshot,
    snapshot_window,
    snapshots,
    top_hosts,
    window_table,
)

__all__ = [
    "INT_METRICS",
    "METRICS",
    "Engine",
    "HostMetrics",
    "SnapshotResult",
    "SnapshotRun",
    "SnapshotSettings",
    "WindowGraph",
    "compute",
    "frame_graph",
    "hits",
    "host_history",
    "measures",
    "modularity",
    "pagerank",
    "run",
    "save",
    "snapshot",
    "snapshot_window",
    "snapshots",
    "top_hosts",
    "window_graph",
    "window_table",
]
