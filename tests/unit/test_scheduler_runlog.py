"""The scheduler's run log (no Neo4j): a run whose process was killed is `interrupted` in the
run log and in `schedule status`, it does not hold back the next run of its job, and no
status line repeats its outcome.

The job runs in a real child process, killed with SIGKILL; its store is a stand-in that only
answers the `window_close` job's one query (slowly, to be killed during it), not a Neo4j driver."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from graphnet import scheduler
from graphnet.config import Settings
from graphnet.scheduler import runlog
from graphnet.scheduler.runlog import runs_db_path

CHILD = textwrap.dedent(
    """
    import sys, time
    from graphnet import scheduler
    from graphnet.config import Settings

    class SlowStore:
        def read(self, name, **kw):
            time.sleep(120)  # killed long before this ends
            return []

    cfg = scheduler.parse_config(
        {"jobs": {"ingest": {"enabled": False}, "report": {"out_dir": sys.argv[1]}}}
    )
    scheduler.execute_job(
        "window_close", cfg, Settings.from_env(), trigger="manual", store_factory=SlowStore
    )
    """
)


class EmptyStore:
    """No window: the window_close job has nothing to do."""

    def read(self, name: str, **kw: Any) -> list[dict[str, Any]]:
        assert name == "scheduler_windows"
        return []


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("GRAPHNET_HOME", str(tmp_path / "home"))
    return Settings.from_env()


def config(tmp_path: Path) -> scheduler.SchedulerConfig:
    return scheduler.parse_config(
        {"jobs": {"ingest": {"enabled": False}, "report": {"out_dir": str(tmp_path / "out")}}}
    )


def raw_runs(settings: Settings, job: str) -> list[dict[str, Any]]:
    """The run log as stored, oldest first (no interpretation)."""
    con = sqlite3.connect(f"file:{runs_db_path(settings)}?mode=ro", uri=True)
    try:
        con.row_factory = sqlite3.Row
        rows = con.execute("SELECT * FROM job_runs WHERE job = ? ORDER BY id", (job,)).fetchall()
    finally:
        con.close()
    return [dict(r) for r in rows]


def kill_while_running(tmp_path: Path, settings: Settings) -> int:
    """Start the window_close job in a child process, SIGKILL it while its run record says
    `running`, reap it; return its pid."""
    errors = tmp_path / "child.err"
    with errors.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(tmp_path / "out")],
            env=dict(os.environ, GRAPHNET_HOME=str(settings.home)),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                rows = raw_runs(settings, "window_close")
            except sqlite3.OperationalError:  # not created yet
                rows = []
            if any(r["outcome"] == "running" and r["pid"] == proc.pid for r in rows):
                break
            time.sleep(0.05)
        assert proc.poll() is None, errors.read_text()
        time.sleep(0.3)  # inside the job body now (the slow read)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    return proc.pid


def test_a_killed_run_is_interrupted_and_the_next_run_goes_ahead(
    tmp_path: Path, settings: Settings
) -> None:
    cfg = config(tmp_path)
    pid = kill_while_running(tmp_path, settings)
    (killed,) = raw_runs(settings, "window_close")
    assert killed["outcome"] == "running" and killed["pid"] == pid  # what SIGKILL leaves

    status = {e["job"]: e for e in scheduler.schedule_status(settings, cfg)}["window_close"]
    assert status["running"] is False
    assert status["last_run"]["outcome"] == "interrupted"
    assert status["runs"] == 1 and status["failures"] == 1 and status["interrupted"] == 1
    assert f"pid {pid}" in status["last_run"]["message"]
    # the run log itself now says so, not only the status view of it
    (stored,) = raw_runs(settings, "window_close")
    assert stored["outcome"] == "interrupted" and stored["finished"] is None

    # the next run is not held back by the dead one
    rec = scheduler.execute_job("window_close", cfg, settings, store_factory=EmptyStore)
    assert rec["outcome"] == "ok" and rec["message"] == "no window to analyse"
    status = {e["job"]: e for e in scheduler.schedule_status(settings, cfg)}["window_close"]
    assert status["last_run"]["outcome"] == "ok" and status["running"] is False
    assert status["runs"] == 2 and status["failures"] == 1 and status["interrupted"] == 1
    text = scheduler.status_text([status])
    assert "1 failed (1 interrupted)" in text
    # resolved by the later success: no separate "last failure" line
    assert "last failure" not in text


def test_a_killed_run_stays_visible_behind_a_skipped_run(
    tmp_path: Path, settings: Settings
) -> None:
    """The trial's sequence: the scheduler is killed mid-run, the next run is skipped by
    APScheduler because one before it was still going; status must still show the killed run,
    count it, and not say `skipped: skipped`."""
    from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED

    from graphnet.scheduler.service import _listener

    cfg = config(tmp_path)
    kill_while_running(tmp_path, settings)
    on_event = _listener(settings)
    on_event(SimpleNamespace(code=EVENT_JOB_MAX_INSTANCES, job_id="window_close"))
    status = {e["job"]: e for e in scheduler.schedule_status(settings, cfg)}["window_close"]
    assert status["last_run"]["outcome"] == "skipped"
    assert status["failures"] == 1 and status["interrupted"] == 1 and not status["running"]
    assert status["last_failure"]["outcome"] == "interrupted"
    text = scheduler.status_text([status])
    assert "skipped: skipped" not in text
    assert "last failure" in text and ": interrupted: " in text
    assert "1 failed (1 interrupted)" in text

    import datetime as dt

    on_event(
        SimpleNamespace(
            code=EVENT_JOB_MISSED,
            job_id="window_close",
            scheduled_run_time=dt.datetime(2024, 3, 5, 10, tzinfo=dt.UTC),
        )
    )
    for r in scheduler.job_runs(settings, "window_close"):
        assert not r["message"].lower().startswith(r["outcome"]), r


def test_a_running_record_without_its_lock_is_interrupted(
    tmp_path: Path, settings: Settings
) -> None:
    """A `running` record whose job lock is free belongs to no live run, even when its pid
    is alive again (reused): the next run of the job marks it interrupted and goes ahead."""
    cfg = config(tmp_path)
    runlog._record_start(settings, "window_close", "schedule")  # this (live) process's pid
    status = {e["job"]: e for e in scheduler.schedule_status(settings, cfg)}["window_close"]
    assert status["running"] is True  # a live pid and no way to tell otherwise from outside
    rec = scheduler.execute_job("window_close", cfg, settings, store_factory=EmptyStore)
    assert rec["outcome"] == "ok"
    outcomes = [r["outcome"] for r in raw_runs(settings, "window_close")]
    assert outcomes == ["interrupted", "ok"]
    status = {e["job"]: e for e in scheduler.schedule_status(settings, cfg)}["window_close"]
    assert status["running"] is False and status["interrupted"] == 1


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_reused_pid_is_not_taken_for_the_run(settings: Settings) -> None:
    """The run log keeps which process started a run, not only its pid: a record whose pid
    now belongs to another process is interrupted."""
    run_id = runlog._record_start(settings, "window_close", "schedule")
    assert [r["outcome"] for r in runlog.job_runs(settings, "window_close")] == ["running"]
    with runlog._db(settings) as con:
        con.execute("UPDATE job_runs SET proc_start = 'another process' WHERE id = ?", (run_id,))
    (run,) = runlog.job_runs(settings, "window_close")
    assert run["outcome"] == "interrupted"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_killed_but_unreaped_process_is_not_alive() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert runlog._pid_alive(proc.pid)
        proc.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            state = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if state == "Z":
                break
            time.sleep(0.02)
        assert not runlog._pid_alive(proc.pid)  # a zombie: killed, its parent not told yet
    finally:
        proc.wait(timeout=10)
    assert not runlog._pid_alive(proc.pid)
