"""Deviating paths: novel conversations chained into multi-hop paths (no Neo4j)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graphnet import windows
from graphnet.detectors.novelty import fingerprints, paths, scoring
from graphnet.detectors.novelty.parts import NoveltyParams
from graphnet.detectors.novelty.stored import WindowScores
from graphnet.generate.novelty_frames import SyntheticNetwork, synthetic_network


def score_last(net: SyntheticNetwork) -> WindowScores:
    wid = windows.window_ids(net.frame["ts"].to_numpy(), "week").to_numpy()
    last = net.windows[-1]
    fp = fingerprints.fingerprints_from_connections(net.frame[wid < last], last)
    return scoring.score_frame(fp, net.window_frame(last), last)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_lateral_movement_is_one_path(seed: int) -> None:
    net = synthetic_network(seed)
    lateral = next(p for p in net.plants if p.kind == "lateral_movement")
    (a, b), (b2, c) = lateral.pairs
    assert b == b2
    found = paths.chain_paths(score_last(net))
    chain = [p for p in found if (a, b) in zip(p.hosts, p.hosts[1:], strict=False)]
    assert len(chain) == 1, [p.hosts for p in found]
    p = chain[0]
    assert p.hosts == [a, b, c]
    assert [h.src for h in p.hops] == [a, b]
    assert p.hops[0].first <= p.hops[1].first <= p.hops[0].first + paths.DEFAULT_MAX_GAP
    assert 0 < p.score <= 1 and p.bits == pytest.approx(sum(h.bits for h in p.hops))
    assert "smb" in p.hops[0].explanation or "445" in p.hops[0].explanation
    # JSON for `graphnet paths --json`
    js = p.to_json()
    assert set(js) == {"id", "window", "score", "hosts", "hops", "explanation", "cypher"}
    assert set(js["hops"][0]) == {"src", "dst", "first", "score", "explanation"}
    f = p.to_finding()
    assert f.kind == "deviating_path" and f.hosts == [a, b, c] and f.id == p.id
    assert f.cypher.count("MATCH") == 2


# --------------------------------------------------------------------------------------------
# hand-built scores: timing rules, cycles, maximality
# --------------------------------------------------------------------------------------------
def window_scores(hops: list[tuple[str, str, list[float]]], bits: float = 20.0) -> WindowScores:
    conns = []
    conv = []
    for src, dst, times in hops:
        best = len(conns)
        for t in times:
            conns.append(
                {
                    "src": src,
                    "dst": dst,
                    "ts": t,
                    "novel": True,
                    "top_component": "service",
                    "top_value": "smb",
                }
            )
        conv.append(
            {
                "src": src,
                "dst": dst,
                "score": 1 - 2 ** (-bits / 10),
                "bits": bits,
                "reported": True,
                "novel": len(times),
                "first": min(times),
                "best": best,
            }
        )
    return WindowScores(
        window="2024-W10",
        baseline_windows=[],
        connections=pd.DataFrame(conns),
        conversations=pd.DataFrame(conv),
        findings=[],
        threshold=0.5,
        top_k=None,
        params=NoveltyParams(),
    )


def test_gap_and_order_are_respected() -> None:
    t = 1_700_000_000.0
    assert [
        p.hosts for p in paths.chain_paths(window_scores([("A", "B", [t]), ("B", "C", [t + 600])]))
    ] == [["A", "B", "C"]]
    # too late
    assert paths.chain_paths(window_scores([("A", "B", [t]), ("B", "C", [t + 7200])])) == []
    # before the first hop
    assert paths.chain_paths(window_scores([("A", "B", [t]), ("B", "C", [t - 60])])) == []
    # a later A->B connection makes the chain feasible
    ws = window_scores([("A", "B", [t, t + 5000]), ("B", "C", [t + 6000])])
    (p,) = paths.chain_paths(ws)
    assert p.hops[1].first == t + 6000
    assert paths.chain_paths(ws, max_gap=500) == []


def test_maximal_paths_only_and_no_cycles() -> None:
    t = 1_700_000_000.0
    ws = window_scores(
        [("A", "B", [t]), ("B", "C", [t + 100]), ("C", "D", [t + 200]), ("C", "A", [t + 300])]
    )
    found = paths.chain_paths(ws)
    hosts = sorted(p.hosts for p in found)
    # A->B->C->D is reported; A->B->C (part of it) is not; C->A would revisit A
    assert ["A", "B", "C", "D"] in hosts
    assert ["A", "B", "C"] not in hosts
    assert all(len(set(h)) == len(h) for h in hosts)
    assert found == sorted(found, key=lambda p: -p.bits)
    # max_hops bounds the length
    assert max(len(p.hops) for p in paths.chain_paths(ws, max_hops=2)) == 2


def test_threshold_selects_hops() -> None:
    t = 1_700_000_000.0
    ws = window_scores([("A", "B", [t]), ("B", "C", [t + 100])], bits=5.0)
    assert len(paths.chain_paths(ws)) == 1  # reported conversations
    assert paths.chain_paths(ws, threshold=0.9) == []


def test_path_score_grows_with_hop_bits() -> None:
    t = 1_700_000_000.0
    weak = paths.chain_paths(window_scores([("A", "B", [t]), ("B", "C", [t + 1])], bits=5.0))[0]
    strong = paths.chain_paths(window_scores([("A", "B", [t]), ("B", "C", [t + 1])], bits=30.0))[0]
    assert weak.score < strong.score
    assert np.isclose(strong.bits, 60.0)
