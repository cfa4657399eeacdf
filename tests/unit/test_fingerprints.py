"""Fingerprints: edge histograms -> per-pair distributions with backoff levels (no Neo4j)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from graphnet import windows
from graphnet.config import Settings
from graphnet.detectors.novelty import baseline, fingerprints, histograms
from graphnet.detectors.novelty.fingerprints import LEVELS
from graphnet.detectors.novelty.histograms import COMPONENTS
from graphnet.detectors.novelty.model import score_connections
from graphnet.generate.novelty_frames import EPOCH, synthetic_network


def conn(src: str, dst: str, ts: float, **kw: object) -> dict[str, object]:
    row: dict[str, object] = {
        "ts": ts,
        "uid": f"C{abs(hash((src, dst, ts))) % 10**12}",
        "src": src,
        "dst": dst,
        "sport": 50000,
        "dport": 443,
        "proto": "tcp",
        "service": "ssl",
        "duration": 1.0,
        "src_bytes": 500.0,
        "dst_bytes": 5000.0,
        "src_pkts": 5.0,
        "dst_pkts": 6.0,
        "conn_state": "SF",
        "history": "ShADadFf",
        "line": 1,
    }
    row.update(kw)
    return row


W = 7 * 86400.0
T0 = EPOCH  # a Monday


def small_frame() -> pd.DataFrame:
    rows = []
    for w in range(3):
        for i in range(10):
            rows.append(conn("10.0.0.1", "10.0.1.1", T0 + w * W + 3600 * (9 + i % 3)))
        for i in range(4):
            rows.append(
                conn(
                    "10.0.0.1",
                    "10.0.1.2",
                    T0 + w * W + 7200 + i,
                    dport=53,
                    proto="udp",
                    service="dns",
                    history="Dd",
                )
            )
        rows.append(conn(f"10.0.0.{10 + w}", "10.0.1.1", T0 + w * W + 100))  # a new client
    return pd.DataFrame(rows)


def test_levels_are_consistent_sums() -> None:
    frame = small_frame()
    as_of = windows.window_of(T0 + 3 * W)
    fp = fingerprints.fingerprints_from_connections(frame, as_of)
    assert fp.windows == sorted(pd.unique(windows.window_ids(frame["ts"].to_numpy(), "week")))
    total = len(frame)
    for comp in COMPONENTS:
        lv = fp.levels[comp]
        assert lv["global"].total.sum() == pytest.approx(total)
        for lvl in ("pair", "client", "server", "subnet_pair"):
            assert lv[lvl].total.sum() == pytest.approx(total), (comp, lvl)
    pair = fp.pair_codes(
        fp.host_codes(np.array(["10.0.0.1"])), fp.host_codes(np.array(["10.0.1.2"]))
    )
    assert pair[0] >= 0
    assert fp.distribution("service", "pair", int(pair[0])) == [("dns", 12.0)]
    client = int(fp.host_codes(np.array(["10.0.0.1"]))[0])
    assert dict(fp.distribution("service", "client", client)) == {"ssl": 30.0, "dns": 12.0}
    server = int(fp.host_codes(np.array(["10.0.1.1"]))[0])
    assert sum(n for _, n in fp.distribution("proto", "server", server)) == 33.0
    # unknown pairs and hosts
    assert fp.pair_codes(np.array([-1]), np.array([0]))[0] == -1
    assert fp.host_codes(np.array(["nope"]))[0] == -1


def test_levels_share_what_every_component_has_in_common() -> None:
    """A key's total is its connections whatever the component: the coarser levels hold it
    once for all components; a component without folded values holds no 'other' counts."""
    frame = small_frame()
    fp = fingerprints.fingerprints_from_connections(frame, windows.window_of(T0 + 3 * W))
    first, *rest = COMPONENTS
    for lvl in ("client", "server", "subnet_pair", "zone_pair", "global"):
        for comp in rest:
            assert fp.levels[comp][lvl].total is fp.levels[first][lvl].total, (comp, lvl)
    for comp in set(COMPONENTS) - set(histograms.FOLDED):
        other = fp.levels[comp]["client"].other_n
        assert other.strides == (0,) and not other.any(), comp


def test_who_statistics_count_new_pairs_and_new_clients() -> None:
    fp = fingerprints.fingerprints_from_connections(small_frame(), windows.window_of(T0 + 3 * W))
    who = fp.who
    # windows 2 and 3 each bring one new client (a new pair) among 3 edges
    assert who["g_opp"] == 6 and who["g_new"] == 2
    assert who["hc_g_new"] == 2 and who["hc_g_opp"] == 4
    assert who["hs_g_new"] == 0
    # all of it internal -> internal, within one subnet pair
    assert np.asarray(who["zp_new"]).tolist() == [0, 0, 0, 2]
    assert np.asarray(who["hc_zone_new"]).tolist() == [0, 2]
    is_src = np.asarray(who["is_src"])
    assert is_src[fp.host_codes(np.array(["10.0.0.11"]))[0]]
    assert not is_src[fp.host_codes(np.array(["10.0.1.1"]))[0]]


def test_a_single_baseline_window_learns_who_rates_from_its_last_share_of_time() -> None:
    """One baseline window: pairs and clients first seen in its last 30 % of time are the new
    ones, every edge active then an opportunity (not the Beta(1,1) prior of no information)."""
    rows = []
    day = 86400.0
    for i in range(6):  # six clients of one server, all week long
        for d in range(7):
            rows.append(conn(f"10.0.0.{i + 1}", "10.0.1.1", T0 + d * day + 3600 * (9 + i)))
    rows.append(conn("10.0.0.1", "10.0.1.2", T0 + 10.0))  # early and only early: no opportunity
    rows.append(conn("10.0.0.2", "10.0.1.3", T0 + 5.5 * day))  # a late new pair
    rows.append(conn("10.0.0.9", "10.0.1.1", T0 + 6 * day))  # a late new client (new pair too)
    frame = pd.DataFrame(rows)
    fp = fingerprints.fingerprints_from_connections(frame, windows.window_of(T0 + W))
    who = fp.who
    assert fp.windows == [windows.window_of(T0)]
    # the week spans T0 + 9 h .. T0 + 6 d 14 h; the cut lies at about day 4.6
    assert who["g_opp"] == 8 and who["g_new"] == 2  # six habits and two late pairs
    assert who["hc_g_opp"] == 7 and who["hc_g_new"] == 1
    assert who["hs_g_opp"] == 2 and who["hs_g_new"] == 1  # 10.0.1.3 first serves late
    # a client's first session with a host that served one client early on: rarer than the
    # prior's single bit says
    new = pd.DataFrame([conn("10.0.0.3", "10.0.1.2", T0 + W + 3600)])
    bits = score_connections(fp, new).frame["part_new_pair"].to_numpy()
    assert bits[0] > 2.0
    # without first / last times (edges from elsewhere), the priors remain
    hist = histograms.edge_histograms_from_connections(frame, "week")
    hist.edges = hist.edges.drop(columns=["first", "last"])
    bare = fingerprints.build(windows.window_of(T0 + W), hist)
    assert bare.who["g_opp"] == 0 and bare.who["g_new"] == 0


def records_of(hist: histograms.EdgeHistograms) -> list[dict[str, object]]:
    """Edge histograms as rows in the former TALKED form (`<comp>_k` / `<comp>_n` lists)."""
    out: list[dict[str, object]] = []
    for i, e in enumerate(hist.edges.itertuples(index=False)):
        rec: dict[str, object] = {
            "src": e.src,
            "dst": e.dst,
            "window": e.window,
            "conns": e.conns,
            "first_ms": round(e.first * 1000),
            "last_ms": round(e.last * 1000),
            "src_subnet": e.src_subnet,
            "dst_subnet": e.dst_subnet,
        }
        for comp, ce in hist.comps.items():
            sel = ce.edge == i
            rec[f"{comp}_k"] = [str(ce.vocab[v]) for v in ce.value[sel]]
            rec[f"{comp}_n"] = [int(n) for n in ce.n[sel]]
            if ce.distinct is not None:
                rec[f"{comp}_distinct"] = int(ce.distinct[i])
        out.append(rec)
    return out


def test_records_in_the_former_edge_form_and_from_connections_agree() -> None:
    """Edge rows with _k/_n lists (the form the TALKED edges had) build the same fingerprint
    as the aggregation of the same connections."""
    net = synthetic_network(2, n_windows=3, n_clients=12, n_servers=6, plant=False)
    settings = Settings(home=Path("."), top_ports=3, top_history=2)  # force 'other' folding
    as_of = windows.window_of(float(net.frame["ts"].max()) + W)
    direct = fingerprints.fingerprints_from_connections(net.frame, as_of, settings)
    hist = histograms.edge_histograms_from_connections(net.frame, "week", settings)
    stored = fingerprints.build(as_of, histograms.edge_histograms_from_records(records_of(hist)))
    assert set(direct.hosts) == set(stored.hosts)
    for comp in COMPONENTS:
        for lvl in LEVELS:
            assert labelled(direct, comp, lvl) == pytest.approx(labelled(stored, comp, lvl))
    assert direct.who["g_new"] == stored.who["g_new"]


def test_folding_keeps_the_most_frequent_values_ties_by_value() -> None:
    """An edge keeps its top N dport and history values (count descending, then value); the
    rest, a real value 'other' included, is one 'other' count; distinct values are counted
    before folding."""
    hist = pd.DataFrame(
        {
            "src": "a",
            "dst": "b",
            "window": "2024-W01",
            "comp": ["dport"] * 5 + ["history"] * 3 + ["proto"] * 4,
            "value": ["80", "443", "22", "25", "53", "other", "Dd", "S", *"abcd"],
            "n": [5, 5, 5, 1, 2, 1, 4, 2, 1, 1, 1, 1],
        }
    )
    folded, distinct = histograms.fold_top(hist, {"dport": 2, "history": 1})
    got = {(c, v): n for c, v, n in zip(folded["comp"], folded["value"], folded["n"], strict=True)}
    # 22, 443, 80 tie at 5: 22 and 443 are kept (value order), 80 + 25 + 53 fold
    assert {v: n for (c, v), n in got.items() if c == "dport"} == {"22": 5, "443": 5, "other": 8}
    assert {v: n for (c, v), n in got.items() if c == "history"} == {"Dd": 4, "other": 3}
    assert {v for (c, v) in got if c == "proto"} == set("abcd")  # not folded
    assert distinct[["dport_distinct", "history_distinct"]].to_numpy().tolist() == [[5, 3]]


def labelled(fp: fingerprints.Fingerprints, comp: str, lvl: str) -> dict[tuple[str, str], float]:
    """A level's histogram keyed by (key label, value), independent of code order."""
    lh = fp.levels[comp][lvl]
    hosts = fp.hosts.to_numpy(dtype=object)
    S = len(fp.subnets)
    out = {}
    for key, n in zip(lh.keys, lh.n, strict=True):
        k, v = int(key // lh.V), str(fp.vocab[comp][int(key % lh.V)])
        if lvl == "pair":
            label = f"{hosts[fp.pairs['src'].iat[k]]}>{hosts[fp.pairs['dst'].iat[k]]}"
        elif lvl in ("client", "server"):
            label = str(hosts[k])
        elif lvl == "subnet_pair":
            sk = int(fp.sp_keys[k])
            label = f"{fp.subnets[sk // S]}>{fp.subnets[sk % S]}"
        else:
            label = "*"
        out[(label, v)] = float(n)
    return out


def test_folded_values_get_a_share_of_other() -> None:
    rows = []
    for w in range(2):
        for port in range(1000, 1010):  # ten ports, top 3 kept
            rows.append(conn("10.0.0.1", "10.0.1.1", T0 + w * W + port, dport=port))
    frame = pd.DataFrame(rows)
    settings = Settings(home=Path("."), top_ports=3)
    fp = fingerprints.fingerprints_from_connections(frame, windows.window_of(T0 + 2 * W), settings)
    lh = fp.levels["dport"]["pair"]
    assert histograms.OTHER in list(fp.vocab["dport"])
    assert lh.other_n[0] == 14  # 20 connections, 3 ports x 2 kept explicitly
    assert lh.other_m[0] == 7
    unseen = fp.vocab["dport"].get_indexer(["1009"])[0]
    got = lh.lookup(np.array([0]), np.array([unseen if unseen >= 0 else -1]))
    assert got[0] == pytest.approx(2.0)  # 14 connections spread over 7 ports


def test_fingerprint_rows_for_neo4j() -> None:
    fp = fingerprints.fingerprints_from_connections(small_frame(), windows.window_of(T0 + 3 * W))
    rows = baseline.fingerprint_rows(fp)
    levels = {r["level"] for r in rows}
    assert levels == set(LEVELS)
    assert len({r["id"] for r in rows}) == len(rows)
    pair = next(r for r in rows if r["level"] == "pair" and r["dst"] == "10.0.1.2")
    assert pair["client"] == "10.0.0.1" and pair["server"] == "10.0.1.2"
    assert pair["props"]["service_k"] == ["dns"] and pair["props"]["service_n"] == [12]
    assert pair["props"]["conns"] == 12.0
    # Neo4j keeps what a person reads (as on TALKED): the service/port/state lists and their
    # summaries; the other components stay in the archive
    assert pair["props"]["services"] == "dns 12"
    listed = {k[:-2] for r in rows for k in r["props"] if k.endswith("_k")}
    assert listed == set(baseline.STORED_COMPONENTS) == {"service", "dport", "conn_state"}
    every = baseline.fingerprint_rows(fp, components=histograms.COMPONENTS)
    assert {k[:-2] for r in every for k in r["props"] if k.endswith("_k")} == set(
        histograms.COMPONENTS
    )
    for r in rows:
        for k, v in r["props"].items():
            if k.endswith("_n"):
                assert len({type(x) for x in v}) == 1  # Neo4j lists are homogeneous
                assert len(v) == len(r["props"][k[:-2] + "_k"])
    client = [r for r in rows if r["level"] == "client"]
    assert all(r["server"] is None for r in client)
    glob = [r for r in rows if r["level"] == "global"]
    assert len(glob) == 1 and glob[0]["client"] is None


def test_injected_pseudo_edges_add_counts_but_not_windows() -> None:
    frame = small_frame()
    as_of = windows.window_of(T0 + 3 * W)
    extra = pd.DataFrame(
        [conn("10.0.0.1", "10.0.1.1", T0 + 2 * W + 5, conn_state="S0", history="S")]
    )
    inj = histograms.edge_histograms_from_connections(
        extra, "week", fold=False, weight=50.0, window=histograms.INJECTED
    )
    fp = fingerprints.fingerprints_from_connections(frame, as_of, injected=inj)
    pair = int(
        fp.pair_codes(fp.host_codes(np.array(["10.0.0.1"])), fp.host_codes(np.array(["10.0.1.1"])))[
            0
        ]
    )
    assert dict(fp.distribution("conn_state", "pair", pair))["S0"] == 50.0
    assert fp.pairs["injected"].iat[pair] == 50.0
    assert fp.windows == sorted(set(fp.windows))  # no pseudo window
    assert "" not in fp.windows


@pytest.mark.parametrize("seed", [1, 4])
def test_fingerprint_rows_in_chunks_are_the_rows_of_the_whole(seed: int) -> None:
    """The Neo4j rows made a few keys at a time are the rows made at once, in the same order
    with the same value types (fractional feedback weights in one chunk make every list of
    the level fractional, as for the whole)."""
    net = synthetic_network(seed, n_windows=3, n_clients=20, n_servers=6)
    settings = Settings(home=Path("."), top_ports=2, top_history=2)
    as_of = windows.window_of(float(net.frame["ts"].max()) + W)
    first = net.frame.iloc[:3]
    inj = histograms.edge_histograms_from_connections(
        first, "week", fold=False, weight=0.3, window=histograms.INJECTED
    )
    fp = fingerprints.fingerprints_from_connections(net.frame, as_of, settings, injected=inj)
    whole = list(baseline.iter_fingerprint_rows(fp, components=COMPONENTS, chunk=10**9))
    assert any(isinstance(x, float) for r in whole for x in r["props"].get("service_n", []))
    for chunk in (1, 3, 17):
        got = list(baseline.iter_fingerprint_rows(fp, components=COMPONENTS, chunk=chunk))
        assert got == whole
        types = [type(x) for r in got for k, v in r["props"].items() if k.endswith("_n") for x in v]
        assert types == [
            type(x) for r in whole for k, v in r["props"].items() if k.endswith("_n") for x in v
        ]


@pytest.mark.parametrize("seed", [1, 4])
def test_fingerprints_summed_a_few_keys_at_a_time_are_those_summed_at_once(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every level of every component (folded ones, feedback weights) and the Neo4j rows are
    the same when each level's rows are summed in ranges of 5 rows."""
    net = synthetic_network(seed, n_windows=3, n_clients=20, n_servers=6)
    settings = Settings(home=Path("."), top_ports=2, top_history=2)
    as_of = windows.window_of(float(net.frame["ts"].max()) + W)
    inj = histograms.edge_histograms_from_connections(
        net.frame.iloc[:5], "week", fold=False, weight=0.3, window=histograms.INJECTED
    )
    whole = fingerprints.fingerprints_from_connections(net.frame, as_of, settings, injected=inj)
    monkeypatch.setattr(fingerprints, "AGGREGATE_ROWS", 5)
    parts = fingerprints.fingerprints_from_connections(net.frame, as_of, settings, injected=inj)
    assert len(whole.levels["hour"]["pair"].keys) > 5 * 4
    for comp, levels in whole.levels.items():
        for lvl, lh in levels.items():
            for name in ("keys", "n", "total", "entropy", "other_n", "other_m"):
                np.testing.assert_array_equal(
                    getattr(parts.levels[comp][lvl], name), getattr(lh, name), err_msg=comp + lvl
                )
    assert list(baseline.iter_fingerprint_rows(parts, components=COMPONENTS)) == list(
        baseline.iter_fingerprint_rows(whole, components=COMPONENTS)
    )


@hypothesis_settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from(["a", "b", "other", "c", "22", "-", ""]), max_size=6),
        max_size=5,
    )
)
def test_value_codes_over_batches_follow_first_appearance(batches: list[list[str]]) -> None:
    """Codes given batch by batch are those of pd.factorize over all the values at once."""
    codes = histograms._Codes()
    got = [codes.encode(pa.array(b, type=pa.string())) for b in batches]
    every = [v for b in batches for v in b]
    want, vocab = pd.factorize(np.asarray(every, dtype=object), sort=False)
    np.testing.assert_array_equal(np.concatenate(got) if got else np.zeros(0, dtype=np.int64), want)
    assert list(codes.vocab) == list(vocab)


@hypothesis_settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, 40),
            st.floats(0, 1e6, allow_nan=False, allow_infinity=False),
        ),
        max_size=60,
    )
)
def test_sums_over_runs_are_the_sums_over_the_rows_in_their_order(
    rows: list[tuple[int, float]],
) -> None:
    """`_sum_runs` against a dictionary that adds each value's numbers in the rows' order:
    the same distinct values, ascending, and bit for bit the same sums."""
    combined = np.array([c for c, _ in rows], dtype=np.int64)
    n = np.array([x for _, x in rows], dtype=np.float64)
    oracle: dict[int, float] = {}
    for c, x in rows:
        oracle[c] = oracle.get(c, 0.0) + x
    uniq, sums = fingerprints._sum_runs(combined, n)
    assert uniq.tolist() == sorted(oracle)
    assert sums.tolist() == [oracle[c] for c in sorted(oracle)]


@hypothesis_settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, 40),
            st.one_of(st.integers(0, 10**6).map(float), st.floats(0, 1e6)),
        ),
        max_size=60,
    )
)
def test_sums_counted_into_every_code_are_the_sums_over_the_rows_in_their_order(
    rows: list[tuple[int, float]],
) -> None:
    """`_sum_dense` against a dictionary that adds each code's numbers in the rows' order: the
    codes with a positive sum, ascending, and bit for bit the same sums as `_sum_runs`."""
    codes = np.array([c for c, _ in rows], dtype=np.int64)
    n = np.array([x for _, x in rows], dtype=np.float64)
    oracle: dict[int, float] = {}
    for c, x in rows:
        oracle[c] = oracle.get(c, 0.0) + x
    uniq, sums = fingerprints._sum_dense(codes, n, 41)
    positive = [c for c in sorted(oracle) if oracle[c] > 0]
    assert uniq.tolist() == positive
    assert sums.tolist() == [oracle[c] for c in positive]
    by_runs, run_sums = fingerprints._sum_runs(codes, n)
    kept = run_sums > 0
    np.testing.assert_array_equal(uniq, by_runs[kept])
    np.testing.assert_array_equal(sums, run_sums[kept])


#: (key, value, n) rows of a level: keys 0..30, values 0..4, counts and feedback's weighted
#: counts
LEVEL_ROWS = st.lists(
    st.tuples(
        st.integers(0, 30),
        st.integers(0, 4),
        st.one_of(st.integers(0, 10**6).map(float), st.floats(0.01, 1e3)),
    ),
    max_size=80,
)


@hypothesis_settings(max_examples=200, deadline=None)
@given(
    rows=LEVEL_ROWS,
    n_keys=st.sampled_from([1, 4, 31]),
    per_range=st.integers(1, 20),
)
def test_a_level_summed_by_counting_is_the_level_summed_by_sorting(
    rows: list[tuple[int, int, float]], n_keys: int, per_range: int
) -> None:
    """`_aggregate` with the whole level counted into its codes at once (`DENSE_CODES`
    large), with the ranges of few keys counted and the others sorted (`DENSE_CODES` 20: four
    keys of five values) and with every range sorted (`DENSE_CODES` 0): every array of the
    level bit for bit the same, for one key (the global level), a few (zone pairs) and many, in
    ranges of `per_range` rows."""
    key = np.array([k % n_keys for k, _, _ in rows], dtype=np.int64)
    value = np.array([v for _, v, _ in rows], dtype=np.int64)
    n = np.array([x for _, _, x in rows], dtype=np.float64)
    got = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fingerprints, "AGGREGATE_ROWS", per_range)
        for dense in (0, 20, 10**6):
            mp.setattr(fingerprints, "DENSE_CODES", dense)
            got[dense] = fingerprints._aggregate(key, value, n, n_keys, 5, -1, None)
    for dense in (20, 10**6):
        for name in ("keys", "n", "total", "entropy", "other_n", "other_m"):
            np.testing.assert_array_equal(
                getattr(got[0], name), getattr(got[dense], name), err_msg=f"{dense}: {name}"
            )


@hypothesis_settings(max_examples=200, deadline=None)
@given(
    rows=LEVEL_ROWS,
    per_range=st.integers(1, 20),
    other=st.booleans(),
)
def test_a_level_summed_a_range_of_keys_at_a_time_is_the_level_summed_at_once(
    rows: list[tuple[int, int, float]], per_range: int, other: bool
) -> None:
    """`_aggregate` with ranges of `per_range` rows: every array of the level bit for bit that
    of one range; the ranges cover the keys in order, each key in one of them. (Sorted: with
    few codes a level is counted at once, in one range.)"""
    key = np.array([k for k, _, _ in rows], dtype=np.int64)
    value = np.array([v for _, v, _ in rows], dtype=np.int64)
    n = np.array([x for _, _, x in rows], dtype=np.float64)
    n_keys, V = 31, 5
    m = np.arange(n_keys, dtype=np.float64) % 3 if other else None
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fingerprints, "DENSE_CODES", 0)
        whole = fingerprints._aggregate(key, value, n, n_keys, V, 4 if other else -1, m)
    ranges = fingerprints.key_ranges(key, n_keys, per_range)
    assert ranges[0][0] == 0 and ranges[-1][1] == n_keys
    assert all(a < b for a, b in ranges)
    assert all(b == a2 for (_, b), (a2, _) in itertools.pairwise(ranges))
    if len(ranges) > 1:  # a range holds more rows than asked for only by its last key's
        for a, b in ranges:
            assert int(((key >= a) & (key < b - 1)).sum()) <= per_range
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fingerprints, "DENSE_CODES", 0)
        mp.setattr(fingerprints, "AGGREGATE_ROWS", per_range)
        parts = fingerprints._aggregate(key, value, n, n_keys, V, 4 if other else -1, m)
    for name in ("keys", "n", "total", "entropy", "other_n", "other_m"):
        np.testing.assert_array_equal(getattr(parts, name), getattr(whole, name), err_msg=name)


def test_a_view_of_some_keys_is_asked_by_the_keys_own_codes() -> None:
    """A level holding the keys 3 and 7 only (`index`) answers for key 7 what the whole level
    answers, leaves unknown keys (-1) unknown, and refuses a key it does not hold."""
    V = 2
    whole = fingerprints.LevelHist(
        V,
        keys=np.array([3 * V + 0, 3 * V + 1, 7 * V + 1], dtype=np.int64),
        n=np.array([2.0, 1.0, 5.0]),
        total=np.array([0, 0, 0, 3.0, 0, 0, 0, 5.0]),
        entropy=np.zeros(8),
        other_n=np.zeros(8),
        other_m=np.ones(8),
    )
    view = fingerprints.LevelHist(
        V,
        keys=np.array([0 * V + 0, 0 * V + 1, 1 * V + 1], dtype=np.int64),
        n=np.array([2.0, 1.0, 5.0]),
        total=np.array([3.0, 5.0]),
        entropy=np.zeros(2),
        other_n=np.zeros(2),
        other_m=np.ones(2),
        index=np.array([3, 7], dtype=np.int64),
    )
    key, value = np.array([7, 3, -1, 3]), np.array([1, 0, 1, 1])
    np.testing.assert_array_equal(view.lookup(key, value), whole.lookup(key, value))
    np.testing.assert_array_equal(view.local(np.array([7, -1, 3])), [1, -1, 0])
    with pytest.raises(ValueError, match="not among the keys this view"):
        view.lookup(np.array([5]), np.array([0]))
