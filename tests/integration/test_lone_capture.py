"""A lone capture against a real Neo4j: `--window auto` chooses the window kind of a new home
from the data's span and keeps it; `graphnet analyse` learns from a time split of the window
and answers with ranked groups of findings, each naming its baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from graphnet import ingest
from graphnet.cli import app
from graphnet.config import Settings
from tests.integration.test_ingest import write_log, zeek_line
from tests.unit.test_time_split import WINDOW, capture

T0 = 1709542800.0  # 2024-03-04 09:00 UTC


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def auto(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's own default for a new home (the other tests pin week windows)."""
    monkeypatch.delenv("GRAPHNET_WINDOW", raising=False)


def test_auto_chooses_hours_for_a_short_capture_and_the_home_keeps_them(  # type: ignore[no-untyped-def]
    store, auto, tmp_path: Path
) -> None:
    short = write_log(tmp_path / "a.log", [zeek_line(i, ts=T0 + 59 * i) for i in range(56)])
    res = run("ingest", str(short))
    assert res.exit_code == 0, res.output
    assert "; hour windows (auto: the data spans 55 minutes)" in res.stdout
    assert ingest.stats(store)["window_kind"] == "hour"
    # three more days: the home keeps its hour windows, whatever the data spans
    days = [zeek_line(i, dport=80, ts=T0 + 86400 + 3 * 86400 * i / 10 - i) for i in range(11)]
    res = run("ingest", "--window", "auto", "--json", str(write_log(tmp_path / "b.log", days)))
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert (data["window_kind"], data["window_reason"]) == (
        "hour",
        "hour windows, as this graph holds",
    )
    res = run("ingest", "--window", "week", str(short))
    assert res.exit_code == 2
    assert res.stderr.splitlines() == [
        "error: this graph holds hour windows; cannot add week windows to it",
        "hint: ingest with --window hour, or start a new graph with `graphnet reset`",
    ]
    res = run("ingest", "--window", "month", str(short))
    assert res.exit_code == 2
    assert res.stderr.splitlines() == [
        "error: unknown window 'month'",
        "hint: use one of auto, week, day, hour",
    ]


def test_auto_chooses_days_for_a_few_days(store, auto, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    days = [zeek_line(i, ts=T0 + 3 * 86400 * i / 10 - i) for i in range(11)]
    res = run("ingest", str(write_log(tmp_path / "d.log", days)))
    assert res.exit_code == 0, res.output
    assert "; day windows (auto: the data spans 3.0 days)" in res.stdout
    assert ingest.stats(store)["windows"] == 4


def test_analyse_answers_a_lone_capture_with_ranked_groups(store, auto) -> None:  # type: ignore[no-untyped-def]
    got = ingest.ingest_frame(store, capture(), Settings.from_env(), name="capture")
    assert got.windows == [WINDOW]
    res = run("analyse", "--json")
    assert res.exit_code == 0, res.output
    [w] = json.loads(res.stdout)["windows"]
    steps = {s["name"]: s for s in w["steps"]}
    for name in ("fingerprints", "novelty", "behaviour"):
        assert steps[name]["status"] == "ok", steps[name]
        assert "(baseline: first 40 % of this window (time split" in steps[name]["message"]
    # shifts has no earlier snapshot to compare with, and says so
    assert steps["shifts"]["status"] == "skipped" and steps["shifts"]["message"]
    assert w["findings"] > 0 and w["note"] == ""
    assert w["groups"]["hosts"][0]["hosts"] == ["10.0.0.66"]
    # every finding names what it was judged against
    found = json.loads(run("findings", "--json", "--limit", "500").stdout)
    assert found and all(f["evidence"].get("baseline") for f in found)
    split = [f for f in found if f["detector"] in ("novelty", "behaviour")]
    assert split and all("time split" in f["evidence"]["baseline"] for f in split)
    # the terminal: the groups to look at first, the rest one flag away
    listed = run("findings").stdout
    assert f"{WINDOW}: hosts to look at first" in listed
    assert listed.splitlines()[1].startswith("   1. 10.0.0.66  score ")
    every = run("findings", "--all").stdout
    assert every.count("\n") >= listed.count("\n")
    text = run("analyse").stdout
    assert "hosts to look at first" in text and "10.0.0.66" in text
