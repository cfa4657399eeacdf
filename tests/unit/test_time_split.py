"""A window without history learns from itself: the archive's time split view (the window's
first part as the pseudo-history, the rest scored), run by the pipeline for the steps that
would otherwise step aside, and the baseline every finding names (no database)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from graphnet import windows
from graphnet.archive import Archive, TimeSplit, WindowPart
from graphnet.config import Settings
from graphnet.detectors.contract import DetectorRun
from graphnet.pipeline import NO_HISTORY, analyse_window, baseline_of, select
from tests.unit.test_novelty_engine import FakeStore

T0 = 1_710_237_600.0  # 2024-03-12 10:00 UTC
WINDOW = "2024-03-12T10"


def conn(src: str, dst: str, ts: float, uid: str, port: int = 443, **kw: object) -> dict[str, Any]:
    row: dict[str, Any] = {
        "ts": ts,
        "uid": uid,
        "src": src,
        "dst": dst,
        "sport": 50000,
        "dport": port,
        "proto": "tcp",
        "service": "ssl" if port == 443 else "-",
        "duration": 1.0,
        "src_bytes": 500.0,
        "dst_bytes": 5000.0,
        "src_pkts": 5.0,
        "dst_pkts": 6.0,
        "conn_state": "SF",
        "history": "ShADadFf",
        "line": 1,
    }
    row.update(kw)
    return row


def capture(newcomer: bool = True) -> pd.DataFrame:
    """One hour: ten clients browse the same two servers all along; in the last half hour
    10.0.0.66 also logs in to a host nobody used and talks to a new outside peer."""
    rows = []
    for c in range(10):
        for k in range(60):
            t = T0 + 60 * k + c
            rows.append(conn(f"10.0.0.{c + 1}", "192.0.2.10", t, f"C{c}-{k}"))
            rows.append(conn(f"10.0.0.{c + 1}", "192.0.2.20", t + 30, f"D{c}-{k}"))
    if newcomer:
        for k in range(20):
            t = T0 + 1800 + 60 * k
            rows.append(conn("10.0.0.66", "10.0.0.99", t, f"S{k}", port=22))
            rows.append(conn("10.0.0.66", "198.51.100.7", t + 5, f"X{k}", port=4444))
    frame = pd.DataFrame(rows)
    frame["line"] = np.arange(1, len(frame) + 1)
    return frame.astype({"sport": "int32", "dport": "int32", "line": "int64"})


def archived(home: Path, frame: pd.DataFrame) -> Archive:
    archive = Archive(Settings(home=home, window="hour"))
    sha = hashlib.sha256(b"capture").hexdigest()
    w = archive.writer(sha)
    w.write(frame, windows.window_ids(frame["ts"].to_numpy(dtype="float64"), "hour").to_numpy())
    archive.commit(sha, w.finish())
    return archive


def test_the_split_view_reads_the_first_part_as_history_and_scores_the_rest(
    tmp_path: Path,
) -> None:
    archive = archived(tmp_path, capture())
    assert archive.history(WINDOW, 28) == []
    split = archive.time_split(WINDOW)
    first, last = T0, T0 + 3600 - 60 + 9 + 30
    assert (split.first, split.last) == (first, last)
    assert split.at == pytest.approx(first + 0.4 * (last - first))
    view = archive.split_view(split)
    [base] = view.history(WINDOW, 28)
    assert isinstance(base, WindowPart) and base == WINDOW and base.hi == split.at
    everything = archive.connections([WINDOW], ["uid", "ts"])
    learned = view.connections([base], ["uid", "ts"])
    scored = view.connections([WINDOW], ["uid", "ts"])
    assert len(learned) + len(scored) == len(everything)
    assert learned["ts"].max() < split.at <= scored["ts"].min()
    # the engine binds the same parts
    with view.session({"conns": [WINDOW], "past": [base]}) as s:
        got = s.table("volume_span").to_pylist()[0]
        assert got["n"] == len(scored)
    assert view.query("behaviour_range", {"past": [base]}).to_pylist()[0]["n"] == len(learned)
    # caches of a part are not those of the whole window
    assert view.stamp(base) != archive.stamp(WINDOW) != view.stamp(WINDOW)
    # the plain archive is untouched
    assert archive.split is None and len(archive.connections([WINDOW], ["uid"])) == len(everything)


def test_a_lone_window_is_analysed_against_its_first_part(tmp_path: Path) -> None:
    archive = archived(tmp_path, capture())
    store = FakeStore(archive.windows())
    steps = select(["fingerprints", "novelty", "behaviour"])
    got = analyse_window(store, archive.settings, WINDOW, steps, save=False)  # type: ignore[arg-type]
    status = {o.name: (o.status, o.message) for o in got.outcomes}
    assert all(s == "ok" for s, _ in status.values()), status
    label = got.runs["novelty"].info["baseline"]
    assert label.startswith("first 40 % of this window (time split: 2024-03-12 10:00:00 UTC")
    assert "(baseline: first 40 % of this window" in status["novelty"][1]
    for name in ("novelty", "behaviour"):
        run = got.runs[name]
        assert run.info["time_split"]["window"] == WINDOW
        assert run.findings, name
        assert all(f.evidence["baseline"] == label for f in run.findings)
    novel = {h for f in got.runs["novelty"].findings for h in f.hosts}
    assert "10.0.0.66" in novel
    first = got.runs["behaviour"].findings[0]
    assert first.hosts == ["10.0.0.66"]
    # nobody else did anything new: the browsing clients are not findings
    assert not {f"10.0.0.{c + 1}" for c in range(10)} & {
        f.hosts[0] for f in got.runs["behaviour"].findings
    }


def test_a_window_too_small_to_split_says_why(tmp_path: Path) -> None:
    frame = capture(newcomer=False).head(8)
    archive = archived(tmp_path, frame)
    got = analyse_window(
        FakeStore(archive.windows()),  # type: ignore[arg-type]
        archive.settings,
        WINDOW,
        select(["behaviour"]),
        save=False,
    )
    [o] = got.outcomes
    assert o.status == "skipped"
    assert o.message == (
        f"no archive window before {WINDOW} within 28 days: without history everything would "
        f"be a first time; no time split of the window either: {WINDOW} holds 8 connections, "
        "too few to learn from a part of it (a time split needs 20)"
    )


def test_the_baseline_each_run_names() -> None:
    run = DetectorRun("x", "2024-W12", "", info={"history": ["2024-W10", "2024-W11"]})
    assert baseline_of(run) == "earlier windows 2024-W10, 2024-W11"
    one = DetectorRun("x", "2024-W12", "", info={"baseline_windows": ["2024-W11"]})
    assert baseline_of(one) == "earlier window 2024-W11"
    ten = [f"2024-W{i:02d}" for i in range(10, 20)]
    many = DetectorRun("x", "2024-W20", "", info={"history": ten})
    assert baseline_of(many) == "earlier windows 2024-W10, 2024-W11, …, 2024-W18, 2024-W19"
    selfish = DetectorRun("x", "2024-W12", "", info={"fit_on": "self", "history": []})
    assert baseline_of(selfish) == NO_HISTORY
    split = TimeSplit("2024-W12", 1_710_000_000.0 + 400, 1_710_000_000.0, 1_710_001_000.0)
    assert baseline_of(run, split) == split.label
    assert split.label == (
        "first 40 % of this window (time split: 2024-03-09 16:00:00 UTC to 2024-03-09 "
        "16:06:40 UTC learned from, the rest scored)"
    )
    paths = DetectorRun("paths", "2024-W12", "", info={"paths": 2})
    assert baseline_of(paths, None, [one]) == "" and baseline_of(paths) == ""
    one.info["baseline"] = baseline_of(one)
    assert baseline_of(paths, None, [one]) == "earlier window 2024-W11"
