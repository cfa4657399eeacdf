"""The snapshot step without a database: a stand-in graph store that lists the windows and
records what is written, the edges from the archive. The step within a 64 MiB engine on a
window larger than that, and the windows the archive does not hold."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from graphnet import windows
from graphnet.archive import Archive
from graphnet.config import Settings
from graphnet.detectors import snapshots
from graphnet.detectors.contract import Context
from graphnet.errors import ConfigError, NotEnoughHistory

T0 = 1709542800.0  # 2024-03-04 09:00 UTC (a Monday), in 2024-W10
W = "2024-W10"


class FakeGraph:
    """The graph store as the snapshot step uses it: `snapshot_windows` lists the windows
    given; the snapshot statements are recorded."""

    def __init__(self, table: list[dict[str, Any]]) -> None:
        self.table = table
        self.written: dict[str, list[dict[str, Any]]] = {}
        self.finished: dict[str, dict[str, Any]] = {}

    def read(self, name: str, **params: Any) -> list[dict[str, Any]]:
        raise AssertionError(f"unexpected read {name}")

    def frame(self, name: str, **params: Any) -> pd.DataFrame:
        assert name == "snapshot_windows", name
        return pd.DataFrame(self.table)

    def write(self, name: str, **params: Any) -> list[dict[str, Any]]:
        if name == "snapshot_clear":
            return [{"deleted": 0}]
        if name == "snapshot_finish":
            self.finished[params["window"]] = params["props"]
        return [{}]

    def write_batches(
        self,
        name: str,
        rows: Iterable[dict[str, Any]],
        batch_size: int = 5000,
        progress: Callable[[int], None] | None = None,
        **params: Any,
    ) -> int:
        assert name == "snapshot_measured", name
        got = list(rows)
        self.written[params["window"]] = got
        return len(got)


def row(window: str, edges: int = 1, connections: int = 1, **kw: Any) -> dict[str, Any]:
    return {
        "window": window,
        "edges": edges,
        "connections": connections,
        "status": None,
        "snap_edges": None,
        "snap_connections": None,
        **kw,
    }


def write(archive: Archive, f: pd.DataFrame, sha: str) -> None:
    w = archive.writer(sha)
    for lo in range(0, len(f), 250_000):
        part = f.iloc[lo : lo + 250_000]
        w.write(part, windows.window_ids(part["ts"].to_numpy(dtype="float64")).to_numpy())
    archive.commit(sha, w.finish())


def big_window(n: int, clients: int, servers: int, seed: int = 0) -> pd.DataFrame:
    """`n` connections of one week from `clients` to `servers` hosts (heavy-tailed activity
    at both ends), with the archive's columns."""
    rs = np.random.RandomState(seed)
    w_out = rs.pareto(1.3, clients) + 1.0
    w_in = rs.pareto(1.0, servers) + 1.0
    src = rs.choice(clients, n, p=w_out / w_out.sum())
    dst = clients + rs.choice(servers, n, p=w_in / w_in.sum())
    hosts = clients + servers
    names = np.array([f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(hosts)])
    return pd.DataFrame(
        {
            "ts": T0 + rs.uniform(0, 4 * 86400, n),
            "uid": np.char.add("C", np.arange(n).astype(str)),
            "src": names[src],
            "sport": rs.randint(1024, 65535, n).astype("int32"),
            "dst": names[dst],
            "dport": rs.choice([22, 53, 80, 443, 445, 8080, 55000], n).astype("int32"),
            "proto": "tcp",
            "service": "-",
            "duration": rs.exponential(1.0, n),
            "src_bytes": rs.lognormal(6, 2, n).round(),
            "dst_bytes": rs.lognormal(8, 2, n).round(),
            "src_pkts": rs.randint(1, 20, n).astype("float64"),
            "dst_pkts": rs.randint(1, 20, n).astype("float64"),
            "conn_state": "SF",
            "history": "ShADadFf",
            "line": np.arange(1, n + 1, dtype=np.int64),
        }
    )


def test_the_step_runs_in_a_64_mib_engine_on_a_larger_window(tmp_path: Path) -> None:
    n = 600_000
    f = big_window(n, 20_000, 300)
    assert pa.Table.from_pandas(f).nbytes > 64 * 2**20  # the window alone does not fit
    settings = Settings(home=tmp_path, engine_memory="64MiB", engine_threads=1)
    archive = Archive(settings)
    half = n // 2
    write(archive, f.iloc[: half + 1000], "a" * 64)  # 1000 connections archived twice
    write(archive, f.iloc[half:], "b" * 64)
    pairs = f[f["src"] != f["dst"]].groupby(["src", "dst"]).size()
    talked = len(f.groupby(["src", "dst"]).size())
    del f
    graph = FakeGraph([row(W, edges=-1)])
    options = (snapshots.SnapshotSettings(betweenness_k=32, networkx_max_edges=0),)
    t = time.perf_counter()
    run = snapshots.run(Context(settings, W, archive, graph, options=options))  # type: ignore[arg-type]
    seconds = time.perf_counter() - t
    [result] = run.detail.results  # type: ignore[union-attr]
    assert result.status == "computed" and result.engine == "fast"
    # the figures of the window, from the connections themselves
    assert result.connections == int(pairs.sum())
    assert result.edges == len(pairs)
    assert result.hosts == len(
        set(pairs.index.get_level_values(0)) | set(pairs.index.get_level_values(1))
    )
    measured = {r["host"]: r["m"] for r in graph.written[W]}
    assert len(measured) == result.hosts
    busiest = pairs.groupby(level=0).sum().idxmax()
    assert measured[busiest]["conns_out"] == int(pairs.groupby(level=0).sum().max())
    assert graph.finished[W]["talked_edges"] == talked
    assert seconds < 60, seconds


def archive_of(tmp: Path, frames: dict[str, pd.DataFrame]) -> Archive:
    archive = Archive(Settings(home=tmp))
    for i, f in enumerate(frames.values()):
        write(archive, f, f"{i:x}" * 64)
    return archive


def small(week: int, seed: int) -> pd.DataFrame:
    f = big_window(400, 25, 5, seed=seed)
    return f.assign(ts=f["ts"] + week * 7 * 86400.0, uid=f["uid"] + f"w{week}")


def test_windows_the_archive_does_not_hold(tmp_path: Path) -> None:
    archive = archive_of(tmp_path, {"2024-W10": small(0, 1), "2024-W12": small(2, 2)})
    table = [row("2024-W10"), row("2024-W11"), row("2024-W12")]
    graph = FakeGraph(table)
    results = snapshots.snapshot(graph, all_windows=True, archive=archive)  # type: ignore[arg-type]
    assert [r.window for r in results] == ["2024-W10", "2024-W12"]  # W11 left out, warned
    assert set(graph.written) == {"2024-W10", "2024-W12"}
    with pytest.raises(ConfigError, match="no connections in the archive"):
        snapshots.snapshot(graph, window="2024-W11", archive=archive)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no connections in the archive"):
        snapshots.snapshot(FakeGraph(table[:2]), archive=archive)  # type: ignore[arg-type]
    ctx = Context(Settings(home=tmp_path), "2024-W11", archive, graph)  # type: ignore[arg-type]
    with pytest.raises(NotEnoughHistory):
        snapshots.run(ctx)


def test_up_to_date_windows_are_not_read_again(tmp_path: Path) -> None:
    archive = archive_of(tmp_path, {"2024-W10": small(0, 1)})
    graph = FakeGraph([row("2024-W10")])
    [first] = snapshots.snapshot(graph, all_windows=True, archive=archive)  # type: ignore[arg-type]
    props = graph.finished["2024-W10"]
    # what snapshot_windows says once that snapshot is done and the window did not change
    done = row(
        "2024-W10",
        edges=props["talked_edges"],
        connections=props["connections"],
        status="done",
        snap_edges=props["talked_edges"],
        snap_connections=props["connections"],
        snap_hosts=props["hosts"],
        snap_graph_edges=props["edges"],
    )
    again = snapshots.snapshot(FakeGraph([done]), all_windows=True, archive=archive)  # type: ignore[arg-type]
    assert [r.status for r in again] == ["up to date"]
    assert again[0].hosts == first.hosts and again[0].edges == first.edges
    grown = dict(done, edges=done["edges"] + 1)
    replaced = snapshots.snapshot(FakeGraph([grown]), all_windows=True, archive=archive)  # type: ignore[arg-type]
    assert [r.status for r in replaced] == ["replaced"]
    assert set(replaced[0].to_json()) == {
        "window",
        "status",
        "hosts",
        "edges",
        "connections",
        "engine",
        "betweenness_k",
        "betweenness_exact",
        "communities",
        "modularity",
        "seconds",
        "top",
    }
