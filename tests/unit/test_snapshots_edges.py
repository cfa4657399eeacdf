"""The snapshot's window graph from the archive: each SQL aggregation (`snapshot_pairs`,
`snapshot_hosts`, `snapshot_edges`) against a small pandas oracle on hand-written frames (and
hypothesis), and the metrics of that graph against those of the same edges given as a frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphnet import features, windows
from graphnet.archive import Archive
from graphnet.config import Settings
from graphnet.detectors.snapshots import (
    METRICS,
    SnapshotSettings,
    WindowGraph,
    compute,
    window_graph,
)
from graphnet.sources import ARROW_TYPES, BASE_COLUMNS

T0 = 1709542800.0  # 2024-03-04 09:00 UTC (a Monday), in 2024-W10
W = "2024-W10"


def frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    """A normalised connection frame with the archive's columns and types."""
    cols = {c: pa.array([r.get(c) for r in rows], type=ARROW_TYPES[c]) for c in BASE_COLUMNS}
    return pa.table(cols).to_pandas()


def archived(tmp: Path, *frames: pd.DataFrame) -> Archive:
    """An archive holding each frame as one committed file."""
    archive = Archive(Settings(home=tmp))
    for i, f in enumerate(frames):
        sha = f"{i:x}" * 64
        w = archive.writer(sha)
        w.write(f, windows.window_ids(f["ts"].to_numpy(dtype="float64")).to_numpy())
        archive.commit(sha, w.finish())
    return archive


def conn(
    uid: str,
    src: str,
    dst: str,
    dport: int | None,
    sb: float | None,
    db: float | None,
    dt: float = 0.0,
) -> dict[str, object]:
    """One connection of the window (the other columns unknown)."""
    return dict(ts=T0 + dt, uid=uid, src=src, dst=dst, dport=dport, src_bytes=sb, dst_bytes=db)


HAND = frame(
    [
        conn("C1", "a", "b", 22, 100.0, 1000.0),
        conn("C2", "a", "b", 80, 1.0, None),  # missing bytes add nothing
        conn("C3", "a", "b", 22, float("nan"), 2.0),
        conn("C4", "a", "c", 50000, 10.0, 20.0),  # 'dyn'
        conn("C5", "a", "d", 60000, 0.0, 0.0),  # 'dyn' again: one port for a
        conn("C6", "b", "a", None, 5.0, 5.0),  # no port: not counted
        conn("C7", "b", "a", -1, 5.0, 5.0),  # no port either
        conn("C8", "c", "c", 53, 9.0, 9.0),  # self-loop: not in the graph
        conn("C9", "e", "e", 53, 9.0, 9.0),  # only a self-loop: not a host of the graph
        conn("C10", "d", "b", 443, 7.0, 3.0),
        conn("C11", "\u00e9t\u00e9", "a", 443, 1.0, 1.0),  # sorts after the ASCII ids
        conn("C12", "Z'\"; x", "a", 443, 1.0, 1.0),  # sorts before the lower-case ids
    ]
)


def oracle(f: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Pandas: the graph's edges (sorted host ids; pairs sorted by codes), its hosts with their
    distinct port classes (features.port_class, '-' excluded), and the window's figures."""
    f = f.drop_duplicates("uid")
    f = f.assign(
        port=features.port_class(f["dport"]),
        nbytes=np.nan_to_num(f["src_bytes"].to_numpy(dtype="float64"))
        + np.nan_to_num(f["dst_bytes"].to_numpy(dtype="float64")),
    )
    talked = f.groupby(["src", "dst"]).size()
    g = f[f["src"] != f["dst"]]
    hosts = sorted(set(g["src"]) | set(g["dst"]))
    code = {h: i for i, h in enumerate(hosts)}
    edges = g.groupby(["src", "dst"]).agg(conns=("uid", "size"), bytes=("nbytes", "sum"))
    edges = edges.reset_index()
    edges["src"] = edges["src"].map(code)
    edges["dst"] = edges["dst"].map(code)
    edges = edges.sort_values(["src", "dst"]).reset_index(drop=True)
    ported = g[g["port"] != features.UNKNOWN]
    table = pd.DataFrame(
        {
            "code": range(len(hosts)),
            "dports_out": ported.groupby("src")["port"].nunique().reindex(hosts).fillna(0),
            "dports_in": ported.groupby("dst")["port"].nunique().reindex(hosts).fillna(0),
        },
        index=pd.Index(hosts, name="host"),
    ).astype({"dports_out": "int64", "dports_in": "int64"})
    figures = {
        "talked_edges": len(talked),
        "edges": len(edges),
        "hosts": len(hosts),
        "connections": len(g),
    }
    return edges, table.reset_index(), figures


def statements(
    archive: Archive, wins: list[str]
) -> tuple[dict[str, int], pd.DataFrame, pd.DataFrame]:
    """The three statements as the snapshot runs them: in one session, in order."""
    with archive.session({"conns": wins}) as s:
        figures = s.table("snapshot_pairs").to_pylist()[0]
        hosts = s.table("snapshot_hosts").to_pandas()
        edges = s.table("snapshot_edges").to_pandas()
    return figures, hosts, edges


def assert_matches_oracle(archive: Archive, f: pd.DataFrame, wins: list[str]) -> None:
    want_edges, want_hosts, want_figures = oracle(f)
    figures, hosts, edges = statements(archive, wins)
    assert figures == want_figures
    pd.testing.assert_frame_equal(
        hosts[["code", "host", "dports_out", "dports_in"]],
        want_hosts[["code", "host", "dports_out", "dports_in"]],
        check_dtype=False,
    )
    assert edges["src"].tolist() == want_edges["src"].tolist()
    assert edges["dst"].tolist() == want_edges["dst"].tolist()
    assert edges["conns"].tolist() == want_edges["conns"].tolist()
    np.testing.assert_allclose(edges["bytes"], want_edges["bytes"], rtol=1e-12)


def test_the_statements_match_a_pandas_oracle_on_a_hand_written_window(tmp_path: Path) -> None:
    archive = archived(tmp_path, HAND)
    assert_matches_oracle(archive, HAND, [W])
    figures, hosts, edges = statements(archive, [W])
    # and by hand: self-loops count as talked edges only; e only has one
    assert figures == {"talked_edges": 9, "edges": 7, "hosts": 6, "connections": 10}
    assert hosts["host"].tolist() == ["Z'\"; x", "a", "b", "c", "d", "\u00e9t\u00e9"]
    ports = hosts.set_index("host")
    assert ports.loc["a", "dports_out"] == 3  # 22, 80, dyn (50000 and 60000 are one)
    assert ports.loc["b", "dports_out"] == 0  # no port and a negative port
    assert ports.loc["b", "dports_in"] == 3  # 22, 80 from a, 443 from d
    assert ports.loc["c", "dports_in"] == 1  # dyn; its self-loop's 53 is not counted
    assert ports.loc["a", "dports_in"] == 1  # 443 from two hosts; no port from b
    ab = edges[(edges["src"] == 1) & (edges["dst"] == 2)].iloc[0]
    assert ab["conns"] == 3 and ab["bytes"] == pytest.approx(1103.0)


def test_window_graph_is_the_statements_as_arrays(tmp_path: Path) -> None:
    archive = archived(tmp_path, HAND)
    g = window_graph(archive, W, rows=2)  # several batches
    want_edges, want_hosts, _ = oracle(HAND)
    assert g.hosts.tolist() == want_hosts["host"].tolist()
    assert g.src.tolist() == want_edges["src"].tolist()
    assert g.dst.tolist() == want_edges["dst"].tolist()
    assert g.conns.tolist() == want_edges["conns"].tolist()
    assert g.dports_out.tolist() == want_hosts["dports_out"].tolist()
    assert g.dports_in.tolist() == want_hosts["dports_in"].tolist()
    assert g.talked_edges == 9 and g.src.dtype == np.int64 and g.conns.dtype == np.float64


def test_a_uid_archived_twice_counts_once_and_windows_stay_apart(tmp_path: Path) -> None:
    later = frame([conn("L1", "a", "x", 22, 1.0, 1.0, dt=7 * 86400.0)])  # 2024-W11
    archive = archived(tmp_path, HAND, HAND.iloc[:3], later)
    assert_matches_oracle(archive, HAND, [W])
    figures, hosts, _ = statements(archive, ["2024-W11"])
    assert figures == {"talked_edges": 1, "edges": 1, "hosts": 2, "connections": 1}
    assert hosts["host"].tolist() == ["a", "x"]


def test_an_empty_window_gives_an_empty_graph(tmp_path: Path) -> None:
    archive = archived(tmp_path, HAND)
    g = window_graph(archive, "2023-W01")
    assert len(g.hosts) == 0 and len(g.src) == 0 and g.talked_edges == 0
    m = compute(g)
    assert m.hosts.empty and m.edges == 0 and set(METRICS) == set(m.hosts.columns)
    only_loops = archived(tmp_path / "loops", frame([conn("C1", "a", "a", 22, 1.0, 1.0)]))
    g = window_graph(only_loops, W)
    assert len(g.hosts) == 0 and g.talked_edges == 1


hosts_ = st.sampled_from(["10.0.0.1", "10.0.0.2", "10.0.0.10", "b", "B", "\u00e9", "a|b", "x y"])


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "src": hosts_,
                "dst": hosts_,
                "dport": st.integers(min_value=-2, max_value=65535)
                | st.sampled_from([22, 80, 49151, 49152])
                | st.none(),
                "sb": st.floats(min_value=0, max_value=1e9) | st.none() | st.just(float("nan")),
                "db": st.floats(min_value=0, max_value=1e9) | st.none(),
            }
        ),
        min_size=1,
        max_size=40,
    ),
    split=st.integers(min_value=0, max_value=40),
)
def test_the_statements_agree_with_pandas_on_any_window(
    tmp_path_factory: pytest.TempPathFactory, rows: list[dict[str, object]], split: int
) -> None:
    f = frame(
        [
            conn(f"C{i}", str(r["src"]), str(r["dst"]), r["dport"], r["sb"], r["db"], dt=i)  # type: ignore[arg-type]
            for i, r in enumerate(rows)
        ]
    )
    # two files that overlap: the rows of the second up to `split` are in the first too
    archive = archived(tmp_path_factory.mktemp("snap"), f, f.iloc[: min(split, len(f))])
    assert_matches_oracle(archive, f, [W])


def test_metrics_of_the_archive_graph_equal_those_of_the_same_edges_as_a_frame(
    tmp_path: Path,
) -> None:
    """Only the source differs: the maths is one (`compute`); ports come from the archive."""
    rng = np.random.default_rng(5)
    n = 3000
    hosts = np.array([f"10.0.{i // 256}.{i % 256}" for i in range(60)], dtype=object)
    f = frame(
        [
            conn(
                f"C{i}",
                str(hosts[rng.integers(0, 60)]),
                str(hosts[rng.integers(0, 20)]),
                int(rng.choice([22, 53, 80, 443, 445, 3389, 55555])),
                float(rng.integers(0, 10_000)),
                float(rng.integers(0, 100_000)),
                dt=float(i),
            )
            for i in range(n)
        ]
    )
    archive = archived(tmp_path, f)
    g = window_graph(archive, W)
    edges = f.groupby(["src", "dst"], as_index=False).agg(
        conns=("uid", "size"), src_bytes=("src_bytes", "sum"), dst_bytes=("dst_bytes", "sum")
    )
    for engine in ("networkx", "fast"):
        s = SnapshotSettings(engine=engine)  # type: ignore[arg-type]
        got, want = compute(g, s), compute(edges, s)
        assert (got.edges, got.talked_edges, got.connections) == (
            want.edges,
            want.talked_edges,
            want.connections,
        )
        assert got.communities == want.communities and got.modularity == want.modularity
        cols = [c for c in METRICS if not c.startswith("dports")]
        pd.testing.assert_frame_equal(
            got.hosts[cols], want.hosts[cols], check_exact=False, rtol=1e-12
        )
        ports = oracle(f)[1].set_index("host")
        assert (got.hosts["dports_out"] == ports["dports_out"]).all()
        assert (got.hosts["dports_in"] == ports["dports_in"]).all()


def test_the_engine_host_order_is_checked_and_repaired() -> None:
    """Should the engine ever number hosts in another order than Python sorts them, the graph
    is renumbered: hosts sorted, edges re-sorted by the new codes, ports following."""
    from graphnet.detectors.snapshots.edges import _python_order

    g = WindowGraph(
        hosts=np.array(["b", "a", "c"], dtype=object),
        src=np.array([0, 1, 2]),
        dst=np.array([1, 2, 0]),
        conns=np.array([1.0, 2.0, 3.0]),
        bytes=np.array([10.0, 20.0, 30.0]),
        dports_out=np.array([5, 6, 7]),
        dports_in=np.array([8, 9, 10]),
        talked_edges=3,
    )
    r = _python_order(g)
    assert r.hosts.tolist() == ["a", "b", "c"]
    # b->a, a->c, c->b as codes of a, b, c = 0, 1, 2
    assert list(zip(r.src.tolist(), r.dst.tolist(), r.conns.tolist(), strict=True)) == [
        (0, 2, 2.0),
        (1, 0, 1.0),
        (2, 1, 3.0),
    ]
    assert r.dports_out.tolist() == [6, 5, 7] and r.dports_in.tolist() == [9, 8, 10]
    assert _python_order(r) is r
