"""Spot-style LDA suspicious connects: words, scores, feedback, detection quality."""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from graphnet import windows
from graphnet.archive import Archive
from graphnet.config import Settings
from graphnet.detectors.contract import Model
from graphnet.detectors.lda import (
    LdaSettings,
    SuspiciousConnects,
    feedback_mask,
    findings_from_scores,
    fit_window,
    host_scores,
    word_text,
)
from graphnet.detectors.lda import model as lda_model
from graphnet.generate.frames import synthetic_connections

MON = 1709510400.0  # 2024-03-04 00:00 UTC, a Monday


def spot_words(
    sport: int, dport: int, proto: str, hour: int, ibyt: int, ipkt: int
) -> tuple[str, str]:
    """A line-by-line port of Spot's FlowWordCreator.flowWords (spot-ml, Scala)."""
    ib = math.ceil(math.log10(ibyt + 1) / math.log10(2))
    ip = math.ceil(math.log10(ipkt + 1) / math.log10(2))

    def base(port: object) -> str:
        return "_".join(str(x) for x in (port, proto, hour, ib, ip))

    if dport == 0 and sport == 0:
        return base("0"), base("0")
    if dport == 0 and sport > 0:
        return "-1_" + base(sport), base(sport)
    if sport == 0 and dport > 0:
        return base(dport), "-1_" + base(dport)
    if sport <= 1024 and dport <= 1024:
        return base(111111), base(111111)
    if sport <= 1024 and dport > 1024:
        return "-1_" + base(sport), base(sport)
    if sport > 1024 and dport <= 1024:
        return base(dport), "-1_" + base(dport)
    return base(333333), base(333333)


def conn_frame(rows: list[dict]) -> pd.DataFrame:
    base = {
        "ts": MON,
        "uid": "C0",
        "src": "10.0.0.1",
        "dst": "10.0.0.2",
        "sport": 50000,
        "dport": 443,
        "proto": "tcp",
        "service": "ssl",
        "conn_state": "SF",
        "src_bytes": 100.0,
        "dst_bytes": 1000.0,
        "src_pkts": 3.0,
        "dst_pkts": 4.0,
    }
    out = pd.DataFrame([{**base, **r} for r in rows])
    out["uid"] = [f"C{i:05d}" for i in range(len(out))]
    return out


# --------------------------------------------------------------------------------------------
# words
# --------------------------------------------------------------------------------------------
def test_words_follow_spot_examples() -> None:
    f = conn_frame(
        [
            {
                "sport": 51000,
                "dport": 22,
                "ts": MON + 3 * 3600 + 5,
                "src_bytes": 2000.0,
                "dst_bytes": 2095.0,
                "src_pkts": 5.0,
                "dst_pkts": 5.0,
            },  # 4095 bytes, 10 packets
            {"sport": 0, "dport": 0, "proto": "icmp"},
            {"sport": 8, "dport": 0, "proto": "icmp"},
            {"sport": 123, "dport": 123, "proto": "udp"},
            {"sport": 50000, "dport": 50001},
            {"sport": 443, "dport": 50000},
            {
                "sport": -1,
                "dport": 80,
                "src_bytes": np.nan,
                "dst_bytes": np.nan,
                "src_pkts": np.nan,
                "dst_pkts": np.nan,
            },
        ]
    )
    w = word_text(f)
    assert w.iloc[0].tolist() == ["22_tcp_3_12_4", "-1_22_tcp_3_12_4"]
    assert w.iloc[1].tolist() == ["0_icmp_0_11_3", "0_icmp_0_11_3"]
    assert w.iloc[2].tolist() == ["-1_8_icmp_0_11_3", "8_icmp_0_11_3"]
    assert w.iloc[3].tolist() == ["111111_udp_0_11_3", "111111_udp_0_11_3"]
    assert w.iloc[4].tolist() == ["333333_tcp_0_11_3", "333333_tcp_0_11_3"]
    assert w.iloc[5].tolist() == ["-1_443_tcp_0_11_3", "443_tcp_0_11_3"]
    # unknown ports are Spot's "no port", unknown counts are 0
    assert w.iloc[6].tolist() == ["80_tcp_0_0_0", "-1_80_tcp_0_0_0"]


def test_state_option_appends_the_tcp_outcome() -> None:
    f = conn_frame([{"conn_state": "S0"}, {"conn_state": "REJ"}, {"conn_state": "SF"}])
    w = word_text(f, "graphnet", state=True)
    assert [s.rsplit("_", 1)[1] for s in w["src_word"]] == ["noreply", "rej", "ok"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([0, 1, 22, 80, 443, 1024, 1025, 3389, 49152, 65535]),
            st.sampled_from([0, 1, 53, 1023, 1024, 1025, 8080, 50000]),
            st.sampled_from(["tcp", "udp", "icmp"]),
            st.integers(0, 23),
            st.integers(0, 10**9),
            st.integers(0, 10**6),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_vectorised_words_equal_spot_reference(rows: list[tuple]) -> None:
    f = conn_frame(
        [
            {
                "sport": s,
                "dport": d,
                "proto": p,
                "ts": MON + h * 3600 + 1,
                "src_bytes": float(b),
                "dst_bytes": 0.0,
                "src_pkts": float(k),
                "dst_pkts": 0.0,
            }
            for s, d, p, h, b, k in rows
        ]
    )
    got = word_text(f)
    want = [spot_words(s, d, p, h, b, k) for s, d, p, h, b, k in rows]
    assert list(zip(got["src_word"], got["dst_word"], strict=True)) == want


# --------------------------------------------------------------------------------------------
# scores
# --------------------------------------------------------------------------------------------
def habits(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Clients 10.0.0.1-20 browse 10.0.9.1:443 and resolve at 10.0.9.53 in office hours."""
    rng = np.random.default_rng(seed)
    web = rng.random(n) < 0.7
    return conn_frame(
        [
            {
                "src": f"10.0.0.{1 + i % 20}",
                "dst": "10.0.9.1" if w else "10.0.9.53",
                "dport": 443 if w else 53,
                "proto": "tcp" if w else "udp",
                "ts": MON + 86400 * (i % 5) + 3600 * (9 + i % 8) + 7,
                "src_bytes": 500.0 if w else 40.0,
                "dst_bytes": 5000.0 if w else 80.0,
                "src_pkts": 5.0 if w else 1.0,
                "dst_pkts": 6.0 if w else 1.0,
            }
            for i, w in enumerate(web)
        ]
    )


@pytest.mark.parametrize("variant", ["spot", "graphnet"])
def test_unseen_word_is_most_suspicious_and_contract_holds(variant: str) -> None:
    det = SuspiciousConnects(LdaSettings(variant=variant, topics=5, max_iter=10)).fit(habits())
    obs = conn_frame(
        [
            {
                "src": "10.0.0.3",
                "dst": "10.0.9.1",
                "dport": 443,
                "ts": MON + 7 * 86400 + 10 * 3600,
                "src_bytes": 500.0,
                "dst_bytes": 5000.0,
                "src_pkts": 5.0,
                "dst_pkts": 6.0,
            },
            {
                "src": "10.0.0.3",
                "dst": "10.0.9.1",
                "dport": 22,
                "ts": MON + 7 * 86400 + 3 * 3600,
                "src_bytes": 0.0,
                "dst_bytes": 0.0,
                "src_pkts": 1.0,
                "dst_pkts": 0.0,
            },
        ]
    )
    obs.index = pd.Index([17, 4])
    out = Model.check_scores(det.score(obs), obs)
    assert {"score", "part_p", "part_p_src", "part_p_dst", "explanation"} <= set(out.columns)
    assert out.loc[4, "score"] > out.loc[17, "score"] + 3
    assert out.loc[4, "part_p"] == min(out.loc[4, "part_p_src"], out.loc[4, "part_p_dst"])
    assert np.allclose(out["score"], -np.log10(np.maximum(out["part_p"], 1e-30)))
    if variant == "spot":
        assert out.loc[4, "part_p"] == 0.0  # Spot: a word never seen in training has P = 0
    else:
        assert 0.0 < out.loc[4, "part_p"] < out.loc[17, "part_p"]
    text = out.loc[4, "explanation"]
    assert "10.0.0.3 → 10.0.9.1:22 at 03h" in text and "'22_tcp_3_0_1'" in text
    assert "never seen" in text


def test_pairs_scored_in_chunks_score_as_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The topic mixes are multiplied out a few pairs at a time: the same scores."""
    det = SuspiciousConnects(LdaSettings(topics=5, max_iter=10)).fit(habits())
    obs = habits(600, seed=1)
    whole = det.score(obs, explain=False)
    monkeypatch.setattr(lda_model, "PAIR_CHUNK", 7)
    pd.testing.assert_frame_equal(det.score(obs, explain=False), whole)


def test_graphnet_variant_orders_unseen_words_by_familiarity() -> None:
    det = SuspiciousConnects(LdaSettings(topics=5, max_iter=10)).fit(habits())
    late = MON + 7 * 86400 + 3 * 3600
    obs = conn_frame(
        [  # familiar port at an unusual hour / a port nobody ever used
            {"src": "10.0.0.3", "dst": "10.0.9.1", "dport": 443, "ts": late},
            {"src": "10.0.0.3", "dst": "10.0.9.1", "dport": 4444, "sport": 1000, "ts": late},
        ]
    )
    out = det.score(obs)
    assert out["score"].iloc[1] > out["score"].iloc[0]


def test_new_host_spot_zero_graphnet_inferred() -> None:
    obs = conn_frame(
        [
            {
                "src": "10.0.0.99",
                "dst": "10.0.9.1",
                "dport": 443,
                "ts": MON + 7 * 86400 + 10 * 3600,
                "src_bytes": 500.0,
                "dst_bytes": 5000.0,
                "src_pkts": 5.0,
                "dst_pkts": 6.0,
            }
        ]
    )
    spot = SuspiciousConnects(LdaSettings(variant="spot", topics=5, max_iter=10)).fit(habits())
    ours = SuspiciousConnects(LdaSettings(variant="graphnet", topics=5, max_iter=10)).fit(habits())
    assert spot.score(obs)["part_p"].iloc[0] == 0.0
    assert ours.score(obs)["part_p"].iloc[0] > 1e-3  # behaves like the other clients


def test_empty_observations_and_empty_history() -> None:
    det = SuspiciousConnects(LdaSettings(topics=3, max_iter=5)).fit(habits(300))
    empty = habits(10).iloc[:0]
    out = det.score(empty)
    assert out.empty and "score" in out.columns
    with pytest.raises(ValueError):
        SuspiciousConnects().fit(empty)


# --------------------------------------------------------------------------------------------
# detection quality on a seeded synthetic network (several seeds)
# --------------------------------------------------------------------------------------------
@cache
def network(seed: int) -> tuple[pd.DataFrame, dict]:
    return synthetic_connections(seed, weeks=5, clients=30)


def split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    win = windows.window_ids(frame["ts"].to_numpy()).to_numpy()
    last = sorted(set(win))[-1]
    return frame[win != last], frame[win == last].reset_index(drop=True), last


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("variant", ["spot", "graphnet"])
def test_lda_finds_scans_and_brute_force(seed: int, variant: str) -> None:
    frame, truth = network(seed)
    hist, cur, _last = split(frame)
    lda = LdaSettings(variant=variant)
    sc = SuspiciousConnects(lda).fit(hist).score(cur, explain=False)
    planted = {s["type"]: set(s["uids"]) for s in truth["scenarios"]}
    attack = cur["uid"].isin(set().union(*planted.values())).to_numpy()
    for kind in ("port_scan", "ping_scan", "brute_force"):
        pos = cur["uid"].isin(planted[kind]).to_numpy()
        keep = pos | ~attack
        auc = roc_auc_score(pos[keep], sc["score"].to_numpy()[keep])
        assert auc >= 0.8, (kind, auc)
    # the attacker is among the top hosts
    attacker = truth["scenarios"][0]["hosts"]["attacker"]
    assert attacker in list(host_scores(sc, cur).index[:3])


def test_findings_are_readable_pairs() -> None:
    frame, truth = network(0)
    hist, cur, last = split(frame)
    lda = LdaSettings(max_findings=20)
    det = SuspiciousConnects(lda).fit(hist)
    found = findings_from_scores(det.score(cur), cur, last, lda)
    assert 0 < len(found) <= 20
    f = found[0]
    assert f.kind == "suspicious_connect" and f.window == last and len(f.hosts) == 2
    assert f.parts["p"] < lda.threshold and f.parts["word"] in (
        f.parts["src_word"],
        f.parts["dst_word"],
    )
    assert f.explanation.startswith(f"{f.hosts[0]} → {f.hosts[1]}")
    assert "MATCH" in f.cypher and f.evidence["uids"]
    attacker = truth["scenarios"][0]["hosts"]["attacker"]
    assert sum(attacker in x.hosts for x in found) >= len(found) // 2
    assert len({x.id for x in found}) == len(found)


# --------------------------------------------------------------------------------------------
# feedback
# --------------------------------------------------------------------------------------------
def test_feedback_scopes() -> None:
    f = conn_frame(
        [
            {"src": "10.0.1.5", "dst": "10.0.2.9", "dport": 445, "service": "smb"},
            {"src": "10.0.1.5", "dst": "10.0.2.9", "dport": 22, "service": "ssh"},
            {"src": "10.0.1.6", "dst": "10.0.2.9", "dport": 445, "service": "smb"},
            {"src": "10.0.3.1", "dst": "10.0.2.8", "dport": 445, "service": "smb"},
            {"src": "EXT_SERVER", "dst": "10.0.2.9", "dport": 80, "service": "http"},
        ]
    )

    def m(**fb: object) -> list[bool]:
        return feedback_mask(f, dict(fb)).tolist()

    assert m(scope="pair", src="10.0.1.5", dst="10.0.2.9") == [True, True, False, False, False]
    assert m(scope="pair", src="10.0.1.5", dst="10.0.2.9", port=445) == [
        True,
        False,
        False,
        False,
        False,
    ]
    assert m(scope="src", src="10.0.1.5", service="ssh") == [False, True, False, False, False]
    assert m(scope="dst_service", dst="10.0.2.9", port=445) == [True, False, True, False, False]
    assert m(scope="subnet_pair", src="10.0.1.0/24", dst="10.0.2.0/24") == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert m(scope="path", hosts=["10.0.3.1", "10.0.2.8", "x"]) == [
        False,
        False,
        False,
        True,
        False,
    ]
    assert m(scope="pair", src="10.0.1.5") == [False] * 5  # underspecified: nothing
    assert m(scope="nonsense", src="10.0.1.5") == [False] * 5


def write_archive(home: Path, frame: pd.DataFrame) -> Settings:
    st = Settings(home=home)
    win = windows.window_ids(frame["ts"].to_numpy()).to_numpy()
    for w in sorted(set(win)):
        path = st.archive_dir / w / "0000000000000000.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame[win == w].reset_index(drop=True).to_parquet(path)
    return st


def test_benign_feedback_is_reinjected_scoped_and_reversible(tmp_path: Path) -> None:
    # five weeks of habits; in week 4 and week 5, 10.0.0.7 starts backups to 10.0.9.99:873
    weeks = []
    for w in range(5):
        h = habits(1500, seed=w)
        h["ts"] = h["ts"] + w * 7 * 86400
        weeks.append(h)
    new = conn_frame(
        [
            {
                "src": "10.0.0.7",
                "dst": "10.0.9.99",
                "dport": 873,
                "service": "rsync",
                "ts": MON + 7 * 86400 * w + 86400 + 3600 * 2 + i,
                "src_bytes": 1e7,
                "dst_bytes": 1e3,
                "src_pkts": 7000.0,
                "dst_pkts": 300.0,
            }
            for w in (3, 4)
            for i in range(5)
        ]
    )
    frame = pd.concat([*weeks, new], ignore_index=True)
    frame["uid"] = [f"C{i:06d}" for i in range(len(frame))]
    st = write_archive(tmp_path, frame)
    ws = sorted(set(windows.window_ids(frame["ts"].to_numpy())))
    last = ws[-1]
    lda = LdaSettings(topics=5, max_iter=10)

    def backup_score(feedback: list[dict]) -> float:
        det, _run, conns = fit_window(Archive(st), last, lda, feedback)
        sc = det.score(conns)
        return float(sc.loc[conns["dst"].to_numpy() == "10.0.9.99", "score"].max())

    before = backup_score([])
    benign = {
        "id": "fb-1",
        "verdict": "benign",
        "scope": "pair",
        "src": "10.0.0.7",
        "dst": "10.0.9.99",
        "port": 873,
        "window": ws[3],
    }
    after = backup_score([benign])
    assert before > 2.0 and after < before - 2.0 and after < 0.5
    _det, run, _ = fit_window(Archive(st), last, lda, [benign])
    assert run.feedback_flows == 5  # the reference window's matching connections, once each
    # other scopes and other windows do not apply; removing the verdict restores the score
    assert backup_score([{**benign, "dst": "10.0.9.98"}]) == pytest.approx(before)
    assert backup_score([{**benign, "window": last}]) == pytest.approx(before)
    assert backup_score([{**benign, "verdict": "malicious"}]) == pytest.approx(before)
    assert backup_score([]) == pytest.approx(before)


def test_repetition_of_a_plausible_word_is_a_burst() -> None:
    ssh = {
        "src": "10.0.0.3",
        "dst": "10.0.9.1",
        "dport": 22,
        "src_bytes": 2000.0,
        "dst_bytes": 2700.0,
        "src_pkts": 12.0,
        "dst_pkts": 12.0,
    }
    hist = pd.concat(
        [habits(), conn_frame([{**ssh, "ts": MON + d * 86400 + 10 * 3600} for d in range(4)])],
        ignore_index=True,
    )
    once = conn_frame([{**ssh, "ts": MON + 7 * 86400 + 10 * 3600}])
    many = conn_frame([{**ssh, "ts": MON + 7 * 86400 + 10 * 3600 + i} for i in range(300)])
    for variant in ("spot", "graphnet"):
        det = SuspiciousConnects(LdaSettings(variant=variant, topics=5, max_iter=10)).fit(hist)
        a, b = det.score(once), det.score(many)
        if variant == "spot":  # Spot scores each flow on its own
            assert b["part_p"].iloc[0] == pytest.approx(a["part_p"].iloc[0])
        else:
            assert b["score"].iloc[0] > a["score"].iloc[0] + 10
            assert (b["novelty"] == 4).all() and b["repeats"].iloc[0] == 300
            text = b["explanation"].iloc[0]
            assert "occurred 300 times in this window for 10.0." in text
            assert "whose profile expects" in text
