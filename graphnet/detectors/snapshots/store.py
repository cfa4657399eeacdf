"""Snapshots in the graph: each window's host metrics written to Neo4j and read back.

`snapshot` measures windows of the graph (their edges read from the connection archive,
`edges.window_graph`; the metrics computed by `metrics.compute`) and writes each as
`(:Snapshot {window, ...})-[:MEASURED {metrics}]->(:Host)`, so that a host's history is one
query away; `measures`, `host_history`, `top_hosts` and `snapshots` read them back, and `run`
is the registry step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from graphnet import windows
from graphnet.archive import Archive
from graphnet.config import Settings
from graphnet.detectors.contract import Context, DetectorRun
from graphnet.detectors.snapshots.edges import window_graph
from graphnet.detectors.snapshots.metrics import (
    INT_METRICS,
    METRICS,
    HostMetrics,
    SnapshotSettings,
    compute,
)
from graphnet.errors import ConfigError, NotEnoughHistory
from graphnet.store.protocol import GraphStore

log = logging.getLogger(__name__)


@dataclass
class SnapshotResult:
    """What snapshotting one window did (a line of `graphnet snapshot`, an object of its JSON)."""

    window: str
    status: str  # computed | replaced | up to date
    hosts: int
    edges: int
    connections: int
    engine: str
    betweenness_k: int
    betweenness_exact: bool
    communities: int
    modularity: float
    seconds: float
    top: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "status": self.status,
            "hosts": self.hosts,
            "edges": self.edges,
            "connections": self.connections,
            "engine": self.engine,
            "betweenness_k": self.betweenness_k,
            "betweenness_exact": self.betweenness_exact,
            "communities": self.communities,
            "modularity": round(self.modularity, 4),
            "seconds": round(self.seconds, 3),
            "top": self.top,
        }


def window_table(store: GraphStore) -> pd.DataFrame:
    """Windows of the graph with their size and snapshot state, oldest first: columns window,
    edges, connections, status (`done`, `writing` or None), snap_edges, snap_connections."""
    frame = store.frame("snapshot_windows")
    if frame.empty:
        return pd.DataFrame(
            columns=["window", "edges", "connections", "status", "snap_edges", "snap_connections"]
        )
    return frame


def _rows(metrics: HostMetrics, window: str) -> list[dict[str, Any]]:
    frame = metrics.hosts
    records = frame.reset_index().to_dict("records")
    rows = []
    for rec in records:
        host = str(rec.pop("host"))
        m: dict[str, Any] = {
            str(k): (int(v) if k in INT_METRICS else float(v)) for k, v in rec.items()
        }
        m["window"] = window
        rows.append({"host": host, "m": m})
    return rows


def save(store: GraphStore, window: str, metrics: HostMetrics, batch_size: int = 5000) -> None:
    """Replace the snapshot of `window` with `metrics`.

    The snapshot is marked `writing` while its MEASURED relationships are replaced (in bounded
    transactions) and `done` at the end: an interrupted write is recomputed by the next
    `snapshot(all_windows=True)` and never read as history."""
    store.write("snapshot_begin", window=window)
    while store.write("snapshot_clear", window=window, limit=20_000)[0]["deleted"]:
        pass
    store.write_batches("snapshot_measured", _rows(metrics, window), batch_size, window=window)
    store.write(
        "snapshot_finish",
        window=window,
        props={
            "hosts": len(metrics.hosts),
            "edges": metrics.edges,
            "talked_edges": metrics.talked_edges,
            "connections": metrics.connections,
            "betweenness_k": metrics.betweenness_k,
            "betweenness_exact": metrics.betweenness_exact,
            "engine": metrics.engine,
            "communities": metrics.communities,
            "modularity": metrics.modularity,
            "seconds": metrics.seconds.get("total", 0.0),
        },
    )


def _top(metrics: HostMetrics, n: int = 5) -> list[dict[str, Any]]:
    if metrics.hosts.empty:
        return []
    best = metrics.hosts.nlargest(n, "pagerank")
    return [
        {
            "host": str(h),
            "pagerank": round(float(r["pagerank"]), 6),
            "in_degree": int(r["in_degree"]),
            "out_degree": int(r["out_degree"]),
            "community": int(r["community"]),
        }
        for h, r in best.iterrows()
    ]


def snapshot_window(
    store: GraphStore,
    window: str,
    settings: SnapshotSettings | None = None,
    existed: bool = False,
    archive: Archive | None = None,
) -> SnapshotResult:
    """Compute the snapshot of one window from its archived connections and store it
    (replacing an earlier one). `archive` defaults to the one of `Settings.from_env()`."""
    settings = settings or SnapshotSettings()
    archive = archive or Archive(Settings.from_env())
    t0 = time.perf_counter()
    graph = window_graph(archive, window)
    read = time.perf_counter() - t0
    metrics = compute(graph, settings)
    metrics.seconds["read"] = read
    save(store, window, metrics, settings.batch_size)
    seconds = time.perf_counter() - t0
    log.info(
        "snapshot %s: %d hosts, %d edges, %s engine, betweenness %s, %.1fs (%.1fs reading)",
        window,
        len(metrics.hosts),
        metrics.edges,
        metrics.engine,
        "exact" if metrics.betweenness_exact else f"k={metrics.betweenness_k}",
        seconds,
        read,
    )
    return SnapshotResult(
        window=window,
        status="replaced" if existed else "computed",
        hosts=len(metrics.hosts),
        edges=metrics.edges,
        connections=metrics.connections,
        engine=metrics.engine,
        betweenness_k=metrics.betweenness_k,
        betweenness_exact=metrics.betweenness_exact,
        communities=metrics.communities,
        modularity=metrics.modularity,
        seconds=seconds,
        top=_top(metrics),
    )


def _stored(row: pd.Series) -> SnapshotResult:
    return SnapshotResult(
        window=str(row["window"]),
        status="up to date",
        hosts=int(row.get("snap_hosts") or 0),
        edges=int(row.get("snap_graph_edges") or 0),
        connections=int(row.get("snap_connections") or 0),
        engine=str(row.get("snap_engine") or ""),
        betweenness_k=int(row.get("snap_betweenness_k") or 0),
        betweenness_exact=bool(row.get("snap_betweenness_exact")),
        communities=int(row.get("snap_communities") or 0),
        modularity=float(row.get("snap_modularity") or 0.0),
        seconds=0.0,
    )


def _not_archived(window: str) -> ConfigError:
    return ConfigError(
        f"window {window} has edges in the graph but no connections in the archive, "
        "which snapshots read their edges from",
        hint="ingest the window's logs again with this GRAPHNET_HOME "
        "(the archive lives under $GRAPHNET_HOME/archive)",
    )


def snapshot(
    store: GraphStore,
    window: str | None = None,
    all_windows: bool = False,
    settings: SnapshotSettings | None = None,
    archive: Archive | None = None,
) -> list[SnapshotResult]:
    """Snapshot one window (default: the latest window of the graph), or with `all_windows`
    every window that has no complete snapshot yet or whose edges changed since (ingest added
    to it). A window given explicitly is always recomputed (its snapshot is replaced).

    The windows are the graph's; their edges are read from the connection archive (`archive`,
    default: the one of `Settings.from_env()`). A window the archive does not hold raises
    ConfigError when it is asked for, and is left out (with a warning) by `all_windows`.

    Returns one result per window considered (`up to date` ones included with `all_windows`).
    An empty graph gives an empty list."""
    settings = settings or SnapshotSettings()
    if window is not None and all_windows:
        raise ValueError("give either a window or all_windows, not both")
    archive = archive or Archive(Settings.from_env())
    table = window_table(store)
    if window is not None:
        try:
            windows.kind_of(window)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        known = table[table["window"] == window]
        if known.empty:
            raise ConfigError(
                f"window {window} has no edges in the graph",
                hint="`graphnet snapshot --all` snapshots every window that has edges",
            )
        if not archive.files(window):
            raise _not_archived(window)
        existed = bool((known["status"] == "done").any())
        return [snapshot_window(store, window, settings, existed=existed, archive=archive)]
    if table.empty:
        log.info("the graph has no windows yet; nothing to snapshot")
        return []
    if not all_windows:
        last = table.iloc[-1]
        if not archive.files(str(last["window"])):
            raise _not_archived(str(last["window"]))
        return [
            snapshot_window(
                store,
                str(last["window"]),
                settings,
                existed=last["status"] == "done",
                archive=archive,
            )
        ]
    results = []
    for _, row in table.iterrows():
        done = row["status"] == "done"
        fresh = (
            done
            and int(row["snap_edges"] or -1) == int(row["edges"])
            and int(row["snap_connections"] or -1) == int(row["connections"])
        )
        if fresh:
            results.append(_stored(row))
            continue
        if not archive.files(str(row["window"])):
            log.warning(
                "window %s has edges in the graph but no connections in the archive: "
                "not snapshotted",
                row["window"],
            )
            continue
        results.append(
            snapshot_window(store, str(row["window"]), settings, existed=done, archive=archive)
        )
    return results


def host_history(store: GraphStore, host: str) -> pd.DataFrame:
    """A host's metrics in every snapshot, oldest window first (one row per window)."""
    frame = store.frame("snapshot_host_history", host=host)
    if frame.empty:
        return pd.DataFrame(columns=["window", *METRICS])
    metrics = pd.DataFrame(list(frame["m"]))
    out = metrics[[c for c in METRICS if c in metrics.columns]].copy()
    out.insert(0, "window", frame["window"].astype(str).to_numpy())
    return out


def measures(store: GraphStore, windows_: Sequence[str]) -> pd.DataFrame:
    """Long table of the stored metrics of some windows: columns window, host, METRICS (a
    metric no host has is left out; an integer metric some hosts lack is float, NaN for
    them). The windows are read one at a time: the driver's values of a window, a Python
    object each, are let go of once they are its columns."""
    columns: dict[str, list[pd.Series]] = {"window": [], "host": []}
    for window in windows_:
        rows = store.read_values("snapshot_measures", windows=[window])
        for r in rows:
            n = len(r["hosts"])
            if not n:
                continue
            columns["window"].append(pd.Series([str(r["window"])] * n))
            columns["host"].append(pd.Series([str(h) for h in r.pop("hosts")]))
            for metric in METRICS:
                column = pd.Series(r.pop(metric))
                if column.isna().all():  # not measured in this window: NaN, as a float
                    column = pd.Series(np.full(n, np.nan))
                columns.setdefault(metric, []).append(column)
        del rows
    if not columns["host"]:
        return pd.DataFrame(columns=["window", "host", *METRICS])
    table: dict[str, pd.Series] = {}
    for name in list(columns):
        parts = columns.pop(name)
        column = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
        del parts
        if name in ("window", "host") or column.notna().any():  # a metric no host has is out
            table[name] = column.reset_index(drop=True)
    return pd.DataFrame(table)


def top_hosts(
    store: GraphStore, window: str, metric: str = "pagerank", limit: int = 20
) -> pd.DataFrame:
    """The hosts of a window's snapshot with the highest `metric`."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
    m = measures(store, [window])
    if m.empty:
        return m
    return m.nlargest(limit, metric).reset_index(drop=True)


def snapshots(store: GraphStore) -> pd.DataFrame:
    """The complete snapshots with their figures, oldest window first."""
    frame = store.frame("snapshot_list")
    if frame.empty:
        return pd.DataFrame(
            columns=[
                "window",
                "hosts",
                "edges",
                "connections",
                "engine",
                "betweenness_k",
                "betweenness_exact",
                "communities",
                "modularity",
                "computed",
            ]
        )
    return frame


def run(ctx: Context) -> DetectorRun:
    """The registry step: snapshot every window of the graph that has no up-to-date snapshot
    (the analysed window and the earlier ones its shifts are scored against), reading their
    edges from the step's archive. Snapshots are derived graph data that later steps read, so
    they are stored even when `ctx.save` is off. A `SnapshotSettings` option sets how."""
    settings = ctx.option(SnapshotSettings)
    results = snapshot(ctx.graph(), all_windows=True, settings=settings, archive=ctx.archive)
    made = [r for r in results if r.status != "up to date"]
    mine = next((r for r in results if r.window == ctx.window), None)
    if mine is None:
        raise NotEnoughHistory(
            f"window {ctx.window} has no edges in the graph, or no connections in the archive, "
            "to snapshot"
        )
    summary = (
        f"{mine.hosts:,} hosts, {mine.edges:,} edges, {mine.communities} communities "
        f"({len(made)} snapshot(s) computed, {len(results) - len(made)} up to date)"
    )
    return DetectorRun("snapshot", ctx.window, summary, detail=SnapshotRun(results))


@dataclass
class SnapshotRun:
    """The snapshot step's own result: one `SnapshotResult` per window considered."""

    results: list[SnapshotResult]

    def to_json(self) -> list[dict[str, Any]]:
        return [r.to_json() for r in self.results]
