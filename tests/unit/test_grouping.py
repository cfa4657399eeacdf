"""Findings grouped by host and by conversation and ranked across detectors (pure), and what
`graphnet analyse` says when a window has none."""

from __future__ import annotations

from graphnet.findings import Finding
from graphnet.grouping import Grouped, group, weights
from graphnet.pipeline import StepOutcome, WindowAnalysis

W = "2024-03-12"


def f(kind: str, score: float, *hosts: str, window: str = W, d: str = "") -> Finding:
    return Finding(kind, window, score, list(hosts), f"{kind} of {hosts}", discriminator=d)


def sample() -> list[Finding]:
    return [
        # lda: large scores; novelty: 0-1; the scales must not matter
        f("suspicious_connect", 90.0, "10.0.0.9", "203.0.113.1"),
        f("suspicious_connect", 80.0, "10.0.0.66", "198.51.100.7"),
        f("suspicious_connect", 70.0, "10.0.0.5", "192.0.2.1"),
        f("suspicious_connect", 60.0, "10.0.0.6", "192.0.2.1"),
        f("novel_connection", 0.9, "10.0.0.66", "198.51.100.7"),
        f("novel_connection", 0.8, "10.0.0.66", "10.0.0.99"),
        f("novel_connection", 0.6, "10.0.0.7", "192.0.2.1"),
        f("first_behaviour", 7.0, "10.0.0.66"),
        f("first_behaviour", 3.0, "10.0.0.8"),
    ]


def test_weights_rank_within_each_kind() -> None:
    found = sample()
    w = weights(found)
    by = {(x.kind, x.score): w[x.id] for x in found}
    assert by[("suspicious_connect", 90.0)] == 1.0 and by[("suspicious_connect", 60.0)] == 0.25
    assert by[("novel_connection", 0.9)] == 1.0 and by[("first_behaviour", 3.0)] == 0.5


def test_a_host_several_detectors_put_on_top_leads() -> None:
    hosts = group(sample(), "host")
    assert [g.hosts for g in hosts[:2]] == [("10.0.0.66",), ("10.0.0.9",)]
    top = hosts[0]
    assert top.rank == 1 and len(top.findings) == 4
    assert top.kinds == ["first_behaviour", "novel_connection", "suspicious_connect"]
    assert top.score == 1.0 + 1.0 + 0.75
    assert [g.rank for g in hosts] == list(range(1, len(hosts) + 1))
    convs = group(sample(), "conversation")
    assert convs[0].hosts == ("10.0.0.66", "198.51.100.7") and len(convs[0].findings) == 2
    # a finding about one host has no conversation
    assert all(len(g.hosts) == 2 for g in convs)


def test_groups_are_per_window_and_top_keeps_the_first_of_each() -> None:
    found = [*sample(), f("first_behaviour", 1.0, "10.0.0.1", window="2024-03-13")]
    grouped = Grouped.of(found)
    assert {g.window for g in grouped.hosts} == {W, "2024-03-13"}
    later = [g for g in grouped.hosts if g.window == "2024-03-13"]
    assert [g.rank for g in later] == [1]
    top = grouped.top(2)
    assert [(g.window, g.rank) for g in top.hosts] == [(W, 1), (W, 2), ("2024-03-13", 1)]
    data = grouped.to_json()
    assert data["findings"] == len(found)
    first = data["hosts"][0]
    assert first["hosts"] == ["10.0.0.66"] and first["count"] == 4 and len(first["findings"]) == 3
    assert set(first) >= {"by", "window", "rank", "score", "detectors", "kinds", "explanation"}


def test_an_empty_pass_says_why() -> None:
    outcomes = [
        StepOutcome("snapshot", "ok", "3 hosts"),
        StepOutcome("novelty", "skipped", "no window before W holds data"),
        StepOutcome("lda", "ok", "30 connections scored, 0 findings", findings=0),
        StepOutcome("volume", "failed", "ValueError: boom"),
    ]
    got = WindowAnalysis(W, outcomes)
    assert got.why_empty() == (
        f"no findings in {W}: novelty skipped: no window before W holds data; volume failed: "
        "ValueError: boom; lda ran and found nothing unusual"
    )
    data = got.to_json()
    assert data["note"] == got.why_empty() and data["findings"] == 0
    assert data["groups"] == {"findings": 0, "hosts": [], "conversations": []}
    none = WindowAnalysis(W, []).why_empty()
    assert none == f"no findings in {W}: no detector ran (--only chose none)"
