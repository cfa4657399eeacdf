"""Novelty scoring of connections on seeded synthetic networks (no Neo4j)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphnet import windows
from graphnet.detectors.contract import Model
from graphnet.detectors.novelty import fingerprints, histograms, scoring
from graphnet.detectors.novelty.conversations import conversations
from graphnet.detectors.novelty.model import NoveltyDetector, score_connections
from graphnet.detectors.novelty.parts import PARTS, NoveltyParams
from graphnet.detectors.novelty.reference import ReferenceScorer
from graphnet.detectors.novelty.stored import WindowScores
from graphnet.findings import cypher_literal
from graphnet.generate.novelty_frames import SyntheticNetwork, synthetic_network

SEEDS = (0, 1, 2, 3, 4)


def window_of(net: SyntheticNetwork) -> np.ndarray:
    return windows.window_ids(net.frame["ts"].to_numpy(), "week").to_numpy()


def fingerprint_for(
    net: SyntheticNetwork, i: int, baseline: int = 4, **kw: object
) -> fingerprints.Fingerprints:
    wid = window_of(net)
    w = net.windows
    base = net.frame[(wid < w[i]) & (wid >= w[max(0, i - baseline)])]
    return fingerprints.fingerprints_from_connections(base, w[i], **kw)  # type: ignore[arg-type]


def score_last(net: SyntheticNetwork, **kw: object) -> WindowScores:
    i = len(net.windows) - 1
    return scoring.score_frame(
        fingerprint_for(net, i), net.window_frame(net.windows[i]), net.windows[i], **kw
    )  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def scored() -> dict[int, tuple[SyntheticNetwork, WindowScores]]:
    out = {}
    for seed in SEEDS:
        net = synthetic_network(seed)
        out[seed] = (net, score_last(net))
    return out


@pytest.mark.parametrize("seed", SEEDS)
def test_precision_at_k_of_planted_pairs(scored: dict, seed: int) -> None:  # type: ignore[type-arg]
    net, ws = scored[seed]
    planted = set(net.planted_pairs)
    k = len(planted)
    top = ws.conversations.head(k)
    hits = sum((s, d) in planted for s, d in zip(top["src"], top["dst"], strict=True))
    assert hits / k >= 0.8, ws.conversations.head(k + 3)
    # every planted pair is reported as a finding
    reported = {tuple(f.hosts) for f in ws.findings}
    assert planted <= reported


@pytest.mark.parametrize("seed", SEEDS)
def test_one_finding_per_conversation_with_evidence(scored: dict, seed: int) -> None:  # type: ignore[type-arg]
    net, ws = scored[seed]
    pairs = [tuple(f.hosts) for f in ws.findings]
    assert len(pairs) == len(set(pairs))
    for f in ws.findings:
        assert f.kind == "novel_connection" and f.window == net.windows[-1]
        assert 0 < f.score <= 1
        ev = f.evidence
        assert 1 <= len(ev["uids"]) <= 5
        assert ev["connections"] <= ev["pair_connections"]
        assert ev["first"] <= ev["last"]
        assert set(f.parts) >= {"conversation_bits", "who_bits", "uniqueness"}
        assert all(isinstance(v, float) for v in f.parts.values())
        assert f.explanation and "→" in f.explanation
        assert "TALKED" in f.cypher and f.hosts[0] in f.cypher


@pytest.mark.parametrize("seed", SEEDS)
def test_handshake_explanation_names_sf_and_the_s0_share(scored: dict, seed: int) -> None:  # type: ignore[type-arg]
    net, ws = scored[seed]
    pair = next(p for p in net.plants if p.kind == "handshake_anomaly").pairs[0]
    f = next(f for f in ws.findings if tuple(f.hosts) == pair)
    text = f.explanation
    assert "(SF)" in text and "completed" in text
    m = re.search(r"(\d+)% of ([\d,]+) earlier connections had connection state [^;]*\(S0\)", text)
    assert m, text
    assert int(m.group(1)) >= 90


@pytest.mark.parametrize("seed", SEEDS)
def test_new_host_and_new_pairs_score_via_backoff(scored: dict, seed: int) -> None:  # type: ignore[type-arg]
    net, ws = scored[seed]
    new_host = next(p for p in net.plants if p.kind == "new_host")
    conv = ws.conversations.set_index(["src", "dst"])
    for pair in new_host.pairs:
        row = conv.loc[pair]
        assert row["who_bits"] > 0 and np.isfinite(row["bits"])
    f = next(f for f in ws.findings if tuple(f.hosts) == new_host.pairs[0])
    assert "new host" in f.explanation or "new pair" in f.explanation
    frame = ws.connections
    assert np.isfinite(frame["bits"]).all() and (frame["bits"] >= 0).all()
    assert frame["score"].between(0, 1).all()


def test_vectorised_scores_equal_the_per_row_reference() -> None:
    net = synthetic_network(7)
    fp = fingerprint_for(net, len(net.windows) - 1)
    obs = net.window_frame(net.windows[-1])
    # a slice with planted rows, new hosts and ordinary traffic
    planted = set(net.planted_pairs)
    is_planted = np.array([(s, d) in planted for s, d in zip(obs["src"], obs["dst"], strict=True)])
    sl = pd.concat([obs[is_planted], obs[~is_planted].sample(300, random_state=1)])
    got = score_connections(fp, sl, explain_threshold=None).frame["bits"].to_numpy()
    want = ReferenceScorer(fp).score(sl)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_detector_contract() -> None:
    net = synthetic_network(2)
    wid = window_of(net)
    last = net.windows[-1]
    det = NoveltyDetector(as_of=last).fit(net.frame[wid < last])
    obs = net.window_frame(last)
    obs.index = obs.index + 1000  # any index is kept
    out = det.score(obs)
    Model.check_scores(out, obs)
    assert {f"part_{p}" for p in PARTS} <= set(out.columns)
    assert out["explanation"].map(lambda s: isinstance(s, str) and len(s) > 0).all()
    top = out.sort_values("score", ascending=False).iloc[0]
    assert "bits" in top["explanation"]


def test_baseline_never_includes_the_scored_window() -> None:
    net = synthetic_network(1)
    hist = histograms.edge_histograms_from_connections(net.frame, "week")
    with pytest.raises(ValueError, match="not before"):
        fingerprints.build(net.windows[-1], hist)


def test_uniqueness_is_high_for_an_unseen_tuple() -> None:
    net = synthetic_network(3)
    ws = score_last(net)
    frame = ws.connections.join(net.window_frame(net.windows[-1])[["service", "dport"]])
    rdp = frame[frame["service"] == "rdp"]["uniqueness"]
    common = frame["uniqueness"].median()
    assert len(rdp) and rdp.min() > common + 8


def test_ranking_does_not_depend_on_names_addresses_or_ports() -> None:
    """Relabel every host and remap every port consistently: same conversation bits."""
    net = synthetic_network(4)
    ws = score_last(net)
    rs = np.random.RandomState(0)
    hosts = pd.unique(pd.concat([net.frame["src"], net.frame["dst"]]))
    new_ids = [f"h{rs.randint(1_000_000)}-{i}" for i in range(len(hosts))]
    mapping = dict(zip(hosts, new_ids, strict=True))
    ports = pd.unique(net.frame["dport"])
    pmap = dict(zip(ports, rs.permutation(np.arange(1000, 1000 + len(ports))), strict=True))
    other = net.frame.copy()
    other["src"] = other["src"].map(mapping)
    other["dst"] = other["dst"].map(mapping)
    other["dport"] = other["dport"].map(pmap).astype("int32")
    twin = SyntheticNetwork(other, net.windows, net.plants, net.habits)
    ws2 = score_last(twin)
    a = ws.conversations.assign(
        src=lambda d: d["src"].map(mapping), dst=lambda d: d["dst"].map(mapping)
    )
    merged = a.merge(ws2.conversations, on=["src", "dst"], suffixes=("", "_2"))
    assert len(merged) == len(a)
    # subnets differ (ids are not addresses) so the subnet level changes; the ranking of the
    # planted pairs must not
    planted = {(mapping[s], mapping[d]) for s, d in net.planted_pairs}
    k = len(planted)
    top = ws2.conversations.head(k)
    assert sum((s, d) in planted for s, d in zip(top["src"], top["dst"], strict=True)) / k >= 0.8


def test_params_change_the_weighting_of_groups() -> None:
    net = synthetic_network(5)
    fp = fingerprint_for(net, len(net.windows) - 1)
    obs = net.window_frame(net.windows[-1])
    base = score_connections(fp, obs, explain_threshold=None)
    no_when = score_connections(
        fp,
        obs,
        NoveltyParams(
            weights=(("who", 1.0), ("what", 1.0), ("how", 1.0), ("size", 0.5), ("when", 0.0))
        ),
        explain_threshold=None,
    )
    assert (no_when.frame["bits"] <= base.frame["bits"] + 1e-9).all()
    assert (no_when.frame["part_hour"] == base.frame["part_hour"]).all()


def test_conversation_score_ignores_a_single_common_oddity() -> None:
    """A big conversation is not reported for the one rare connection it is bound to hold."""
    net = synthetic_network(6)
    ws = score_last(net)
    conv = ws.conversations
    planted = set(net.planted_pairs)
    background = conv[
        [(s, d) not in planted for s, d in zip(conv["src"], conv["dst"], strict=True)]
    ]
    single = background[background["novel"] == 1]
    assert (single["bits"] < 10).all()


def test_empty_window_and_empty_baseline() -> None:
    net = synthetic_network(0)
    fp = fingerprint_for(net, len(net.windows) - 1)
    empty = net.window_frame(net.windows[-1]).iloc[:0]
    sc = score_connections(fp, empty)
    assert sc.frame.empty
    assert conversations(sc).empty
    # no baseline at all: everything falls back to the uniform floor, nothing crashes
    fp0 = fingerprints.build(net.windows[0], histograms.EdgeHistograms.empty())
    out = score_connections(fp0, net.window_frame(net.windows[0]).head(50))
    assert np.isfinite(out.frame["bits"]).all()


def test_top_k_limits_findings() -> None:
    net = synthetic_network(1)
    ws = score_last(net, threshold=None, top_k=3)
    assert len(ws.findings) == 3
    assert [f.score for f in ws.findings] == sorted((f.score for f in ws.findings), reverse=True)


# --------------------------------------------------------------------------------------------
# Cypher literals for the Browser: safe for attacker-controlled host ids
# --------------------------------------------------------------------------------------------
def _unescape(lit: str) -> str:
    """Cypher string literal -> text, for the escapes cypher_literal produces."""
    assert lit[0] == "'" and lit[-1] == "'"
    body, out, i = lit[1:-1], [], 0
    while i < len(body):
        c = body[i]
        assert c != "'", "unescaped quote"
        if c == "\\":
            n = body[i + 1]
            if n == "u":
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append(n)
            i += 2
            continue
        assert ord(c) >= 0x20
        out.append(c)
        i += 1
    return "".join(out)


@given(st.text())
@settings(max_examples=300, deadline=None)
def test_cypher_literal_round_trips(text: str) -> None:
    lit = cypher_literal(text)
    assert _unescape(lit) == text
    assert "\n" not in lit and "\r" not in lit


def test_cypher_literal_escapes_injection_attempts() -> None:
    evil = "10.0.0.1'}) DETACH DELETE a //\\"
    lit = cypher_literal(evil)
    assert lit == "'10.0.0.1\\'}) DETACH DELETE a //\\\\'"
    q = scoring.pair_cypher(evil, "x\ny", "2024-W01")
    assert q.count("MATCH") == 2 and "\\u000a" in q


#: the bidirectional controls (embeddings, overrides, isolates, marks): obeyed by whatever
#: shows the query, they reorder the text after them ("x\u202egpj.exe" reads "xexe.jpg")
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


@pytest.mark.parametrize("char", BIDI_CONTROLS)
def test_cypher_literal_escapes_bidi_controls(char: str) -> None:
    host = f"10.0.0.1{char}exe.jpg"
    lit = cypher_literal(host)
    assert lit == f"'10.0.0.1\\u{ord(char):04x}exe.jpg'"
    assert _unescape(lit) == host
    q = scoring.pair_cypher(host, "10.0.0.2", "2024-W01")
    assert char not in q and f"\\u{ord(char):04x}" in q


@given(st.text(alphabet=st.sampled_from([*BIDI_CONTROLS, "a", "'", "\\", "\x1b", "\u05d0"])))
@settings(max_examples=200, deadline=None)
def test_cypher_literal_holds_no_control_character(text: str) -> None:
    lit = cypher_literal(text)
    assert _unescape(lit) == text
    assert not any(c in BIDI_CONTROLS or ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in lit)
