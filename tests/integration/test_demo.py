"""`graphnet demo` end to end, on a small network, against the real Neo4j."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from graphnet.cli import app
from graphnet.detectors.registry import default_steps


def test_demo_small_end_to_end(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    args = [
        "demo",
        "--weeks",
        "4",
        "--hosts",
        "40",
        "--scale",
        "4000",
        "--seed",
        "5",
        "--out",
        str(tmp_path / "data"),
        "--json",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    truth = json.loads((tmp_path / "data" / "truth.json").read_text())
    assert out["windows"] == truth["weeks"]
    stats = store.read("stats")[0]
    assert stats["connections"] == out["records"] > 0
    # every analysis ran for every window (skipped only for lack of history, never failed)
    assert list(out["steps"]) == out["windows"]
    names = [s.name for s in default_steps()]
    for window, steps in out["steps"].items():
        assert [s["name"] for s in steps] == names, window
        failed = [s for s in steps if s["status"] == "failed"]
        assert not failed, (window, failed)
    found = {d["type"]: d for d in out["detections"]}
    assert set(found) == {s["type"] for s in truth["scenarios"]}
    assert found["attack_server"]["found"], found["attack_server"]
    assert found["handshake_anomaly"]["found"], found["handshake_anomaly"]
    assert Path(out["report"]).is_file()
    # a second, smaller run replaces the demo graph instead of adding to it
    small = ["demo", "--weeks", "2", "--hosts", "40", "--scale", "800", "--seed", "6"]
    again = CliRunner().invoke(app, [*small, "--out", str(tmp_path / "again"), "--json"])
    assert again.exit_code == 0, again.output
    records = json.loads(again.stdout)["records"]
    assert 0 < records < stats["connections"]
    assert store.read("stats")[0]["connections"] == records


def test_demo_refuses_a_graph_with_other_data(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import numpy as np
    import pandas as pd

    from graphnet.config import Settings
    from graphnet.ingest import ingest_frame

    frame = pd.DataFrame(
        {
            "ts": [1709542800.0],
            "uid": ["C1"],
            "src": ["10.0.0.1"],
            "sport": np.int32([1234]),
            "dst": ["10.0.0.2"],
            "dport": np.int32([22]),
            "proto": ["tcp"],
            "service": ["ssh"],
            "duration": [1.0],
            "src_bytes": [1.0],
            "dst_bytes": [1.0],
            "src_pkts": [1.0],
            "dst_pkts": [1.0],
            "conn_state": ["SF"],
            "history": ["ShADadFf"],
            "line": [1],
        }
    )
    ingest_frame(store, frame, Settings.from_env())
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "d")])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "error: the graph already holds 1 connections of your own"
    )
