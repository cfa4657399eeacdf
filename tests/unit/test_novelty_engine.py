"""Novelty on the analytical engine: each SQL aggregation of `graphnet/sql/novelty_*.sql`
against a pandas oracle (the in-memory path of the same detector) on hand-written and
generated frames, the out-of-core window scoring against `score_frame`, the feedback
re-injection, the step with and without `ConnectionScores`, and a window scored with a
memory limit its connections do not fit in (no Neo4j)."""

from __future__ import annotations

import copy
import hashlib
import itertools
import math
import time
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphnet import features, pipeline, windows
from graphnet.archive import Archive
from graphnet.config import Settings
from graphnet.detectors.contract import ConnectionScores, Context
from graphnet.detectors.novelty import (
    backoff,
    baseline,
    fingerprints,
    histograms,
    injection,
    pairlevel,
    paths,
    scoring,
    stored,
    streamed,
)
from graphnet.detectors.novelty.conversations import (
    conversations,
    conversations_from_runs,
    p_values,
)
from graphnet.detectors.novelty.model import window_p_values
from graphnet.detectors.novelty.parts import NoveltyParams
from graphnet.detectors.novelty.scored import PairKeys, Scored
from graphnet.feedback import Feedback
from graphnet.generate.novelty_frames import EPOCH, synthetic_network
from graphnet.sources import ARROW_TYPES, BASE_COLUMNS

W = 7 * 86400.0


def normalised(f: pd.DataFrame) -> pd.DataFrame:
    """A connection frame with exactly the archive's columns and types."""
    cols = {
        c: pa.array(f[c], type=ARROW_TYPES[c], from_pandas=True)
        if c in f
        else pa.nulls(len(f), ARROW_TYPES[c])
        for c in BASE_COLUMNS
    }
    return pa.table(cols).to_pandas()


def archived(home: Path, *frames: pd.DataFrame, **kw: Any) -> Archive:
    """An archive holding each frame as one committed file."""
    archive = Archive(Settings(home=home, **kw))
    for i, f in enumerate(frames):
        sha = hashlib.sha256(f"file {i}".encode()).hexdigest()
        w = archive.writer(sha)
        w.write(f, windows.window_ids(f["ts"].to_numpy(dtype="float64")).to_numpy())
        archive.commit(sha, w.finish())
    return archive


def conn(src: str, dst: str, ts: float, uid: str, **kw: object) -> dict[str, object]:
    row: dict[str, object] = {
        "ts": ts,
        "uid": uid,
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


def folding_frame() -> pd.DataFrame:
    """Two windows; an edge with tied port counts, a literal history 'other', an edge of one
    connection, and connections across hours and sizes."""
    rows = []
    i = 0
    for w in range(2):
        t0 = EPOCH + w * W
        for port, n in ((80, 3), (443, 3), (22, 3), (25, 1), (53, 2), (8080, 2)):
            for k in range(n):
                i += 1
                hist = ("other", "Dd", "S", "ShADadFf")[(i + w) % 4]
                rows.append(
                    conn(
                        "10.0.0.1",
                        "10.0.1.1",
                        t0 + 3600 * (k + port % 7) + 0.0017 * i,
                        f"C{i}",
                        dport=port,
                        history=hist,
                        src_bytes=float(2 ** (i % 9)),
                    )
                )
        i += 1
        rows.append(conn("10.0.0.2", "8.8.8.8", t0 + 99.5, f"C{i}", proto="udp", history=None))
    return normalised(pd.DataFrame(rows))


def test_edge_histograms_of_the_engine_match_the_pandas_aggregation(tmp_path: Path) -> None:
    f = folding_frame()
    # the second file repeats three connections: each is read once
    archive = archived(tmp_path, f, f.iloc[:3], top_ports=2, top_history=1)
    st_ = archive.settings
    wins = archive.windows()
    got = baseline.archive_edges(archive, wins, st_)
    want = histograms.edge_histograms_from_connections(f, "week", st_)

    def edges(h: histograms.EdgeHistograms) -> dict[tuple[str, str, str], tuple[float, ...]]:
        e = h.edges
        return {
            (r.window, r.src, r.dst): (r.conns, r.first, r.last, r.src_subnet, r.src_internal)
            for r in e.itertuples(index=False)
        }

    def values(h: histograms.EdgeHistograms) -> dict[tuple[str, ...], float]:
        out = {}
        keys = h.edges[["window", "src", "dst"]].to_numpy(dtype=object)
        for comp, ce in h.comps.items():
            for e, v, n in zip(ce.edge, ce.value, ce.n, strict=True):
                out[(*keys[e], comp, str(ce.vocab[v]))] = float(n)
        return out

    def distinct(h: histograms.EdgeHistograms) -> dict[tuple[str, ...], tuple[float, float]]:
        keys = h.edges[["window", "src", "dst"]].to_numpy(dtype=object)
        d, hd = h.comps["dport"].distinct, h.comps["history"].distinct
        assert d is not None and hd is not None
        return {tuple(k): (d[i], hd[i]) for i, k in enumerate(keys)}

    assert edges(got) == edges(want)
    assert values(got) == values(want)
    assert distinct(got) == distinct(want)
    # the ties at 3 connections keep 22 and 443 (value order); the rest is 'other'
    first = (wins[0], "10.0.0.1", "10.0.1.1")
    ports = {k[-1]: n for k, n in values(got).items() if k[:3] == first and k[3] == "dport"}
    assert ports == {"22": 3.0, "443": 3.0, "other": 8.0}
    hists = {k[-1] for k in values(got) if k[:3] == first and k[3] == "history"}
    assert len(hists) == 2 and "other" in hists


def test_the_engine_s_edges_hold_each_name_once_as_a_python_string(tmp_path: Path) -> None:
    # the build codes the edges' hosts and windows from these columns: read as objects they
    # must be the frame's own strings, one per distinct name, not a new string per edge
    archive = archived(tmp_path, folding_frame())
    got = baseline.archive_edges(archive, archive.windows(), archive.settings)
    for col in ("src", "dst", "window"):
        column = got.edges[col]
        assert column.dtype == object
        vals = column.to_numpy(dtype=object)
        assert np.shares_memory(vals, column.to_numpy(dtype=object))
        assert len({id(v) for v in vals}) == len(set(vals)) < len(vals)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    edges=st.lists(
        st.lists(
            st.tuples(
                st.sampled_from([22, 25, 53, 80, 443, 8080]),
                st.sampled_from(["other", "S", "Dd", "ShADadFf", "ShR"]),
            ),
            min_size=1,
            max_size=12,
        ),
        min_size=1,
        max_size=4,
    ),
    top_ports=st.integers(1, 4),
    top_history=st.integers(1, 4),
)
def test_the_engine_folds_each_edge_as_the_pandas_twin(
    tmp_path_factory: pytest.TempPathFactory,
    edges: list[list[tuple[int, str]]],
    top_ports: int,
    top_history: int,
) -> None:
    """Edges with fewer, as many or more values than are kept (only the last are ranked by
    the engine), a literal 'other' among them: the folded counts and the distinct values
    before folding are those of the pandas aggregation."""
    rows = []
    for e, conns in enumerate(edges):
        for k, (port, hist) in enumerate(conns):
            uid = f"C{e}-{k}"
            rows.append(
                conn("10.0.0.1", f"10.0.1.{e}", EPOCH + 60.0 * k + e, uid, dport=port, history=hist)
            )
    f = normalised(pd.DataFrame(rows))
    archive = archived(
        tmp_path_factory.mktemp("fold"), f, top_ports=top_ports, top_history=top_history
    )
    got = baseline.archive_edges(archive, archive.windows(), archive.settings)
    want = histograms.edge_histograms_from_connections(f, "week", archive.settings)

    def folded(h: histograms.EdgeHistograms) -> dict[tuple[str, str, str], float]:
        dsts = h.edges["dst"].to_numpy(dtype=object)
        return {
            (dsts[e], comp, str(ce.vocab[v])): float(n)
            for comp in ("dport", "history")
            for ce in [h.comps[comp]]
            for e, v, n in zip(ce.edge, ce.value, ce.n, strict=True)
        }

    def distinct(h: histograms.EdgeHistograms) -> dict[str, tuple[float, float]]:
        d, hd = h.comps["dport"].distinct, h.comps["history"].distinct
        assert d is not None and hd is not None
        return {str(k): (d[i], hd[i]) for i, k in enumerate(h.edges["dst"])}

    assert folded(got) == folded(want)
    assert distinct(got) == distinct(want)


def test_window_joint_counts_match_the_components(tmp_path: Path) -> None:
    f = folding_frame()
    archive = archived(tmp_path, f)
    w = archive.windows()[0]
    got = baseline.window_joint(archive, w)
    assert got is not None
    part = f[windows.window_ids(f["ts"].to_numpy()).to_numpy() == w]
    want = fingerprints.joint_counts(features.components(part))
    key = list(fingerprints.JOINT)
    as_dict = {tuple(r[:-1]): r[-1] for r in got[[*key, "n"]].itertuples(index=False, name=None)}
    assert as_dict == {
        tuple(r[:-1]): r[-1] for r in want[[*key, "n"]].itertuples(index=False, name=None)
    }
    # cached with the window's stamp, recomputed when the archive changes
    assert archive.result_meta(w, baseline.JOINT_RESULT) == {"stamp": archive.stamp(w)}


# --------------------------------------------------------------------------------------------
# the conversation pass: runs of equal conn_bits against the per-connection computation
# --------------------------------------------------------------------------------------------
def counted_oracle(bits: np.ndarray, src: np.ndarray, per_group: int = 100) -> np.ndarray:
    """For each connection: connections at least as novel, a source counting at most
    `per_group` of them (what novelty_pairs.sql counts)."""
    out = np.zeros(len(bits))
    for i, b in enumerate(bits):
        if b > 0:
            ge = pd.Series(bits >= b).groupby(src).sum()
            out[i] = np.minimum(ge, per_group).sum()
    return out


def fake_scored(frame: pd.DataFrame, params: NoveltyParams) -> Scored:
    codes, uniq = pd.factorize(pd.MultiIndex.from_frame(frame[["src", "dst"]]), sort=False)
    src = np.asarray([u[0] for u in uniq], dtype=object)
    dst = np.asarray([u[1] for u in uniq], dtype=object)
    z = np.zeros(len(uniq), dtype=np.int64)
    keys = PairKeys(codes.astype(np.int64), src, dst, z, z, z, z, z, z, z, z)
    return Scored(frame, np.zeros((len(frame), 0)), frame, keys, None, params)  # type: ignore[arg-type]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.lists(
        st.tuples(
            st.integers(0, 3),  # src
            st.integers(0, 2),  # dst
            st.sampled_from([0.0, 0.5, 3.0, 7.5, 12.0, 20.0, 31.0]),  # conn_bits (ties)
        ),
        min_size=1,
        max_size=120,
    ),
    who=st.sampled_from([0.0, 0.0, 4.0]),
    novel_p=st.sampled_from([0.01, 0.2, 1.0]),
)
def test_conversations_from_runs_equal_the_per_connection_ones(
    data: list[tuple[int, int, float]], who: float, novel_p: float
) -> None:
    params = NoveltyParams(novel_p=novel_p)
    f = pd.DataFrame(data, columns=["s", "d", "conn_bits"])
    f["src"] = "h" + f["s"].astype(str)
    f["dst"] = "k" + f["d"].astype(str)
    f["who_bits"] = np.where(f["s"].to_numpy() == 0, who, 0.0)  # per pair
    f["ts"] = np.arange(len(f), dtype="float64")
    src = f["src"].to_numpy(dtype=object)
    f["p_value"] = window_p_values(f["conn_bits"].to_numpy(), src, per_group=2)
    counted = counted_oracle(f["conn_bits"].to_numpy(), src, per_group=2)
    np.testing.assert_array_equal(
        p_values(f["conn_bits"].to_numpy(), counted, len(f)), f["p_value"].to_numpy()
    )
    want = conversations(fake_scored(f, params)).set_index(["src", "dst"])
    runs = (
        f.assign(counted=counted)
        .groupby(["src", "dst", "conn_bits"], as_index=False)
        .agg(who_bits=("who_bits", "max"), n=("ts", "size"), counted=("counted", "max"))
        .sort_values(["src", "dst", "conn_bits"], ascending=[True, True, False])
    )
    got = conversations_from_runs(
        runs["src"].to_numpy(dtype=object),
        runs["dst"].to_numpy(dtype=object),
        runs["conn_bits"].to_numpy(),
        runs["who_bits"].to_numpy(),
        runs["n"].to_numpy(),
        runs["counted"].to_numpy(),
        len(f),
        params,
    ).set_index(["src", "dst"])
    got = got.reindex(want.index)
    for c in ("score", "bits", "conn", "conn_bits", "who_bits", "connections", "novel"):
        np.testing.assert_array_equal(got[c].to_numpy(dtype=float), want[c].to_numpy(dtype=float))


# --------------------------------------------------------------------------------------------
# a window scored out of core against score_frame
# --------------------------------------------------------------------------------------------
def spread(frame: pd.DataFrame) -> pd.DataFrame:
    """The synthetic network (clients in one /24, servers in another) over many subnets: the
    clients over six /24s, and the servers with an odd last octet moved to public addresses,
    each in a /24 of its own."""

    def moved(host: str) -> str:
        a, b, c, d = host.split(".")
        if c == "1":
            return f"{a}.{b}.{100 + int(d) % 6}.{d}"
        if c == "2" and int(d) % 2:
            return f"198.51.{d}.{d}"
        return host

    hosts = pd.unique(pd.concat([frame["src"], frame["dst"]]))
    to = {h: moved(str(h)) for h in hosts}
    return frame.assign(src=frame["src"].map(to), dst=frame["dst"].map(to))


def scored_both(
    tmp: Path, seed: int, spread_out: bool = False, **kw: Any
) -> tuple[Archive, fingerprints.Fingerprints, pd.DataFrame, str]:
    net = synthetic_network(seed)
    f = spread(net.frame) if spread_out else net.frame
    f = normalised(f).sort_values(["ts", "uid"], ignore_index=True)
    archive = archived(tmp, f, **kw)
    last = net.windows[-1]
    wid = windows.window_ids(f["ts"].to_numpy()).to_numpy()
    fp = fingerprints.fingerprints_from_connections(f[wid < last], last, archive.settings)
    return archive, fp, f[wid == last].reset_index(drop=True), last


@pytest.mark.parametrize(
    ("seed", "batch", "spread_out"), [(0, 331, False), (3, 50_000, True), (5, 113, True)]
)
def test_the_levels_stored_apart_score_as_the_whole_fingerprint(
    tmp_path: Path, seed: int, batch: int, spread_out: bool
) -> None:
    """Fingerprints whose pair and subnet-pair levels are stored as results and read batch by
    batch (`store_pairs`, `pair_view`) score a window exactly as the fingerprints in memory, in
    batches that split pairs or hold them all; folded values ('other') included; over one
    subnet pair or many, with new pairs in known and in new subnet pairs."""
    archive, fp, obs, last = scored_both(tmp_path, seed, spread_out, top_ports=1, top_history=1)
    assert any(histograms.OTHER in fp.vocab[c] for c in histograms.FOLDED)
    if spread_out:
        assert len(fp.sp_keys) > 10 and len(np.unique(fp.who["sp_opp"])) > 3
        keys = backoff.pair_keys(
            fp, obs["src"].to_numpy(object), obs["dst"].to_numpy(object), None, archive.settings
        )
        assert ((keys.pair < 0) & (keys.sp >= 0)).any() and (keys.sp < 0).any()
    fp2 = copy.deepcopy(fp)
    p = NoveltyParams()
    want = streamed.score_archived(
        archive, fp, last, p, archive.settings, per_connection=True, batch=batch
    )
    baseline.store_pairs(archive, fp2)
    assert fp2.apart == {lvl: (last, r) for lvl, r in baseline.APART_RESULTS.items()}
    assert set(fp2.apart) == {"pair", "subnet_pair", "client", "server"}
    for lvl in pairlevel.APART:
        assert all(len(fp2.levels[c][lvl].keys) == 0 for c in histograms.COMPONENTS)
    with pytest.raises(ValueError, match="stored apart"):
        scoring.score_frame(fp2, obs, last)
    got = streamed.score_archived(
        archive, fp2, last, p, archive.settings, per_connection=True, batch=batch
    )
    pd.testing.assert_frame_equal(got.connections, want.connections)
    pd.testing.assert_frame_equal(got.conversations, want.conversations)
    pd.testing.assert_series_equal(got.host_scores, want.host_scores)
    pd.testing.assert_frame_equal(got.host_best, want.host_best)
    assert got.conn_scores is not None and want.conn_scores is not None
    pd.testing.assert_series_equal(got.conn_scores, want.conn_scores)
    assert got.combos is not None and want.combos is not None
    pd.testing.assert_frame_equal(got.combos, want.combos)
    np.testing.assert_array_equal(got.combo_ids, want.combo_ids)


@pytest.mark.parametrize("seed", [0, 3])
def test_the_window_scored_out_of_core_equals_score_frame(tmp_path: Path, seed: int) -> None:
    archive, fp, obs, last = scored_both(tmp_path, seed)
    want = scoring.score_frame(fp, obs, last, settings=archive.settings)
    got, st_ = scoring.score_window(archive, fp, last, archive.settings, per_connection=True)
    assert st_.total == len(obs)
    # conversations: same rows, same order, same values
    cols = ["src", "dst", "score", "bits", "conn", "conn_bits", "who_bits", "connections"]
    cols += ["novel", "first", "last", "reported", "explanation", "summary"]
    pd.testing.assert_frame_equal(got.conversations[cols], want.conversations[cols])
    # findings
    assert [f.to_json() for f in got.findings] == [f.to_json() for f in want.findings]
    assert got.findings
    # every connection's score; the window is small: every connection is stored
    wf = want.connections.set_index("uid")
    assert st_.conn_scores is not None
    pd.testing.assert_series_equal(
        st_.conn_scores.sort_index(), wf["score"].rename(None).sort_index(), check_names=False
    )
    gf = got.connections.set_index("uid")
    assert len(gf) == len(wf)
    gf = gf.loc[wf.index]
    for c in streamed.COLUMNS[1:]:
        assert gf[c].astype(object).tolist() == wf[c].astype(object).tolist(), c
    assert gf["novel"].tolist() == wf["novel"].tolist()
    assert gf["reported"].tolist() == wf["reported"].tolist()
    # a conversation's best row is its most novel connection in the stored frame
    conv = got.conversations[got.conversations["novel"] > 0]
    best = got.connections.iloc[conv["best"].to_numpy()]
    assert (best["conn_bits"].to_numpy() == conv["conn_bits"].to_numpy()).all()
    # hosts
    hs, evidence = scoring.host_scores(want.connections)
    pd.testing.assert_series_equal(st_.host_scores, hs)
    assert scoring.host_evidence(got, st_) == evidence


def test_fingerprints_handed_over_are_let_go_before_the_kept_connections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The step hands its fingerprints over (`streamed.Handed`): the scoring lets them go
    once the explained combinations are rescored, so that they are freed before the kept
    connections are made; the scores and findings are those of fingerprints held throughout."""
    archive, fp, _, last = scored_both(tmp_path, 2)
    want, _ = scoring.score_window(archive, fp, last, archive.settings)
    alive = weakref.ref(fp)
    handed = streamed.Handed(fp)
    del fp
    freed: list[bool] = []
    stored = streamed._stored

    def watched(novel: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
        freed.append(alive() is None)
        return stored(novel, sample)

    monkeypatch.setattr(streamed, "_stored", watched)
    got, _ = scoring.score_window(archive, handed, last, archive.settings)
    assert freed == [True]
    assert handed.fingerprints is None
    assert [f.to_json() for f in got.findings] == [f.to_json() for f in want.findings]
    assert got.findings
    pd.testing.assert_frame_equal(got.connections, want.connections)
    pd.testing.assert_frame_equal(got.conversations, want.conversations)
    assert got.baseline_windows == want.baseline_windows
    with pytest.raises(ValueError, match="already taken"):
        scoring.score_window(archive, handed, last, archive.settings)


@pytest.mark.parametrize(("threshold", "top_k"), [(0.0, None), (None, 3), (0.9, None)])
def test_the_reported_conversations_follow_threshold_and_top_k(
    tmp_path: Path, threshold: float | None, top_k: int | None
) -> None:
    """Also conversations without any novel connection, at threshold 0."""
    archive, fp, obs, last = scored_both(tmp_path, 4)
    want = scoring.score_frame(
        fp, obs, last, settings=archive.settings, threshold=threshold, top_k=top_k
    )
    got, _ = scoring.score_window(
        archive, fp, last, archive.settings, threshold=threshold, top_k=top_k
    )
    assert [f.to_json() for f in got.findings] == [f.to_json() for f in want.findings]
    assert got.conversations["reported"].tolist() == want.conversations["reported"].tolist()


def test_a_large_window_keeps_its_novel_connections_and_a_sample(tmp_path: Path) -> None:
    archive, fp, obs, last = scored_both(tmp_path, 1)
    p = NoveltyParams()
    st_ = streamed.score_archived(archive, fp, last, p, archive.settings, sample_rows=500)
    want = scoring.score_frame(fp, obs, last, settings=archive.settings).connections
    step = math.ceil(len(obs) / 500)
    ordered = want.sort_values(["ts", "uid"], kind="stable")
    kept = set(ordered["uid"].iloc[::step]) | set(want.loc[want["novel"], "uid"])
    got = st_.connections
    assert set(got["uid"]) == kept
    assert set(got.loc[got["novel"], "uid"]) == set(want.loc[want["novel"], "uid"])
    assert got["ts"].is_monotonic_increasing
    assert st_.conn_scores is None


# --------------------------------------------------------------------------------------------
# feedback re-injection
# --------------------------------------------------------------------------------------------
def injected_cases() -> list[Feedback]:
    return [
        Feedback("benign", "pair", src="10.0.0.1", dst="10.0.1.1", window="2024-W01"),
        Feedback("benign", "src", src="10.0.0.1", port=22, window="2024-W01"),
        Feedback("benign", "dst_service", dst="8.8.8.8", service="ssl", window="2024-W01"),
        Feedback("benign", "subnet_pair", src="10.0.0.0/24", dst="10.0.1.0/24", window="2024-W01"),
        Feedback("benign", "path", hosts=["10.0.0.2", "8.8.8.8"], window="2024-W01"),
        Feedback("benign", "pair", src="10.9.9.9", dst="10.0.1.1", window="2024-W01"),
    ]


def histogram_dict(h: histograms.EdgeHistograms | None) -> dict[tuple[str, ...], float]:
    if h is None:
        return {}
    keys = h.edges[["src", "dst"]].to_numpy(dtype=object)
    out = {("conns", *k): float(n) for k, n in zip(keys, h.edges["conns"], strict=True)}
    for comp, ce in h.comps.items():
        for e, v, n in zip(ce.edge, ce.value, ce.n, strict=True):
            out[(*keys[e], comp, str(ce.vocab[v]))] = float(n)
    return out


@pytest.mark.parametrize("scored", [False, True])
def test_approved_observations_of_the_engine_match_the_frames(tmp_path: Path, scored: bool) -> None:
    f = folding_frame()
    f = f[windows.window_ids(f["ts"].to_numpy()).to_numpy() == "2024-W01"]
    f = f.reset_index(drop=True)
    archive = archived(tmp_path, f)
    frame = f.copy()
    if scored:  # the window's stored scores: every third connection novel
        frame["novel"] = np.arange(len(f)) % 3 == 0
        ws = stored.WindowScores(
            "2024-W01", [], frame, pd.DataFrame({"src": [], "dst": []}), [], 0.5, None,
            NoveltyParams(),
        )  # fmt: skip
        stored.write_scores(archive, ws)
    base = pd.DataFrame({"src": ["10.0.0.1"], "dst": ["10.0.1.1"], "conns": [40.0]})
    hist = histograms.EdgeHistograms(base, histograms.EdgeHistograms.empty().comps)
    for fb in injected_cases():
        got = injection.injection([fb], archive.settings, hist)
        want = injection.injection_from_frames([fb], {"2024-W01": frame}, base)
        assert histogram_dict(got) == histogram_dict(want), fb
    assert injection.injection(injected_cases()[:1], archive.settings, hist) is not None


# --------------------------------------------------------------------------------------------
# the steps, without a graph database
# --------------------------------------------------------------------------------------------
class FakeStore:
    """What the novelty steps read from the graph: the windows, no feedback, no hosts."""

    def __init__(self, wins: list[str]) -> None:
        self.wins = wins

    def read(self, name: str, **params: Any) -> list[dict[str, Any]]:
        if name == "windows_list":
            return [{"window": w, "edges": 1, "connections": 1} for w in self.wins]
        return []

    def write(self, name: str, **params: Any) -> list[dict[str, Any]]:
        return [{"deleted": 0}]

    def write_batches(self, name: str, rows: Iterable[Any], batch_size: int, **params: Any) -> int:
        return sum(1 for _ in rows)  # rows may be a generator (the store takes any iterable)


def test_in_a_pass_novelty_scores_against_the_fingerprints_step_s_fingerprints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fingerprints step's fingerprints are kept for novelty (`Step.uses`), which does not
    build them again; alone, novelty builds its own."""
    archive, _, _, last = scored_both(tmp_path, 2)
    store = FakeStore(archive.windows())
    steps = pipeline.select(["fingerprints", "novelty"])
    built: list[str] = []
    real = scoring.build_fingerprints

    def counted(*args: Any, **kw: Any) -> fingerprints.Fingerprints:
        built.append("novelty")
        return real(*args, **kw)

    monkeypatch.setattr(scoring, "build_fingerprints", counted)
    done = pipeline.analyse_window(store, archive.settings, last, steps, save=False)  # type: ignore[arg-type]
    assert [o.status for o in done.outcomes] == ["ok", "ok"]
    assert built == []
    alone = pipeline.analyse_window(store, archive.settings, last, steps[1:], save=False)  # type: ignore[arg-type]
    assert [o.status for o in alone.outcomes] == ["ok"] and built == ["novelty"]
    assert alone.runs["novelty"].summary == done.runs["novelty"].summary


def test_the_steps_score_every_connection_only_when_asked(tmp_path: Path) -> None:
    archive, _, obs, last = scored_both(tmp_path, 2)
    store = FakeStore(archive.windows())
    ctx = Context(archive.settings, last, archive, store, save=True)  # type: ignore[arg-type]
    plain = scoring.run(ctx)
    assert plain.conn_scores is None
    assert plain.detail is not None and plain.detail.connections == len(obs)
    meta = archive.result_meta(last, stored.SCORES)
    assert meta is not None and meta["connections"] == len(obs) == meta["rows"]
    asked = scoring.run(
        Context(archive.settings, last, archive, store, save=False, options=(ConnectionScores(),))  # type: ignore[arg-type]
    )
    assert asked.conn_scores is not None
    assert set(asked.conn_scores.index) == set(obs["uid"])
    assert plain.host_scores is not None
    pd.testing.assert_series_equal(plain.host_scores, asked.host_scores)
    assert [f.id for f in plain.findings] == [f.id for f in asked.findings]
    assert plain.alerts == asked.alerts > 0
    # the paths step reads the stored scores
    hops = paths.run(Context(archive.settings, last, archive, store, save=False))  # type: ignore[arg-type]
    assert hops.findings and all(f.kind == "deviating_path" for f in hops.findings)


@pytest.mark.parametrize(("seed", "spread_out"), [(1, False), (4, True)])
def test_fingerprints_built_with_levels_apart_equal_the_whole(
    tmp_path: Path, seed: int, spread_out: bool
) -> None:
    """Built one component at a time with each pair and subnet-pair level written as it is
    made (`build_fingerprints(pairs_apart=True)`), the fingerprints give the Neo4j rows and
    the scores of the fingerprints built whole."""
    archive, _, _, last = scored_both(tmp_path, seed, spread_out, top_ports=1, top_history=1)
    store = FakeStore(archive.windows())
    st_ = archive.settings
    whole = baseline.build_fingerprints(store, last, st_, save=False, archive=archive)  # type: ignore[arg-type]
    apart = baseline.build_fingerprints(  # type: ignore[arg-type]
        store, last, st_, save=False, archive=archive, pairs_apart=True
    )
    assert apart.apart == {lvl: (last, r) for lvl, r in baseline.APART_RESULTS.items()}
    assert set(apart.apart) == {"pair", "subnet_pair", "client", "server"}
    for lvl in pairlevel.APART:
        assert all(len(apart.levels[c][lvl].keys) == 0 for c in histograms.COMPONENTS)
    assert apart.n_pairs == whole.n_pairs > 0
    assert len(apart.sp_keys) == len(whole.sp_keys) > 0
    for comp in histograms.COMPONENTS:
        for lvl in [lv for lv in fingerprints.LEVELS if lv not in pairlevel.APART]:
            np.testing.assert_array_equal(
                apart.levels[comp][lvl].keys, whole.levels[comp][lvl].keys
            )
            np.testing.assert_array_equal(apart.levels[comp][lvl].n, whole.levels[comp][lvl].n)
    want_rows = baseline.fingerprint_rows(whole, components=histograms.COMPONENTS)
    got_rows = list(
        baseline.iter_fingerprint_rows(
            apart, components=histograms.COMPONENTS, chunk=5, archive=archive
        )
    )
    assert got_rows == want_rows
    p = NoveltyParams()
    want = streamed.score_archived(archive, whole, last, p, st_, per_connection=True, batch=401)
    got = streamed.score_archived(archive, apart, last, p, st_, per_connection=True, batch=401)
    pd.testing.assert_frame_equal(got.connections, want.connections)
    pd.testing.assert_frame_equal(got.conversations, want.conversations)
    assert got.conn_scores is not None and want.conn_scores is not None
    pd.testing.assert_series_equal(got.conn_scores, want.conn_scores)


def big_window(n: int, seed: int = 0) -> pd.DataFrame:
    """n connections of 400 clients to 40 servers over a week, a few habits each."""
    rs = np.random.RandomState(seed)
    src = rs.randint(0, 400, n)
    dst = (src * 7 + rs.randint(0, 3, n)) % 40
    svc = dst % 4
    return pd.DataFrame(
        {
            "ts": EPOCH + W + np.sort(rs.uniform(0, 5 * 86400, n)),
            "uid": np.char.add("Cbig", np.arange(n).astype(str)).astype(object),
            "src": np.char.add("10.1.0.", (src % 250).astype(str)).astype(object),
            "dst": np.char.add("10.2.0.", dst.astype(str)).astype(object),
            "sport": rs.randint(49152, 65535, n).astype("int32"),
            "dport": np.array([443, 80, 53, 445])[svc].astype("int32"),
            "proto": np.array(["tcp", "tcp", "udp", "tcp"], dtype=object)[svc],
            "service": np.array(["ssl", "http", "dns", "smb"], dtype=object)[svc],
            "duration": rs.exponential(2.0, n),
            "src_bytes": np.round(np.exp2(rs.uniform(6, 9, n))),
            "dst_bytes": np.round(np.exp2(rs.uniform(9, 12, n))),
            "src_pkts": rs.randint(1, 8, n).astype("float64"),
            "dst_pkts": rs.randint(1, 8, n).astype("float64"),
            "conn_state": np.where(rs.rand(n) < 0.02, "S0", "SF").astype(object),
            "history": np.where(rs.rand(n) < 0.02, "S", "ShADadFf").astype(object),
            "line": np.arange(1, n + 1, dtype=np.int64),
        }
    )


def test_a_window_larger_than_the_engine_memory_is_scored(tmp_path: Path) -> None:
    """A window whose connections with their components (what the in-memory path holds) take
    more than 64 MiB, in a 64 MiB engine: the fingerprints and the window's scores (every
    connection's too) are computed, and agree with a run without the tight limit."""
    t0 = time.perf_counter()
    n = 150_000
    window = big_window(n)
    held = window.memory_usage(deep=True).sum()
    held += features.components(window).memory_usage(deep=True).sum()
    assert held > 64 * 2**20
    base = big_window(n // 3, seed=1).assign(ts=lambda f: f["ts"] - W)
    base["uid"] = "B" + base["uid"]
    tight = archived(tmp_path, base, window, engine_memory="64MiB", engine_threads=1)
    last = tight.windows()[-1]
    wins = tight.windows()[:-1]

    def run(archive: Archive) -> tuple[scoring.WindowScores, streamed.Streamed]:
        hist = baseline.archive_edges(archive, wins, archive.settings)
        fp = fingerprints.build(
            last,
            hist,
            joint=baseline.baseline_joint(archive, wins),
            settings=archive.settings,
        )
        return scoring.score_window(archive, fp, last, archive.settings, per_connection=True)

    ws, st_ = run(tight)
    assert st_.total == n
    assert st_.conn_scores is not None and len(st_.conn_scores) == n
    assert len(ws.conversations) == window.groupby(["src", "dst"]).ngroups
    assert len(ws.connections) <= streamed.SAMPLE_ROWS + int(ws.conversations["novel"].sum())
    roomy = Archive(Settings(home=tight.settings.home))  # the default limit
    ws2, st2 = run(roomy)
    pd.testing.assert_frame_equal(ws.conversations, ws2.conversations)
    pd.testing.assert_series_equal(st_.host_scores, st2.host_scores)
    assert time.perf_counter() - t0 < 60


def _kept_frame(draw: st.DrawFn, n: int, uids: list[str], novel: bool) -> pd.DataFrame:
    """A frame of joined-back connections (`streamed.COLUMNS` and more) with uids from `uids`."""
    f: dict[str, Any] = {}
    for c in streamed.COLUMNS:
        if c == "uid":
            f[c] = pd.Series([draw(st.sampled_from(uids)) for _ in range(n)], dtype="str")
        elif c in ("src", "dst", "top_component", "top_value", "explanation"):
            f[c] = pd.Series([draw(st.sampled_from(["", "a", "b"])) for _ in range(n)], dtype="str")
        elif c == "ts":
            f[c] = np.asarray([draw(st.integers(0, 5)) for _ in range(n)], dtype="float64")
        else:
            f[c] = np.asarray([draw(st.floats(0, 9, width=32)) for _ in range(n)], dtype="float64")
    f["novel"] = np.asarray([novel and draw(st.booleans()) for _ in range(n)], dtype=bool)
    if novel:
        f["rnk"] = np.asarray([draw(st.integers(1, 4)) for _ in range(n)], dtype=np.int64)
    f["id"] = np.asarray([draw(st.integers(0, 9)) for _ in range(n)], dtype=np.int64)
    f["extra"] = np.zeros(n)
    return pd.DataFrame(f)


@st.composite
def kept_inputs(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame]:
    uids = [f"C{i}" for i in range(draw(st.integers(1, 30)))]
    n_novel = draw(st.integers(0, 25))
    novel = _kept_frame(draw, n_novel, uids, True).drop_duplicates("uid", ignore_index=True)
    sample = _kept_frame(draw, draw(st.integers(0, 25)), uids, False)
    return novel, sample.drop_duplicates("uid", ignore_index=True)


@given(kept_inputs())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_kept_connections_are_the_novel_then_the_other_sampled_ones_in_time_order(
    inputs: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    """`_stored` (Arrow's is_in, each column taken once and let go) keeps what concatenating
    the novel rows with the sampled rows that are not novel, ordered by (ts, uid), keeps."""
    novel, sample = inputs
    rest = sample[~sample["uid"].isin(set(novel["uid"]))].assign(rnk=0)
    want = pd.concat([novel, rest], ignore_index=True)
    want = want.sort_values(["ts", "uid"], kind="stable", ignore_index=True)
    want = want[[*streamed.COLUMNS, "novel", "rnk", "id"]]
    got = streamed._stored(novel.copy(), sample.copy())
    pd.testing.assert_frame_equal(got, want, check_exact=True)


@given(
    st.lists(st.sampled_from(["C1", "C2", "C3", "Cé", "", "C10"]), max_size=12),
    st.lists(st.sampled_from(["C1", "C3", "Cé", "C4", "", "C100"]), max_size=12),
    st.sampled_from(["str", "object"]),
)
@settings(max_examples=150, deadline=None)
def test_which_strings_are_among_others_is_pandas_isin(
    values: list[str], among: list[str], dtype: str
) -> None:
    """`_among` hashes the shorter side (of a longer `among`, only what is among `values`):
    the same answer as pandas' `isin` either way, whichever way the frames hold strings."""
    v, a = pd.Series(values, dtype=dtype), pd.Series(among, dtype=dtype)
    want = v.isin(set(among)).to_numpy()
    np.testing.assert_array_equal(streamed._among(v, a), want)


@st.composite
def conversation_parts(draw: st.DrawFn) -> list[pd.DataFrame]:
    """Conversations in parts as `_conversation_runs` gives them: one row per (src, dst),
    src and dst as pandas strings, bits with ties."""
    hosts = ["a", "b", "ab", "B", "é", "10.0.0.2", "10.0.0.10", ""]
    end = st.sampled_from(hosts)
    pairs = draw(st.lists(st.tuples(end, end), unique=True, max_size=30))
    cut = sorted(draw(st.lists(st.integers(0, len(pairs)), max_size=3)))
    out = []
    for lo, hi in itertools.pairwise([0, *cut, len(pairs)]):
        rows = pairs[lo:hi]
        out.append(
            pd.DataFrame(
                {
                    "src": pd.Series([s for s, _ in rows], dtype="str"),
                    "dst": pd.Series([d for _, d in rows], dtype="str"),
                    "bits": np.asarray(
                        [draw(st.sampled_from([0.0, 1.5, 7.0])) for _ in rows], dtype="float64"
                    ),
                    "connections": np.arange(lo, hi, dtype=np.int64),
                    "everything": np.asarray([draw(st.booleans()) for _ in rows], dtype=bool),
                }
            )
        )
    return out


@given(conversation_parts())
@settings(max_examples=150, deadline=None)
def test_the_conversations_are_joined_most_novel_first_as_pandas_sorts_them(
    parts: list[pd.DataFrame],
) -> None:
    """`_ranked` (Arrow's sort of the keys, each column joined and ordered once, the parts
    let go) gives what joining the parts and sorting them by bits descending, then src and
    dst, gives."""
    want = pd.concat([p.copy() for p in parts], ignore_index=True)
    want = want.sort_values(["bits", "src", "dst"], ascending=[False, True, True])
    want = want.reset_index(drop=True)
    got = streamed._ranked(parts)
    assert parts == []
    pd.testing.assert_frame_equal(got, want, check_exact=True)


@given(
    runs=st.lists(
        st.tuples(
            st.sampled_from(["10.0.0.1", "10.0.0.10", "é", "a"]),  # src
            st.sampled_from(["10.0.0.1", "b", "ü1"]),  # dst
            st.lists(st.sampled_from([0.0, 2.0, 9.5, 30.0]), min_size=1, max_size=4),
        ),
        min_size=1,
        max_size=12,
    ),
    cuts=st.lists(st.integers(0, 40), max_size=4),
)
@settings(max_examples=150, deadline=None)
def test_the_conversations_streamed_in_batches_are_those_of_all_the_runs(
    runs: list[tuple[str, str, list[float]]], cuts: list[int]
) -> None:
    # novelty_pairs' rows: by pair (a pair may come back after another: a new conversation
    # only where src or dst changes), most novel first within it; cut into batches anywhere,
    # a pair's rows split between batches
    src, dst, bits = [], [], []
    for s, d, bs in runs:
        for b in sorted(bs, reverse=True):
            src.append(s)
            dst.append(d)
            bits.append(b)
    n = len(src)
    table = pa.table(
        {
            "src": pa.array(src, type=pa.string()),
            "dst": pa.array(dst, type=pa.string()),
            "conn_bits": pa.array(bits, type=pa.float64()),
            "who_bits": pa.array([1.0 if s == "é" else 0.0 for s in src], type=pa.float64()),
            "n": pa.array([1 + i % 3 for i in range(n)], type=pa.int64()),
            "counted": pa.array([1.0 + i % 2 for i in range(n)], type=pa.float64()),
        }
    )
    bounds = sorted({0, n, *(c for c in cuts if c < n)})
    batches = [table.slice(a, b - a).to_batches()[0] for a, b in itertools.pairwise(bounds)]
    total = 50
    params = NoveltyParams()
    got = pd.concat(streamed._conversation_runs(iter(batches), total, params), ignore_index=True)
    want = conversations_from_runs(
        np.asarray(src, dtype=object),
        np.asarray(dst, dtype=object),
        np.asarray(bits, dtype="float64"),
        table.column("who_bits").to_numpy(),
        table.column("n").to_numpy(),
        table.column("counted").to_numpy(),
        total,
        params,
    )
    assert got["src"].dtype == "str" and got["dst"].dtype == "str"
    pd.testing.assert_frame_equal(
        got.astype({"src": object, "dst": object}),
        want.astype({"src": object, "dst": object}),
    )
