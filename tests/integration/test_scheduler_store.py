"""The scheduler against a real Neo4j, with second-long interval triggers: Zeek files dropped
into a watched folder are ingested once complete, the windows analysed and reported; after a
restart no job is lost and nothing runs twice; a failing job does not stop the others."""

from __future__ import annotations

import gzip
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from graphnet import ingest, scheduler
from graphnet.config import Settings
from graphnet.detectors.registry import default_steps
from graphnet.errors import ConfigError
from graphnet.scheduler.jobs import _lock_path
from graphnet.scheduler.runlog import _file_lock

FIELDS = (
    "ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto service duration orig_bytes "
    "resp_bytes conn_state local_orig local_resp missed_bytes history orig_pkts orig_ip_bytes "
    "resp_pkts resp_ip_bytes tunnel_parents"
).split()
TYPES = (
    "time string addr port addr port enum string interval count count string bool bool "
    "count string count count count count set[string]"
).split()
HEADER = (
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n"
    "#open\t2024-03-05-00-00-00\n#fields\t"
    + "\t".join(FIELDS)
    + "\n#types\t"
    + "\t".join(TYPES)
    + "\n"
)
CLOSE = "#close\t2024-03-05-01-00-00\n"
W10 = 1709632800.0  # Tue 2024-03-05 10:00 UTC
W11 = W10 + 7 * 86400


def lines(start: float, n: int, tag: str, pairs: list[tuple[str, str, int, str]]) -> str:
    out = []
    for i in range(n):
        src, dst, port, svc = pairs[i % len(pairs)]
        out.append(
            "\t".join(
                [
                    f"{start + 37 * i:.6f}",
                    f"C{tag}{i:012d}",
                    src,
                    str(40000 + i % 20000),
                    dst,
                    str(port),
                    "tcp",
                    svc,
                    "1.5",
                    "100",
                    "200",
                    "SF",
                    "T",
                    "T",
                    "0",
                    "ShADadFf",
                    "5",
                    "300",
                    "4",
                    "400",
                    "-",
                ]
            )
            + "\n"
        )
    return "".join(out)


BASE = [
    ("10.0.0.1", "10.0.0.10", 443, "ssl"),
    ("10.0.0.2", "10.0.0.10", 443, "ssl"),
    ("10.0.0.3", "10.0.0.11", 53, "dns"),
    ("10.0.0.4", "10.0.0.11", 53, "dns"),
    ("10.0.0.1", "10.0.0.11", 53, "dns"),
]
NEW = [("10.0.0.5", "10.0.0.10", 22, "ssh"), ("10.0.0.1", "10.0.0.12", 445, "smb")]


def write(path: Path, body: str, closed: bool = True, age: float | None = 30.0) -> Path:
    text = HEADER + body + (CLOSE if closed else "")
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    if age is not None:
        t = time.time() - age
        os.utime(path, (t, t))
    return path


def config(tmp_path: Path, watch: Path, out_dir: Path, steps: str = "") -> Path:
    p = tmp_path / "graphnet.toml"
    p.write_text(f"""
[scheduler]
misfire_grace_seconds = 300
max_workers = 3

[jobs.ingest]
trigger = {{ type = "interval", seconds = 1 }}
watch = ["{watch}"]
patterns = ["conn*.log", "conn*.log.gz"]
settle_seconds = 1

[jobs.window_close]
trigger = {{ type = "interval", seconds = 1 }}
close_after_seconds = 0
max_attempts = 1
{steps}

[jobs.report]
trigger = {{ type = "interval", seconds = 1 }}
out_dir = "{out_dir}"
baseline_windows = 2
""")
    return p


class Running:
    """run_scheduler in a thread, stopped through its stop_event."""

    def __init__(self, cfg: Path, settings: Settings) -> None:
        self.stop = threading.Event()
        self.started = time.time()
        self.thread = threading.Thread(
            target=scheduler.run_scheduler, args=(cfg, settings, self.stop), daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=120)
        assert not self.thread.is_alive(), "the scheduler did not stop"


def wait_for(what: str, cond: Callable[[], Any], timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def analysis(store) -> dict[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    return {str(r["window"]): r for r in store.read("scheduler_windows")}


def settled(store) -> bool:  # type: ignore[no-untyped-def]
    """Every window analysed for its current data and reported for its latest analysis."""
    rows = analysis(store)
    return bool(rows) and all(
        r["analysed_seq"] is not None
        and r["analysed_connections"] == r["connections"]
        and r["reported_seq"] == r["analysed_seq"]
        for r in rows.values()
    )


def runs_since(settings: Settings, t0: float, job: str | None = None) -> list[dict[str, Any]]:
    from datetime import datetime

    return [
        r
        for r in scheduler.job_runs(settings, job, limit=10_000)
        if datetime.fromisoformat(r["started"]).timestamp() >= t0
    ]


def test_scheduler_ingests_analyses_reports_and_survives_restart(  # type: ignore[no-untyped-def]
    store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="graphnet.scheduler")
    settings = Settings.from_env()
    watch = tmp_path / "zeek" / "2024-03-05"
    watch.mkdir(parents=True)
    out_dir = tmp_path / "reports"
    cfg = config(tmp_path, watch.parent, out_dir)
    write(watch / "conn.10:00:00-11:00:00.log", lines(W10, 300, "a", BASE))
    write(watch / "conn.11:00:00-12:00:00.log.gz", lines(W11, 200, "b", BASE + NEW))
    # Zeek is still writing this one: no #close yet, just modified
    growing = write(
        watch / "conn.12:00:00-13:00:00.log",
        lines(W11 + 3600, 50, "c", BASE),
        closed=False,
        age=None,
    )
    (watch / "dns.10:00:00-11:00:00.log").write_text("not a conn log\n")

    run = Running(cfg, settings)
    try:
        wait_for("two files ingested", lambda: ingest.stats(store)["files"] == 2)
        wait_for("both windows analysed and reported", lambda: settled(store))
        assert ingest.stats(store)["connections"] == 500  # the open file is not ingested
        waiting = [
            r
            for r in scheduler.job_runs(settings, "ingest")
            if any(w["path"] == str(growing) for w in r["details"].get("waiting", []))
        ]
        assert waiting and "#close" in waiting[0]["details"]["waiting"][0]["reason"]
        # Zeek closes the file: it is ingested and its window analysed and reported again
        with growing.open("a") as fh:
            fh.write(CLOSE)
        t = time.time() - 30
        os.utime(growing, (t, t))
        wait_for("the closed file ingested", lambda: ingest.stats(store)["files"] == 3)
        wait_for(
            "W11 analysed again",
            lambda: settled(store) and analysis(store)["2024-W11"]["analysed_seq"] == 2,
        )
    finally:
        run.close()
    assert ingest.stats(store)["connections"] == 550
    rows = analysis(store)
    assert set(rows) == {"2024-W10", "2024-W11"}
    assert rows["2024-W10"]["analysed_seq"] == 1 and rows["2024-W10"]["reported_seq"] == 1
    assert rows["2024-W11"]["analysed_seq"] == 2 and rows["2024-W11"]["reported_seq"] == 2
    # the window_close job ran the pipeline: every configured step (the registry's, in its
    # order) has an outcome and its time; a step that cannot run was skipped, not crashed
    import json

    steps = {s["name"]: s for s in json.loads(rows["2024-W11"]["steps"])}
    assert list(steps) == list(scheduler.load_config(cfg).window_close.steps)
    assert list(steps) == [s.name for s in default_steps()]
    assert all(s["status"] in ("ok", "skipped", "failed") for s in steps.values())
    assert all("seconds" in s for s in steps.values())
    assert steps["browser_labels"]["status"] == "ok"
    assert steps["snapshot"]["status"] == "ok"
    assert store.read("snapshot_list")
    reports = {w: out_dir / w / "report.html" for w in rows}
    assert all(p.is_file() for p in reports.values())
    assert "<script" not in reports["2024-W11"].read_text().lower()
    mtimes = {w: p.stat().st_mtime_ns for w, p in reports.items()}
    status = {e["job"]: e for e in scheduler.schedule_status(settings, cfg)}
    assert all(status[j]["scheduled"] and status[j]["next_run"] for j in scheduler.JOBS)
    assert status["ingest"]["last_ok"] and status["report"]["last_ok"]
    assert status["ingest"]["failures"] == 0 and status["report"]["failures"] == 0
    runs_before = {j: len(scheduler.job_runs(settings, j, limit=10_000)) for j in scheduler.JOBS}

    # down for a few seconds: every job misses runs; after the restart they are run, coalesced
    time.sleep(3.0)
    caplog.clear()
    run = Running(cfg, settings)
    try:
        wait_for(
            "every job ran after the restart",
            lambda: all(runs_since(settings, run.started, j) for j in scheduler.JOBS),
            timeout=30,
        )
        time.sleep(1.5)
    finally:
        run.close()
    elapsed = time.time() - run.started
    kept = [r.getMessage() for r in caplog.records if r.getMessage().endswith(": kept")]
    assert sorted(kept) == sorted(f"job {j}: kept" for j in scheduler.JOBS)  # none lost
    for j in scheduler.JOBS:
        since = [r for r in runs_since(settings, run.started, j) if r["outcome"] != "skipped"]
        assert 1 <= len(since) <= elapsed + 2, (j, len(since), elapsed)  # missed runs coalesced
        assert all(r["outcome"] == "ok" for r in since), since
        assert len(scheduler.job_runs(settings, j, limit=10_000)) > runs_before[j]
    # nothing was done twice
    assert ingest.stats(store)["files"] == 3 and ingest.stats(store)["connections"] == 550
    ingest_runs = [r for r in runs_since(settings, run.started, "ingest") if r["outcome"] == "ok"]
    assert ingest_runs
    for r in ingest_runs:
        assert r["details"]["ingested"] == [] and r["details"]["already_handled"] == 3
    after = analysis(store)
    assert {w: (r["analysed_seq"], r["reported_seq"]) for w, r in after.items()} == {
        "2024-W10": (1, 1),
        "2024-W11": (2, 2),
    }
    assert {w: p.stat().st_mtime_ns for w, p in reports.items()} == mtimes


def test_a_failing_job_does_not_stop_the_others(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings.from_env()
    watch = tmp_path / "zeek"
    watch.mkdir()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the report folder should be\n")
    cfg = config(tmp_path, watch, blocker, steps='steps = ["snapshot", "browser_labels"]')
    write(watch / "conn.log", lines(W10, 100, "a", BASE))
    run = Running(cfg, settings)
    try:
        wait_for(
            "the report job failing twice",
            lambda: (
                len([r for r in scheduler.job_runs(settings, "report") if r["outcome"] == "failed"])
                >= 2
            ),
        )
        # meanwhile the other jobs did their work, and a file dropped now is still picked up
        write(watch / "conn2.log", lines(W11, 50, "b", BASE))
        wait_for("the second file", lambda: ingest.stats(store)["files"] == 2)
        wait_for(
            "both windows analysed",
            lambda: (
                all(r["analysed_seq"] for r in analysis(store).values())
                and len(analysis(store)) == 2
            ),
        )
    finally:
        run.close()
    failed = [r for r in scheduler.job_runs(settings, "report") if r["outcome"] == "failed"]
    assert "not-a-folder" in failed[0]["message"]
    assert {r["outcome"] for r in scheduler.job_runs(settings, "ingest")} <= {"ok", "skipped"}
    assert all(
        r["outcome"] in ("ok", "skipped") for r in scheduler.job_runs(settings, "window_close")
    )
    status = {e["job"]: e for e in scheduler.schedule_status(settings, cfg)}
    # the last run may be a skip (a trigger that fired while a run was still going, under load);
    # the last failure is what an operator looks for
    assert status["report"]["failures"] >= 2
    assert status["report"]["last_failure"]["outcome"] == "failed"
    assert status["ingest"]["failures"] == 0

    # a failing run-now is recorded and returned, not raised
    broken = scheduler.load_config(cfg)
    rec = scheduler.run_now("report", broken, settings)
    assert rec["outcome"] == "failed" and "not-a-folder" in rec["message"]
    # run-now with a working report folder writes both reports, recorded as a manual run
    fixed = scheduler.parse_config(
        {"jobs": {"ingest": {"enabled": False}, "report": {"out_dir": str(tmp_path / "ok")}}}
    )
    rec = scheduler.run_now("report", fixed, settings)
    assert rec["outcome"] == "ok" and rec["trigger"] == "manual"
    assert (tmp_path / "ok" / "2024-W10" / "report.html").is_file()
    assert (tmp_path / "ok" / "2024-W11" / "report.json").is_file()
    # never two runs of one job at once, also across run-now and the scheduler
    with _file_lock(_lock_path(settings, "report"), blocking=False) as got:
        assert got
        with pytest.raises(scheduler.JobBusy):
            scheduler.run_now("report", fixed, settings)
    with pytest.raises(ConfigError):
        scheduler.run_now("backup", fixed, settings)


BATCHES = dict(GRAPHNET_BATCH_SIZE="50")  # small batches, to be killed mid-file; resumed alike
#: one edge per connection (20,000 connections: 400 batches of 50 edges), so that a file takes
#: long enough to ingest to be killed in the middle of it (batches are of edges, not lines)
MANY = [
    (f"10.2.{i // 200}.{i % 200 + 1}", f"10.3.{i % 97}.{i % 89 + 1}", 80, "http")
    for i in range(20_000)
]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "graphnet.cli", *args],
        env=dict(os.environ, **BATCHES),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _status(cfg: Path) -> dict[str, Any]:
    res = _cli("schedule", "status", "--json", "--config", str(cfg))
    assert res.returncode == 0, res.stderr
    text = _cli("schedule", "status", "--config", str(cfg)).stdout
    for outcome in ("ok", "failed", "skipped", "missed", "interrupted"):
        assert f"{outcome}: {outcome}" not in text, text
    return {"text": text, **{e["job"]: e for e in json.loads(res.stdout)}}


def _kill_during_ingest(store, argv: list[str], path: Path, errlog: Path) -> int:  # type: ignore[no-untyped-def]
    """Start a graphnet command, SIGKILL it once it has written a batch of `path` while its
    ingest run is recorded as running; return its pid."""
    env = dict(os.environ, **BATCHES)
    with errlog.open("w") as err_fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "graphnet.cli", *argv],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err_fh,
        )
    sha = ingest.sha256_of(path)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            rows = store.read("ingest_get", sha256=sha)
            if rows and (rows[0]["batches_done"] or 0) >= 1:
                break
            time.sleep(0.05)
        assert proc.poll() is None, ("ended before it could be killed", errlog.read_text())
        runs = scheduler.job_runs(Settings.from_env(), "ingest")
        assert [r for r in runs if r["outcome"] == "running" and r["pid"] == proc.pid], runs
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    return proc.pid


def test_a_killed_scheduler_or_run_now_shows_as_interrupted(  # type: ignore[no-untyped-def]
    store, tmp_path: Path
) -> None:
    """SIGKILL of `graphnet schedule run`, then of `graphnet schedule run-now ingest`, each in
    the middle of ingesting a file: `schedule status` says the run was interrupted (and counts
    it among the failures), and the next run-now is not held back and finishes the file."""
    watch = tmp_path / "zeek"
    watch.mkdir()
    cfg = tmp_path / "graphnet.toml"
    cfg.write_text(f"""
[jobs.ingest]
trigger = {{ type = "interval", seconds = 1 }}
watch = ["{watch}"]
patterns = ["conn*.log"]
settle_seconds = 1

[jobs.window_close]
enabled = false

[jobs.report]
enabled = false
""")
    n = 20_000  # 400 batches of 50 edges
    first = write(watch / "conn.a.log", lines(W10, n, "a", MANY))

    pid = _kill_during_ingest(
        store, ["schedule", "run", "--config", str(cfg)], first, tmp_path / "run.err"
    )
    st = _status(cfg)
    ing = st["ingest"]
    assert ing["running"] is False
    # the scheduler may have skipped runs that fell due while this one was going (the trial's
    # "skipped: skipped: the previous run was still going"); they must not hide it
    assert ing["last_failure"]["outcome"] == "interrupted", ing
    assert f"pid {pid}" in ing["last_failure"]["message"]
    assert ing["last_run"]["outcome"] in ("interrupted", "skipped"), ing["last_run"]
    if ing["last_run"]["outcome"] == "skipped":
        assert ing["last_run"]["message"] == "the previous run was still going"
        assert "last failure" in st["text"]
    assert ing["failures"] == 1 and ing["interrupted"] == 1
    assert "1 failed (1 interrupted)" in st["text"] and ": interrupted: " in st["text"]

    res = _cli("schedule", "run-now", "ingest", "--json", "--config", str(cfg))
    assert res.returncode == 0, res.stderr
    rec = json.loads(res.stdout)
    assert rec["outcome"] == "ok", rec
    assert [f["path"] for f in rec["details"]["ingested"]] == [str(first)], rec
    assert ingest.stats(store)["connections"] == n
    ing = _status(cfg)["ingest"]
    assert ing["last_run"]["outcome"] == "ok" and ing["running"] is False
    assert ing["failures"] == 1 and ing["interrupted"] == 1

    second = write(watch / "conn.b.log", lines(W11, n, "b", MANY))
    pid = _kill_during_ingest(
        store,
        ["schedule", "run-now", "ingest", "--config", str(cfg)],
        second,
        tmp_path / "run-now.err",
    )
    st = _status(cfg)
    ing = st["ingest"]
    assert ing["running"] is False
    assert ing["last_run"]["outcome"] == "interrupted" and ing["last_run"]["trigger"] == "manual"
    assert f"pid {pid}" in ing["last_run"]["message"]
    assert ing["failures"] == 2 and ing["interrupted"] == 2
    res = _cli("schedule", "run-now", "ingest", "--json", "--config", str(cfg))
    assert res.returncode == 0, res.stderr
    rec = json.loads(res.stdout)
    assert rec["outcome"] == "ok", rec
    assert [f["path"] for f in rec["details"]["ingested"]] == [str(second)]
    assert ingest.stats(store)["connections"] == 2 * n
    runs = scheduler.job_runs(Settings.from_env(), "ingest")
    outcomes = [r["outcome"] for r in runs if r["outcome"] != "skipped"]
    assert outcomes == ["ok", "interrupted", "ok", "interrupted"]
    # no run was held back by a dead one (only the live scheduler skipped runs, by itself)
    skipped = {r["message"] for r in runs if r["outcome"] == "skipped"}
    assert skipped <= {"the previous run was still going"}, skipped
