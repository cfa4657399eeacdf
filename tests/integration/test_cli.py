"""CLI commands: exit codes and the exact one-line errors a user sees."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from graphnet import findings, ingest
from graphnet.cli import app
from graphnet.config import Settings
from graphnet.detectors.registry import default_steps, detector_of_kind
from graphnet.generate.frames import synthetic_connections


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


@pytest.mark.parametrize("command", ["novelty", "score"])  # `score`: the old name, still taken
def test_novelty_without_history(store, command: str) -> None:  # type: ignore[no-untyped-def]
    res = run(command)
    assert res.exit_code in (3, 7), res.output
    assert res.stderr.startswith("error: ")


def test_shifts_without_snapshots(store) -> None:  # type: ignore[no-untyped-def]
    res = run("shifts")
    assert res.exit_code == 7, res.output
    assert res.stderr.startswith("error: ")


def test_behaviour_without_archive_or_history(store) -> None:  # type: ignore[no-untyped-def]
    # no window given: the latest window of the graph, which holds none
    res = run("behaviour")
    assert res.exit_code == 7, res.output
    assert res.stderr.splitlines() == [
        "error: the graph holds no windows",
        "hint: ingest logs first",
    ]
    res = run("behaviour", "--window", "2024-W10")
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


def test_analyse_every_window_then_rank_the_hosts(store) -> None:  # type: ignore[no-untyped-def]
    frame, truth = synthetic_connections(3, weeks=3, clients=12, rate=10.0, dos_flows=500)
    got = ingest.ingest_frame(store, frame, Settings.from_env(), name="generated")
    windows = ["2024-W01", "2024-W02", "2024-W03"]
    assert got.status == "ingested" and got.windows == windows
    names = [s.name for s in default_steps()]

    res = run("analyse", "--all", "--json")
    assert res.exit_code == 0, (res.stdout, res.stderr)
    data = json.loads(res.stdout)
    assert data["failed"] == 0 and data["message"] == "" and data["seconds"] >= 0
    assert [w["window"] for w in data["windows"]] == windows
    for w in data["windows"]:
        assert w["status"] == "ok" and w["seconds"] >= 0
        assert [s["name"] for s in w["steps"]] == names
        for s in w["steps"]:
            assert s["status"] in ("ok", "skipped") and s["seconds"] >= 0 and s["message"]
    by = {(w["window"], s["name"]): s for w in data["windows"] for s in w["steps"]}
    # the first window has no earlier one: it learns from its own first part (a time split);
    # the last one has history for every detector
    first = by[("2024-W01", "behaviour")]
    assert first["status"] == "ok" and "(baseline: first 40 % of this window" in first["message"]
    assert "time split" not in by[("2024-W03", "behaviour")]["message"]
    for name in ("snapshot", "lda", "volume", "behaviour", "browser_labels"):
        assert by[("2024-W03", name)]["status"] == "ok", by[("2024-W03", name)]
    # a detector step that ran says how many findings it saved: they are in the graph
    kinds = {v: k for k, v in detector_of_kind().items()}
    for name in ("lda", "volume", "behaviour"):
        saved = findings.load(store, window="2024-W03", kind=kinds[name])
        assert by[("2024-W03", name)]["findings"] == len(saved) and saved
        assert {f.detector for f in saved} == {name}

    res = run("analyse", "--all", "--json")
    assert res.exit_code == 0, res.stderr
    again = json.loads(res.stdout)
    assert again["windows"] == [] and again["message"] == "every window is analysed already"
    res = run("analyse", "--all")
    assert res.exit_code == 0 and res.stdout.strip() == "every window is analysed already"

    res = run("analyse", "--window", "1999-W01")
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr.splitlines() == [
        "error: no window 1999-W01 in the graph (the graph holds 2024-W01 to 2024-W03)",
        "hint: ingest its logs first (graphnet ingest PATH)",
    ]
    res = run("analyse", "--only", "nope")
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr.splitlines() == [
        "error: unknown step 'nope'",
        f"hint: use one of {', '.join(names)}",
    ]
    res = run("analyse", "--window", "2024-W03", "--all")
    assert res.exit_code == 2
    assert res.stderr.splitlines() == ["error: give --window or --all, not both"]

    # the combined ranking from the stored findings
    res = run("risk", "--json")
    assert res.exit_code == 0, res.stderr
    ranked = json.loads(res.stdout)
    assert ranked["window"] == "2024-W03" and ranked["hosts"] > 0
    assert {"lda", "volume", "behaviour"} <= set(ranked["detectors"])
    assert [r["rank"] for r in ranked["top"]] == sorted(r["rank"] for r in ranked["top"])
    attacker = truth["scenarios"][0]["hosts"]["attacker"]
    assert attacker in [r["host"] for r in ranked["top"][:3]], ranked["top"][:3]


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


# --------------------------------------------------------------------------------------------
# hostile host ids: whatever a command prints of them is inert on a terminal
# --------------------------------------------------------------------------------------------
#: recolours the terminal, sets its window title, rings the bell
HOSTILE = "\x1b[31mRED\x1b[0m\x1b]0;PWNED\x07"
HOSTILE_SHOWN = "\\x1b[31mRED\\x1b[0m\\x1b]0;PWNED\\x07"
#: the other clients: bidi override and isolates, C1 (one-byte CSI, NEL), ESC and DEL, markup
CLIENT_IDS = [
    "x\u202egpj.exe",
    "\x9b2J\x85c",
    "\u2066\u2067evil\u2069",
    "c\x1b[2Jclear\x7f",
    "[bold]loud[/]:warning:",
]
VISIBLE = ("\\u202e", "\\x9b", "\\x85", "\\u2066", "\\x1b", "\\x7f", "\\[bold]")
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def obeyed(text: str) -> list[str]:
    """The characters of `text` a terminal would obey rather than show."""
    return [
        c
        for c in text
        if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) <= 0x9F or c in BIDI_CONTROLS
    ]


def write_cidds(path, frame: pd.DataFrame, names: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    """`frame` (the normalised connection table) as a CIDDS-001 CSV, hosts renamed."""
    when = pd.to_datetime(frame["ts"], unit="s", utc=True).dt.strftime("%Y-%m-%d %H:%M:%S.%f")
    icmp = (frame["proto"] == "icmp").to_numpy()
    rows = pd.DataFrame(
        {
            "Date first seen": when.str[:-3],
            "Duration": frame["duration"].fillna(0.0).map("{:.3f}".format),
            "Proto": frame["proto"].str.upper(),
            "Src IP Addr": frame["src"].map(lambda h: names.get(h, h)),
            "Src Pt": frame["sport"].astype(str),
            "Dst IP Addr": frame["dst"].map(lambda h: names.get(h, h)),
            "Dst Pt": np.where(
                icmp,
                frame["sport"].astype(str) + "." + frame["dport"].astype(str),
                frame["dport"].astype(str),
            ),
            "Packets": frame["src_pkts"].fillna(1).astype(int).astype(str),
            "Bytes": frame["src_bytes"].fillna(0).astype(int).astype(str),
            "Flows": "1",
            "Flags": np.where(frame["proto"] == "tcp", ".AP.S.", "......"),
            "Tos": "0",
        }
    )
    lines = [",".join(rows.columns), *(",".join(r) for r in rows.itertuples(index=False))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_hostile_host_ids_are_shown_inert_by_every_command(store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    frame, truth = synthetic_connections(3, weeks=3, clients=12, rate=10.0, dos_flows=500)
    attacker = truth["scenarios"][0]["hosts"]["attacker"]
    clients = sorted(set(frame["src"][frame["src"].str.startswith("10.1.")]) - {attacker})
    names = {attacker: HOSTILE}
    names.update({c: f"{CLIENT_IDS[i % len(CLIENT_IDS)]}{i}" for i, c in enumerate(clients)})
    logs = tmp_path / "logs"
    logs.mkdir()
    write_cidds(logs / "flows\x1b]0;PWNED\x07\u202e.csv", frame, names)

    def inert(*args: str) -> str:
        res = run(*args)
        assert res.exit_code == 0, (args, res.stdout, res.stderr)
        for text in (res.stdout, res.stderr):
            assert not obeyed(text), (args, [ln for ln in text.splitlines() if obeyed(ln)][:5])
        return str(res.stdout)

    inert("ingest", str(logs))
    assert inert("analyse", "--all")
    # the attacker ranks first: its id appears, as visible escapes
    for args in (("findings", "--limit", "200"), ("risk",)):
        assert HOSTILE_SHOWN in inert(*args), args
    for args in (("behaviour",), ("lda",), ("volume",), ("shifts",)):
        shown = inert(*args)
        assert any(v in shown for v in VISIBLE), (args, shown[:2000])
    # markup in an id is text: not a style, not an emoji; the status shows in brackets
    listed = inert("findings", "--limit", "200")
    assert "[bold]loud[/]:warning:" in listed and "\u26a0" not in listed and "  [new] " in listed
    # --json: ASCII, every id exactly as logged
    res = run("findings", "--json", "--limit", "200")
    assert res.exit_code == 0 and res.stdout.isascii()
    hosts = {h for f in json.loads(res.stdout) for h in f["hosts"]}
    assert HOSTILE in hosts and hosts & set(names.values()) - {HOSTILE}
    # analyst verdicts name hosts too
    out = inert("feedback", "benign", "--src", HOSTILE, "--dst", "10.2.0.53", "--why", "\u202eok")
    assert HOSTILE_SHOWN in out
    assert HOSTILE_SHOWN in inert("feedback", "list") and "\\u202eok" in inert("feedback", "list")
    res = run("feedback", "remove", HOSTILE)
    assert res.exit_code == 1 and not obeyed(res.stderr)
    assert res.stderr.splitlines()[0] == f"error: no feedback {HOSTILE_SHOWN}"
