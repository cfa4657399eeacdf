"""First-time behaviour of originating hosts (graphnet.detectors.behaviour)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graphnet import findings as findings_mod
from graphnet.detectors.behaviour import (
    BehaviourSettings,
    FirstBehaviour,
    answered,
    browser_query,
    findings_from_hosts,
)
from graphnet.generate.frames import SMALL_SCENARIOS, synthetic_connections
from graphnet.windows import window_ids

T0 = 1_710_115_200.0  # Monday 2024-03-11 00:00 UTC


def conns(rows: list[tuple[float, str, str, int, str, str]]) -> pd.DataFrame:
    ts, src, dst, port, proto, state = zip(*rows, strict=True)
    ok = np.array([s == "SF" for s in state])
    return pd.DataFrame(
        {
            "ts": np.array(ts, dtype="float64"),
            "src": list(src),
            "dst": list(dst),
            "dport": np.array(port, dtype="int32"),
            "proto": list(proto),
            "conn_state": list(state),
            "dst_pkts": np.where(ok, 3.0, 0.0),
            "dst_bytes": np.where(ok, 500.0, 0.0),
        }
    )


def history() -> pd.DataFrame:
    rows = []
    for d in range(7):
        for i in range(20):
            t = T0 + d * 86400 + 9 * 3600 + i * 60
            rows += [
                (t, "10.0.0.1", "10.0.9.1", 443, "tcp", "SF"),  # web
                (t, "10.0.0.2", "10.0.9.1", 443, "tcp", "SF"),
                (t, "10.0.0.3", "10.0.9.2", 445, "tcp", "SF"),  # file server
                (t, "10.0.0.4", "10.0.9.3", 8443, "tcp", "S0"),  # never answers
                (t, "10.0.0.5", "198.51.100.1", 443, "tcp", "SF"),
            ]
    return conns(rows)


def test_answered_states() -> None:
    c = conns([(0, "a", "b", 1, "tcp", s) for s in ("SF", "S0", "REJ", "RSTO", "-", "SH", "S1")])
    assert answered(c).tolist() == [True, False, False, True, True, False, True]


def test_each_kind_of_first_time_and_silence_for_the_ordinary() -> None:
    det = FirstBehaviour().fit(history())
    w = T0 + 7 * 86400 + 9 * 3600
    rows = []
    for i in range(20):  # the same habits again: nothing to say
        rows += [
            (w + i * 60, "10.0.0.1", "10.0.9.1", 443, "tcp", "SF"),
            (w + i * 60, "10.0.0.3", "10.0.9.2", 445, "tcp", "SF"),
        ]
    # a new internal host talking to three servers
    rows += [
        (w + k, "10.0.0.77", d, 443, "tcp", "SF")
        for k, d in enumerate(("10.0.9.1", "10.0.9.2", "10.0.9.3"))
    ]
    # lateral: 10.0.0.2 -> 10.0.0.1 over rdp, then 10.0.0.1 -> 10.0.9.2 over ssh 10 min later
    rows += [(w + 100, "10.0.0.2", "10.0.0.1", 3389, "tcp", "SF")]
    rows += [(w + 700, "10.0.0.1", "10.0.9.2", 22, "tcp", "SF")]
    # a new service between known internal hosts: 10.0.0.3 -> file server over snmp
    rows += [(w + 50, "10.0.0.3", "10.0.9.2", 161, "udp", "SF")]
    # the pair that never got an answer now does
    rows += [(w + 60 * k, "10.0.0.4", "10.0.9.3", 8443, "tcp", "SF") for k in range(3)]
    # beaconing: every 300 s (+-5 %) to an external host nobody contacted
    rng = np.random.default_rng(0)
    beacon = w + np.arange(60) * 300.0 + rng.normal(0, 15, 60)
    rows += [(t, "10.0.0.5", "203.0.113.9", 443, "tcp", "SF") for t in beacon]
    # irregular connections to another new external host: not periodic
    rows += [
        (w + t, "10.0.0.2", "203.0.113.10", 443, "tcp", "SF")
        for t in np.cumsum(rng.exponential(300, 40) ** 1.5)
    ]
    hf = det.host_frame(conns(rows))
    parts = {
        h: [p for p in hf.columns if p.startswith("part_") and hf.loc[h, p] > 0] for h in hf.index
    }
    assert parts["10.0.0.77"] == ["part_new_host"]
    assert "part_new_admin" in parts["10.0.0.2"] and "part_new_admin" in parts["10.0.0.1"]
    assert "the peer then opened one of its own" in hf.loc["10.0.0.2", "explanation"]
    assert parts["10.0.0.3"] == ["part_new_service"]
    assert parts["10.0.0.4"] == ["part_failed_to_answered"]
    assert parts["10.0.0.5"] == ["part_new_periodic"]
    assert "60 regular connections (every 30" in hf.loc["10.0.0.5", "explanation"]
    assert "10.0.0.2" in hf.index and "203.0.113.10" not in hf.loc["10.0.0.2", "explanation"]
    assert "10.0.9.1" not in hf.index and "10.0.9.2" not in hf.index  # responders: not scored
    assert hf["score"].is_monotonic_decreasing
    # the chain counts: the first hop's host outranks the second's
    assert hf.loc["10.0.0.2", "part_new_admin"] > hf.loc["10.0.0.1", "part_new_admin"]
    sc = det.score(conns(rows))
    assert set(sc.columns) >= {"score", "explanation"} and (sc["score"] >= 0).all()


def test_weights_are_learned_from_the_last_history_window() -> None:
    frame, truth = synthetic_connections(3, weeks=4, clients=20, small=SMALL_SCENARIOS)
    win = window_ids(frame["ts"].to_numpy()).to_numpy()
    ws = sorted(set(win))
    det = FirstBehaviour(BehaviourSettings()).fit(frame[win != ws[-1]])
    assert det.rates and all(v > 0 for v in det.rates.values())
    hf = det.host_frame(frame[win == ws[-1]])
    attackers = {s["type"]: s["hosts"]["attacker"] for s in truth["scenarios"]}
    top = list(hf.index[:8])
    for kind in SMALL_SCENARIOS:
        assert attackers[kind] in top, (kind, hf.head(8)["explanation"].tolist())
    with pytest.raises(ValueError, match="fit"):
        FirstBehaviour().host_frame(frame)


EVIL = "10.0.0.66'}) DETACH DELETE h //\u2028\\"  # a host id as an attacker could log it


def window_rows() -> list[tuple[float, str, str, int, str, str]]:
    w = T0 + 7 * 86400 + 9 * 3600
    rows = [(w + i * 60, "10.0.0.1", "10.0.9.1", 443, "tcp", "SF") for i in range(20)]
    rows += [(w + k, EVIL, d, 443, "tcp", "SF") for k, d in enumerate(("10.0.9.1", "10.0.9.2"))]
    rows += [(w + 100, "10.0.0.2", "10.0.0.1", 3389, "tcp", "SF")]
    rows += [(w + 700, "10.0.0.1", "10.0.9.2", 22, "tcp", "SF")]
    rows += [(w + 800, "10.0.0.1", "10.0.9.2", 22, "tcp", "S0")]  # unanswered: no evidence
    return rows


def build(settings: BehaviourSettings | None = None) -> tuple[pd.DataFrame, list]:  # type: ignore[type-arg]
    st = settings or BehaviourSettings()
    det = FirstBehaviour(st).fit(history())
    c = conns(window_rows())
    c["uid"] = [f"C{i:04d}" for i in range(len(c))]
    parts = det.parts(c)
    hosts = det.host_frame(c, parts=parts)
    return hosts, findings_from_hosts(hosts, parts, c, "2024-W12", st, ["2024-W11"])


def test_one_finding_per_originator_with_what_it_did_first() -> None:
    hosts, found = build()
    assert [f.hosts for f in found] == [[h] for h in hosts.index]  # originators only
    by = {f.hosts[0]: f for f in found}
    assert set(by) == {"10.0.0.2", EVIL, "10.0.0.1"}  # responders and habits: no finding
    for f in found:
        assert f.kind == "first_behaviour" and f.detector == "behaviour" and f.window == "2024-W12"
        assert f.score == pytest.approx(float(hosts.loc[f.hosts[0], "score"]))
        assert sum(f.parts.values()) == pytest.approx(f.score) and all(
            v > 0 for v in f.parts.values()
        )
        assert f.evidence["history"] == ["2024-W11"]
        assert f.explanation == hosts.loc[f.hosts[0], "explanation"]
    hop = by["10.0.0.2"]
    assert list(hop.parts) == ["new_admin"]
    assert hop.explanation == (
        "10.0.0.2: first remote-admin service with 10.0.0.1:3389 (no internal client used it "
        "before), and the peer then opened one of its own"
    )
    first = hop.evidence["first_times"]["new_admin"]
    assert first["services"] == ["10.0.0.1:3389"] and first["chain"] is True and first["n"] == 1
    assert hop.evidence["uids"] == ["C0022"] and hop.evidence["connections"] == 1
    second = by["10.0.0.1"]
    assert second.evidence["first_times"]["new_admin"]["chain"] is False
    assert second.evidence["uids"] == ["C0023"]  # the answered one, not the S0 probe
    new = by[EVIL]
    assert list(new.parts) == ["new_host"]
    assert "never seen before, talks to 2 internal services" in new.explanation
    assert new.evidence["first_times"]["new_host"]["services"] == ["10.0.9.1:443", "10.0.9.2:443"]
    assert new.evidence["uids"] == ["C0020", "C0021"]
    assert [f.evidence["alert"] for f in found] == [
        f.score >= BehaviourSettings().alert_score for f in found
    ]


def test_finding_ids_are_deterministic_and_capped() -> None:
    _, a = build()
    _, b = build()
    assert [f.id for f in a] == [f.id for f in b] and len({f.id for f in a}) == len(a)
    assert a[0].id == findings_mod.finding_id("first_behaviour", "2024-W12", a[0].hosts)
    _, capped = build(BehaviourSettings(max_findings=1))
    assert [f.id for f in capped] == [a[0].id]
    det = FirstBehaviour().fit(history())
    same = conns(window_rows()[:20])  # the habits again
    assert (
        findings_from_hosts(
            det.host_frame(same), det.parts(same), same, "2024-W12", BehaviourSettings()
        )
        == []
    )


def test_browser_query_quotes_the_host_and_has_no_parameters_left() -> None:
    q = browser_query(EVIL, "2024-W12")
    assert not q.lstrip().startswith("//") and "$" not in q
    assert findings_mod.cypher_literal(EVIL) in q and EVIL not in q
    assert "{id: '10.0.0.66\\'}) DETACH DELETE h //\\u2028\\\\'}" in q
    assert "'first_behaviour'" in q and "'2024-W12'" in q
    _, found = build()
    evil = next(f for f in found if f.hosts == [EVIL])
    assert evil.cypher == q


def test_a_first_admin_session_counts_by_how_unusual_the_service_is_for_clients() -> None:
    """A client's first smb session with the server every client uses weighs little; one with a
    workstation that never served anyone counts in full."""
    rows = []
    for d in range(7):
        for i in range(1, 9):  # eight clients use the domain controller's smb every day
            t = T0 + d * 86400 + 9 * 3600 + i * 60
            rows.append((t, f"10.0.0.{i}", "10.0.9.1", 445, "tcp", "SF"))
        rows.append((T0 + d * 86400 + 10 * 3600, "10.0.0.20", "10.0.9.2", 443, "tcp", "SF"))
        rows.append((T0 + d * 86400 + 11 * 3600, "10.0.0.21", "10.0.9.2", 443, "tcp", "SF"))
    det = FirstBehaviour().fit(conns(rows))
    w = T0 + 7 * 86400 + 9 * 3600
    window = [
        (w, "10.0.0.20", "10.0.9.1", 445, "tcp", "SF"),  # first time, to the popular server
        (w + 60, "10.0.0.21", "10.0.0.5", 445, "tcp", "SF"),  # first time, to a workstation
    ]
    parts = det.parts(conns(window))
    rare = parts["new_admin"]["rare"]
    assert rare["10.0.0.21"] == pytest.approx(1.0)
    # 8 of the 10 internal clients used it: log2(11 / 8.5) / log2(11 / 0.5)
    assert rare["10.0.0.20"] == pytest.approx(np.log2(11 / 8.5) / np.log2(22.0))
    hf = det.host_frame(conns(window), parts=parts)
    assert list(hf.index) == ["10.0.0.21", "10.0.0.20"]
    assert hf.loc["10.0.0.21", "part_new_admin"] > 5 * hf.loc["10.0.0.20", "part_new_admin"]
    assert "(8 of 10 internal clients used it)" in hf.loc["10.0.0.20", "explanation"]
    assert "(no internal client used it before)" in hf.loc["10.0.0.21", "explanation"]
