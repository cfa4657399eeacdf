"""Snapshot metrics: hand-checked small graphs, and the fast engine against networkx."""

from __future__ import annotations

import re

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import adjusted_rand_score

from graphnet.detectors.snapshots import (
    METRICS,
    SnapshotSettings,
    compute,
    hits,
    modularity,
    pagerank,
)
from graphnet.store import cypher


def random_edges(n: int, m: int, seed: int) -> pd.DataFrame:
    """A connected-ish power-law-ish directed graph with string host ids."""
    rs = np.random.RandomState(seed)
    w_out = rs.pareto(1.5, n) + 1.0
    w_in = rs.pareto(1.2, n) + 1.0
    src = rs.choice(n, m, p=w_out / w_out.sum())
    dst = rs.choice(n, m, p=w_in / w_in.sum())
    # a ring keeps every host in the graph and the graph weakly connected
    src = np.concatenate([src, np.arange(n)])
    dst = np.concatenate([dst, (np.arange(n) + 1) % n])
    frame = pd.DataFrame({"src": src, "dst": dst})
    frame = frame[frame["src"] != frame["dst"]].drop_duplicates().reset_index(drop=True)
    ids = np.array([f"h{rs.randint(1 << 30):09d}-{i}" for i in range(n)], dtype=object)
    k = len(frame)
    return pd.DataFrame(
        {
            "src": ids[frame["src"].to_numpy()],
            "dst": ids[frame["dst"].to_numpy()],
            "conns": rs.geometric(0.3, k),
            "src_bytes": rs.lognormal(6, 1, k),
            "dst_bytes": rs.lognormal(7, 1, k),
            "dport_k": [[str(p)] for p in rs.choice([22, 53, 80, 443], k)],
            "dport_distinct": np.ones(k, dtype=np.int64),
        }
    )


def both(edges: pd.DataFrame, **kw: object) -> tuple[pd.DataFrame, pd.DataFrame]:
    ref = compute(edges, SnapshotSettings(engine="networkx", **kw))  # type: ignore[arg-type]
    fast = compute(edges, SnapshotSettings(engine="fast", **kw))  # type: ignore[arg-type]
    assert ref.engine == "networkx" and fast.engine == "fast"
    return ref.hosts, fast.hosts


# --------------------------------------------------------------------------------------------
# hand-checked
# --------------------------------------------------------------------------------------------
def hand_edges() -> pd.DataFrame:
    return pd.DataFrame(
        [
            # src, dst, conns, src_bytes, dst_bytes, dport_k, dport_distinct
            ("a", "b", 3, 100.0, 1000.0, ["22", "80"], 2),
            ("a", "c", 1, 10.0, 20.0, ["22"], 1),
            ("b", "a", 2, 5.0, 5.0, ["443"], 1),
            ("c", "c", 9, 1.0, 1.0, ["53"], 1),  # self-loop: dropped
            ("d", "b", 500, 0.0, 0.0, [*[str(p) for p in range(1, 33)], "other"], 500),
            ("d", "c", 1, 0.0, 0.0, ["-"], 1),
        ],
        columns=["src", "dst", "conns", "src_bytes", "dst_bytes", "dport_k", "dport_distinct"],
    )


@pytest.mark.parametrize("engine", ["networkx", "fast"])
def test_counts_on_a_hand_built_graph(engine: str) -> None:
    m = compute(hand_edges(), SnapshotSettings(engine=engine))  # type: ignore[arg-type]
    h = m.hosts
    assert list(h.index) == ["a", "b", "c", "d"]
    assert m.edges == 5 and m.talked_edges == 6 and m.connections == 507
    assert h.loc["a", "out_degree"] == 2 and h.loc["a", "in_degree"] == 1
    assert h.loc["a", "peers"] == 2  # b (both ways) and c
    assert h.loc["b", "in_degree"] == 2 and h.loc["b", "peers"] == 2
    assert h.loc["c", "in_degree"] == 2 and h.loc["c", "out_degree"] == 0
    # ports: the union of named ports, or a folded edge's own distinct count if larger
    assert h.loc["a", "dports_out"] == 2  # 22, 80
    assert h.loc["d", "dports_out"] == 500
    assert h.loc["b", "dports_in"] == 500
    assert h.loc["c", "dports_in"] == 1  # 22 ('-' is not a port)
    assert h.loc["a", "conns_out"] == 4 and h.loc["a", "conns_in"] == 2
    assert h.loc["a", "bytes_out"] == pytest.approx(1130.0)
    assert h.loc["b", "bytes_in"] == pytest.approx(1100.0)
    assert h["pagerank"].sum() == pytest.approx(1.0)
    assert h["hub"].sum() == pytest.approx(1.0) and h["authority"].sum() == pytest.approx(1.0)
    # one shortest path through each: b -> a -> c and d -> b -> a; of (n-1)(n-2) = 6 pairs
    assert h.loc["a", "betweenness"] == pytest.approx(1 / 6)
    assert h.loc["b", "betweenness"] == pytest.approx(1 / 6)
    assert h.loc["c", "betweenness"] == 0 and h.loc["d", "betweenness"] == 0
    assert set(METRICS) == set(h.columns)
    assert m.betweenness_exact and m.betweenness_k == 4


def test_empty_window() -> None:
    m = compute(pd.DataFrame(columns=["src", "dst", "conns"]))
    assert m.hosts.empty and m.edges == 0 and m.communities == 0
    assert set(METRICS) == set(m.hosts.columns)


def test_duplicate_pairs_are_summed() -> None:
    edges = pd.DataFrame({"src": ["a", "a", "b"], "dst": ["b", "b", "a"], "conns": [1, 2, 5]})
    m = compute(edges)
    assert m.edges == 2
    assert m.hosts.loc["a", "conns_out"] == 3 and m.hosts.loc["a", "out_degree"] == 1


def test_reference_equals_networkx_called_directly() -> None:
    edges = random_edges(60, 300, seed=7)
    got = compute(edges, SnapshotSettings(engine="networkx")).hosts
    g: nx.DiGraph[str] = nx.DiGraph()
    g.add_weighted_edges_from(
        zip(edges["src"], edges["dst"], edges["conns"].astype(float), strict=True),
        weight="conns",
    )
    pr = nx.pagerank(g, weight="conns", tol=1e-12, max_iter=1000)
    bc = nx.betweenness_centrality(g)
    hubs, auths = nx.hits(g, max_iter=1000, tol=1e-10)
    for host in g:
        assert got.loc[host, "pagerank"] == pytest.approx(pr[host], abs=1e-8)
        assert got.loc[host, "betweenness"] == pytest.approx(bc[host], abs=1e-12)
        assert got.loc[host, "hub"] == pytest.approx(hubs[host], abs=1e-6)
        assert got.loc[host, "authority"] == pytest.approx(auths[host], abs=1e-6)
        assert got.loc[host, "out_degree"] == g.out_degree(host)
        assert got.loc[host, "in_degree"] == g.in_degree(host)


# --------------------------------------------------------------------------------------------
# fast engine == networkx (within tolerance)
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("n", "m", "seed"), [(40, 120, 0), (150, 900, 1), (400, 2500, 2)])
def test_fast_engine_matches_networkx(n: int, m: int, seed: int) -> None:
    ref, fast = both(random_edges(n, m, seed))
    assert ref.index.equals(fast.index)
    for col in (
        "out_degree",
        "in_degree",
        "peers",
        "dports_out",
        "dports_in",
        "conns_out",
        "conns_in",
    ):
        assert (ref[col] == fast[col]).all(), col
    np.testing.assert_allclose(fast["bytes_out"], ref["bytes_out"], rtol=1e-12)
    np.testing.assert_allclose(fast["pagerank"], ref["pagerank"], atol=1e-10, rtol=1e-8)
    np.testing.assert_allclose(fast["hub"], ref["hub"], atol=1e-9)
    np.testing.assert_allclose(fast["authority"], ref["authority"], atol=1e-9)
    np.testing.assert_allclose(fast["betweenness"], ref["betweenness"], atol=1e-12, rtol=1e-9)


def test_sampled_betweenness_is_the_same_sample_in_both_engines() -> None:
    edges = random_edges(300, 1500, seed=3)
    kw = {"betweenness_exact_nodes": 50, "betweenness_k": 40, "seed": 11}
    ref_m = compute(edges, SnapshotSettings(engine="networkx", **kw))  # type: ignore[arg-type]
    fast_m = compute(edges, SnapshotSettings(engine="fast", **kw))  # type: ignore[arg-type]
    assert not ref_m.betweenness_exact and ref_m.betweenness_k == 40
    assert not fast_m.betweenness_exact and fast_m.betweenness_k == 40
    np.testing.assert_allclose(
        fast_m.hosts["betweenness"], ref_m.hosts["betweenness"], atol=1e-12, rtol=1e-9
    )
    # and the estimate tracks the exact values (top hosts agree)
    exact = compute(edges, SnapshotSettings(engine="fast")).hosts["betweenness"]
    top_exact = set(exact.nlargest(5).index)
    top_sampled = set(fast_m.hosts["betweenness"].nlargest(10).index)
    assert len(top_exact & top_sampled) >= 3


def planted_partition(groups: int, size: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rs = np.random.RandomState(seed)
    n = groups * size
    truth = np.repeat(np.arange(groups), size)
    rows = []
    for a in range(n):
        for b in range(n):
            if a == b:
                continue
            p = 0.25 if truth[a] == truth[b] else 0.005
            if rs.rand() < p:
                rows.append((f"x{a:03d}", f"x{b:03d}", int(rs.geometric(0.3))))
    return pd.DataFrame(rows, columns=["src", "dst", "conns"]), truth


@pytest.mark.parametrize("seed", [0, 1])
def test_louvain_engines_find_the_planted_communities(seed: int) -> None:
    edges, truth = planted_partition(4, 30, seed)
    ref_m = compute(edges, SnapshotSettings(engine="networkx", seed=seed))
    fast_m = compute(edges, SnapshotSettings(engine="fast", seed=seed))
    order = np.array([int(h[1:]) for h in ref_m.hosts.index])
    assert adjusted_rand_score(truth[order], ref_m.hosts["community"]) > 0.9
    assert adjusted_rand_score(truth[order], fast_m.hosts["community"]) > 0.9
    assert abs(ref_m.modularity - fast_m.modularity) < 0.02
    sizes = fast_m.hosts.groupby("community").size()
    assert (fast_m.hosts["community_size"] == sizes[fast_m.hosts["community"]].to_numpy()).all()
    assert sizes.index[0] == 0 and sizes.iloc[0] == sizes.max()  # 0 = the largest


def test_modularity_matches_networkx() -> None:
    edges, _ = planted_partition(3, 20, 5)
    m = compute(edges, SnapshotSettings(engine="networkx"))
    g: nx.Graph[str] = nx.Graph()
    for s, d, c in edges.itertuples(index=False):
        w = g.get_edge_data(s, d, {"w": 0.0})["w"]
        g.add_edge(s, d, w=w + c)
    for _, _, data in g.edges(data=True):
        data["w"] = float(np.log1p(data["w"]))
    comms = [set(grp.index) for _, grp in m.hosts.groupby("community")]
    assert m.modularity == pytest.approx(nx.community.modularity(g, comms, weight="w"), abs=1e-9)


def test_results_are_deterministic() -> None:
    edges = random_edges(200, 1200, seed=4)
    for engine in ("networkx", "fast"):
        s = SnapshotSettings(engine=engine, betweenness_exact_nodes=50)  # type: ignore[arg-type]
        pd.testing.assert_frame_equal(compute(edges, s).hosts, compute(edges, s).hosts)


def test_auto_engine_switches_on_size() -> None:
    edges = random_edges(100, 500, seed=5)
    assert compute(edges).engine == "networkx"
    assert compute(edges, SnapshotSettings(networkx_max_edges=100)).engine == "fast"


def test_power_iteration_helpers_on_tiny_graphs() -> None:
    # a star pointing in: the centre collects the PageRank and all the authority
    src = np.array([1, 2, 3])
    dst = np.array([0, 0, 0])
    pr = pagerank(4, src, dst, np.ones(3))
    assert pr.argmax() == 0 and pr.sum() == pytest.approx(1.0)
    hub, auth = hits(4, src, dst)
    assert auth[0] == pytest.approx(1.0) and hub[1:] == pytest.approx([1 / 3] * 3)
    hub2, auth2 = hits(2, np.array([0]), np.array([1]))
    assert hub2.tolist() == [1.0, 0.0] and auth2.tolist() == [0.0, 1.0]
    assert modularity(2, np.array([0]), np.array([1]), np.array([0.0]), np.array([0, 0]), 1.0) == 0


def test_hits_with_a_degenerate_leading_singular_value() -> None:
    # two disjoint edges: ARPACK may return any mix of the two; both engines give the average
    edges = pd.DataFrame({"src": ["a", "c", "e"], "dst": ["b", "d", "f"], "conns": [1, 1, 1]})
    ref, fast = both(edges)
    for h in (ref, fast):
        assert h["hub"].to_dict() == pytest.approx(
            {k: v for k, v in zip("abcdef", [1 / 3, 0, 1 / 3, 0, 1 / 3, 0], strict=True)}
        )
        assert h["authority"].sum() == pytest.approx(1.0)


@settings(max_examples=25, deadline=None)
@given(
    pairs=st.lists(
        st.tuples(st.integers(0, 12), st.integers(0, 12), st.integers(1, 50)),
        min_size=1,
        max_size=60,
    ),
    engine=st.sampled_from(["networkx", "fast"]),
)
def test_invariants(pairs: list[tuple[int, int, int]], engine: str) -> None:
    edges = pd.DataFrame(
        [(f"10.0.0.{a}", f"10.0.0.{b}", c) for a, b, c in pairs], columns=["src", "dst", "conns"]
    )
    m = compute(edges, SnapshotSettings(engine=engine))  # type: ignore[arg-type]
    h = m.hosts
    assert h["out_degree"].sum() == h["in_degree"].sum() == m.edges
    assert (h["peers"] <= h["out_degree"] + h["in_degree"]).all()
    assert h["conns_out"].sum() == h["conns_in"].sum() == m.connections
    if len(h):
        assert h["pagerank"].sum() == pytest.approx(1.0)
        for col in ("hub", "authority"):
            assert h[col].sum() == pytest.approx(1.0) and (h[col] >= -1e-9).all()
        assert (h["betweenness"] >= -1e-12).all() and (h["betweenness"] <= 1 + 1e-9).all()
        assert h["community"].min() == 0 and h["community"].max() == m.communities - 1


def test_measures_statement_reads_every_metric_in_order() -> None:
    """`snapshot_measures` returns one list per metric: each metric of METRICS, in order, read
    from the MEASURED relationship's property of the same name."""
    text = cypher("snapshot_measures")
    collected = re.search(r"collect\(\[(.*?)\]\) AS rows", text, re.S)
    assert collected is not None
    read = [p.strip() for p in collected.group(1).split(",")]
    assert read == [f"m.{m}" for m in METRICS]
    returned = re.findall(r"\[r IN rows \| r\[(\d+)\]\] AS (\w+)", text)
    assert [(int(i), name) for i, name in returned] == list(enumerate(METRICS))


class _MeasuredStore:
    """The `snapshot_measures` rows of some windows, as the statement returns them (one row a
    window that has hosts, one list per metric): what `measures` makes its table from."""

    def __init__(self, windows: dict[str, dict[str, list[object]]]) -> None:
        self.windows = windows
        self.asked: list[list[str]] = []

    def read_values(self, name: str, **params: object) -> list[dict[str, object]]:
        assert name == "snapshot_measures"
        asked = list(params["windows"])  # type: ignore[call-overload]
        self.asked.append(asked)
        return [
            {"window": w, **{k: list(v) for k, v in self.windows[w].items()}}
            for w in asked
            if w in self.windows and self.windows[w]["hosts"]
        ]


#: the values of one metric in one window: all integers, all floats, none (not measured in
#: that window) or integers some hosts lack
_KINDS = (
    st.integers(0, 10**12),
    st.floats(0, 1e9, allow_nan=False),
    st.none(),
    st.one_of(st.none(), st.integers(0, 99)),
)


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 4), min_size=1, max_size=4),
    kinds=st.data(),
)
def test_measures_read_a_window_at_a_time_as_the_whole_list_at_once(
    sizes: list[int], kinds: st.DataObject
) -> None:
    """A window at a time, each metric's column has the values, order and dtype of one column
    made from every window's list at once (the pandas oracle): integers stay integers unless a
    host lacks one, a metric one window lacks is NaN there, a metric no host has is left out."""
    from graphnet.detectors.snapshots import measures

    windows: dict[str, dict[str, list[object]]] = {}
    for i, n in enumerate(sizes):
        data: dict[str, list[object]] = {"hosts": [f"10.0.{i}.{j}" for j in range(n)]}
        for m in METRICS:
            kind = kinds.draw(st.sampled_from(_KINDS))
            data[m] = kinds.draw(st.lists(kind, min_size=n, max_size=n))
        windows[f"2024-W{i + 1:02d}"] = data
    store = _MeasuredStore(windows)
    asked = [*windows, "2030-W01"]
    got = measures(store, asked)  # type: ignore[arg-type]
    assert store.asked == [[w] for w in asked]
    present = [w for w in windows if windows[w]["hosts"]]
    if not present:
        assert got.empty and list(got.columns) == ["window", "host", *METRICS]
        return
    oracle: dict[str, pd.Series] = {
        "window": pd.Series([w for w in present for _ in windows[w]["hosts"]]),
        "host": pd.Series([h for w in present for h in windows[w]["hosts"]]),
    }
    for m in METRICS:
        column = pd.Series([v for w in present for v in windows[w][m]])
        if column.notna().any():
            oracle[m] = column
    pd.testing.assert_frame_equal(got, pd.DataFrame(oracle))
