"""Feedback: scopes, approved observations and their effect on future scores (no Neo4j)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graphnet import feedback, windows
from graphnet.detectors.novelty import fingerprints, injection, scoring
from graphnet.errors import ConfigError
from graphnet.feedback import Feedback
from graphnet.generate.novelty_frames import SyntheticNetwork, synthetic_network


def frame() -> pd.DataFrame:
    rows = [
        ("10.0.1.5", "10.0.2.9", 445, "smb"),
        ("10.0.1.5", "10.0.2.9", 443, "ssl"),
        ("10.0.1.5", "10.0.2.7", 445, "smb"),
        ("10.0.1.6", "10.0.2.9", 445, "smb"),
        ("10.0.3.6", "10.0.2.9", 445, "smb"),
        ("10.0.2.9", "10.0.4.1", 3389, "rdp"),
    ]
    return pd.DataFrame(
        [
            {"src": s, "dst": d, "dport": p, "service": v, "ts": float(i), "uid": f"C{i}"}
            for i, (s, d, p, v) in enumerate(rows)
        ]
    )


def test_scopes_match_what_they_say() -> None:
    f = frame()

    def m(**kw: object) -> list[int]:
        return list(np.flatnonzero(feedback.matches(Feedback("benign", **kw), f)))  # type: ignore[arg-type]

    assert m(scope="pair", src="10.0.1.5", dst="10.0.2.9") == [0, 1]
    assert m(scope="pair", src="10.0.1.5", dst="10.0.2.9", port=445) == [0]
    assert m(scope="src", src="10.0.1.5") == [0, 1, 2]
    assert m(scope="src", src="10.0.1.5", service="smb") == [0, 2]
    assert m(scope="dst_service", dst="10.0.2.9", port=445) == [0, 3, 4]
    assert m(scope="dst_service", dst="10.0.2.9", service="ssl") == [1]
    assert m(scope="subnet_pair", src="10.0.1.0/24", dst="10.0.2.0/24") == [0, 1, 2, 3]
    assert m(
        scope="path", src="10.0.1.6", dst="10.0.4.1", hosts=["10.0.1.6", "10.0.2.9", "10.0.4.1"]
    ) == [3, 5]


def test_approved_observations_are_the_novel_ones_in_scope() -> None:
    f = frame().assign(novel=[True, False, True, False, True, False])
    fb = Feedback("benign", "dst_service", dst="10.0.2.9", port=445)
    assert list(injection.approved(fb, f)["uid"]) == ["C0", "C4"]
    # a window that was not scored: everything in scope
    assert list(injection.approved(fb, f.drop(columns="novel"))["uid"]) == ["C0", "C3", "C4"]


def test_feedback_validation() -> None:
    with pytest.raises(ConfigError):
        Feedback("fine", "pair", src="a", dst="b")
    with pytest.raises(ConfigError):
        Feedback("benign", "everything")
    a = Feedback("benign", "pair", src="a", dst="b", window="2024-W01")
    b = Feedback("benign", "pair", src="a", dst="b", window="2024-W01", created="x")
    assert a.id.startswith("fb-") and a.id != b.id
    assert a.describe() == "benign: a→b (window 2024-W01)"
    assert Feedback(**a.to_json()) == a


def _fp(
    net: SyntheticNetwork, wid: np.ndarray, i: int, inj: object = None
) -> fingerprints.Fingerprints:
    w = net.windows
    base = net.frame[(wid < w[i]) & (wid >= w[max(0, i - 4)])]
    return fingerprints.fingerprints_from_connections(base, w[i], injected=inj)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_benign_feedback_makes_the_same_behaviour_normal_next_window(seed: int) -> None:
    net = synthetic_network(seed, extra_windows=1)
    wid = windows.window_ids(net.frame["ts"].to_numpy(), "week").to_numpy()
    w = net.windows
    planted_w, next_w = len(w) - 2, len(w) - 1
    ws = scoring.score_frame(_fp(net, wid, planted_w), net.window_frame(w[planted_w]), w[planted_w])
    pair = next(p for p in net.plants if p.kind == "handshake_anomaly").pairs[0]
    finding = next(f for f in ws.findings if tuple(f.hosts) == pair)
    fb = Feedback(
        "benign",
        "pair",
        src=finding.hosts[0],
        dst=finding.hosts[1],
        window=finding.window,
        finding=finding.id,
    )
    scored_frame = net.window_frame(w[planted_w]).merge(ws.connections[["uid", "novel"]], on="uid")
    base = net.frame[(wid < w[next_w]) & (wid >= w[next_w - 4])]
    base_pairs = base.groupby(["src", "dst"]).size().rename("conns").reset_index()
    inj = injection.injection_from_frames([fb], {w[planted_w]: scored_frame}, base_pairs)
    assert inj is not None
    # approved connections weigh at least as much as the pair's whole baseline
    injected = float(inj.edges["conns"].sum())
    before = float(base_pairs.set_index(["src", "dst"]).loc[pair, "conns"])
    assert injected >= before

    obs = net.window_frame(w[next_w])

    def reported(fp: fingerprints.Fingerprints) -> bool:
        nxt = scoring.score_frame(fp, obs, w[next_w])
        return pair in {tuple(f.hosts) for f in nxt.findings}

    assert reported(_fp(net, wid, next_w))  # without feedback: still novel
    assert not reported(_fp(net, wid, next_w, inj))  # with it: normal
    # the injection is scoped: other pairs' scores barely move
    a = scoring.score_frame(_fp(net, wid, next_w), obs, w[next_w]).conversations
    b = scoring.score_frame(_fp(net, wid, next_w, inj), obs, w[next_w]).conversations
    m = a.merge(b, on=["src", "dst"], suffixes=("", "_fb"))
    others = m[(m["src"] != pair[0]) | (m["dst"] != pair[1])]
    planted = set(net.planted_pairs)
    others = others[
        [(s, d) not in planted for s, d in zip(others["src"], others["dst"], strict=True)]
    ]
    assert (abs(others["bits"] - others["bits_fb"]) < 3).mean() > 0.95


def test_feedback_on_a_window_without_connections_injects_nothing() -> None:
    fb = Feedback("benign", "pair", src="a", dst="b", window="2024-W01")
    assert injection.injection_from_frames([fb], {"2024-W01": frame()}, None) is None
    assert injection.injection_from_frames([fb], {}, None) is None
    mal = Feedback("malicious", "pair", src="10.0.1.5", dst="10.0.2.9", window="2024-W01")
    assert injection.injection_from_frames([mal], {"2024-W01": frame()}, None) is None
