"""CLI commands: exit codes and the exact one-line errors a user sees."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from graphnet import ingest
from graphnet.cli import app
from graphnet.config import Settings


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args))


def test_stats_on_an_empty_graph(store) -> None:  # type: ignore[no-untyped-def]
    res = run("stats", "--json")
    assert res.exit_code == 0
    data = json.loads(res.stdout)
    assert {k: data[k] for k in ("hosts", "connections", "edges", "windows", "files")} == {
        "hosts": 0,
        "connections": 0,
        "edges": 0,
        "windows": 0,
        "files": 0,
    }


def test_findings_unknown_kind(store) -> None:  # type: ignore[no-untyped-def]
    res = run("findings", "--kind", "bogus")
    assert res.exit_code == 2
    assert res.stderr.splitlines()[0] == "error: unknown kind 'bogus'"


def test_findings_empty_json(store) -> None:  # type: ignore[no-untyped-def]
    res = run("findings", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout) == []


def test_feedback_remove_unknown(store) -> None:  # type: ignore[no-untyped-def]
    res = run("feedback", "remove", "fb-nope")
    assert res.exit_code == 1
    assert res.stderr.splitlines() == [
        "error: no feedback fb-nope",
        "hint: graphnet feedback list shows the ids",
    ]


def test_score_without_history(store) -> None:  # type: ignore[no-untyped-def]
    res = run("score")
    assert res.exit_code in (3, 7), res.output
    assert res.stderr.startswith("error: ")


def test_shifts_without_snapshots(store) -> None:  # type: ignore[no-untyped-def]
    res = run("shifts")
    assert res.exit_code == 7, res.output
    assert res.stderr.startswith("error: ")


def test_behaviour_without_archive_or_history(store) -> None:  # type: ignore[no-untyped-def]
    res = run("behaviour")
    assert res.exit_code == 2, res.output
    assert res.stderr.splitlines() == [
        "error: the connection archive is empty: ingest logs first",
        "hint: ingest logs first (graphnet ingest PATH); detectors read their archive",
    ]
    n = 30
    frame = pd.DataFrame(
        {
            "ts": 1709510400.0 + 3600 + 60 * np.arange(n),  # 2024-W10
            "uid": [f"C{i:06d}" for i in range(n)],
            "src": "10.0.0.1",
            "dst": "10.0.0.2",
            "sport": np.int32(40000),
            "dport": np.int32(443),
            "proto": "tcp",
            "service": "ssl",
            "duration": 1.0,
            "src_bytes": 100.0,
            "dst_bytes": 200.0,
            "src_pkts": 2.0,
            "dst_pkts": 2.0,
            "conn_state": "SF",
            "history": "ShADadFf",
            "line": np.arange(1, n + 1),
        }
    )
    ingest.ingest_frame(store, frame, Settings.from_env(), name="w10")
    for cmd in ("behaviour", "volume", "lda"):  # a window the archive does not hold
        res = run(cmd, "--window", "2024-W11")
        assert res.exit_code == 2, res.output
        assert res.stdout == ""
        assert res.stderr.splitlines() == [
            "error: no connections archived for 2024-W11 (the archive holds 2024-W10 to 2024-W10)",
            "hint: ingest logs first (graphnet ingest PATH); detectors read their archive",
        ]
    for args in (("behaviour",), ("behaviour", "--json"), ("behaviour", "--window", "2024-W10")):
        res = run(*args)
        assert res.exit_code == 7, res.output
        assert res.stdout == ""
        assert res.stderr.splitlines() == [
            "error: no archive window before 2024-W10 within 28 days: without history everything "
            "would be a first time",
            "hint: ingest the logs of an earlier window first",
        ]


def test_unreachable_server_says_what_to_do(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NEO4J_URI", "bolt://127.0.0.1:9")
    monkeypatch.setenv("NEO4J_PASSWORD", "x")
    res = run("stats")
    assert res.exit_code == 4
    assert res.stderr.splitlines() == [
        "error: no Neo4j answers at bolt://127.0.0.1:9",
        "hint: check NEO4J_URI, that the server is running, and NEO4J_USER/NEO4J_PASSWORD",
    ]


def test_password_only_from_environment_or_file(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NEO4J_URI", "bolt://127.0.0.1:9")
    monkeypatch.delenv("NEO4J_PASSWORD", raising=False)
    monkeypatch.delenv("NEO4J_PASSWORD_FILE", raising=False)
    res = run("stats")
    assert res.exit_code == 2
    assert res.stderr.splitlines() == [
        "error: NEO4J_URI is set but no password was given",
        "hint: set NEO4J_PASSWORD or NEO4J_PASSWORD_FILE",
    ]
