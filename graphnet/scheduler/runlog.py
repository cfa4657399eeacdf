"""The scheduler's records in SQLite (`$GRAPHNET_HOME/scheduler/runs.sqlite`: every job
run, and the ledger of watched files) and the file locks that keep one run of a job at a
time, also across processes."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from graphnet.config import Settings
from graphnet.errors import GraphnetError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS job_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job TEXT NOT NULL,
    trigger TEXT NOT NULL,
    started TEXT NOT NULL,
    finished TEXT,
    outcome TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    details TEXT,
    pid INTEGER
);
CREATE INDEX IF NOT EXISTS job_runs_job ON job_runs (job, id);
CREATE TABLE IF NOT EXISTS watched_files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    first_seen REAL NOT NULL,
    status TEXT NOT NULL,
    sha256 TEXT,
    message TEXT NOT NULL DEFAULT '',
    updated TEXT NOT NULL
);
"""

OUTCOMES = ("running", "ok", "failed", "skipped", "missed", "interrupted")


def scheduler_dir(settings: Settings) -> Path:
    return settings.home / "scheduler"


def runs_db_path(settings: Settings) -> Path:
    return scheduler_dir(settings) / "runs.sqlite"


@contextlib.contextmanager
def _db(settings: Settings) -> Iterator[sqlite3.Connection]:
    path = runs_db_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=30.0)
    try:
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA journal_mode=WAL")
        con.executescript(_SCHEMA)
        with con:
            yield con
    finally:
        con.close()


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


RUNS_KEPT = 5000  # run records kept per job


def _record_start(settings: Settings, job: str, trigger: str) -> int:
    with _db(settings) as con:
        cur = con.execute(
            "INSERT INTO job_runs (job, trigger, started, outcome, pid) VALUES (?, ?, ?, ?, ?)",
            (job, trigger, _now_iso(), "running", os.getpid()),
        )
        con.execute(
            "DELETE FROM job_runs WHERE job = ? AND id <= (SELECT id FROM job_runs WHERE job = ? "
            "ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (job, job, RUNS_KEPT),
        )
        return int(cur.lastrowid or 0)


def _record_end(
    settings: Settings, run_id: int, outcome: str, message: str, details: dict[str, Any]
) -> None:
    with _db(settings) as con:
        con.execute(
            "UPDATE job_runs SET finished = ?, outcome = ?, message = ?, details = ? WHERE id = ?",
            (_now_iso(), outcome, message, json.dumps(details, default=str), run_id),
        )


def _record_event(settings: Settings, job: str, outcome: str, message: str) -> None:
    now = _now_iso()
    with _db(settings) as con:
        con.execute(
            "INSERT INTO job_runs (job, trigger, started, finished, outcome, message, pid) "
            "VALUES (?, 'schedule', ?, ?, ?, ?, ?)",
            (job, now, now, outcome, message, os.getpid()),
        )


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run_row(row: sqlite3.Row) -> dict[str, Any]:
    d = dict(row)
    d["details"] = json.loads(d["details"]) if d.get("details") else {}
    if d["outcome"] == "running" and not _pid_alive(d.get("pid")):
        d["outcome"] = "interrupted"
        d["message"] = d["message"] or "the process running it ended before the run finished"
    return d


def job_runs(settings: Settings, job: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Recorded runs, newest first: id, job, trigger (`schedule` or `manual`), started, finished,
    outcome (running, ok, failed, skipped, missed, interrupted), message, details."""
    if not runs_db_path(settings).exists():
        return []
    with _db(settings) as con:
        rows = con.execute(
            "SELECT * FROM job_runs WHERE (? IS NULL OR job = ?) ORDER BY id DESC LIMIT ?",
            (job, job, limit),
        ).fetchall()
    return [_run_row(r) for r in rows]


# -- file locks: one run of a job at a time (also across processes); graph writers one at a time
class JobBusy(GraphnetError):
    """The job is already running (in the scheduler or another `run-now`)."""


@contextlib.contextmanager
def _file_lock(path: Path, blocking: bool, timeout: float = 0.0) -> Iterator[bool]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                got = True
                break
            except BlockingIOError:
                if not blocking or time.monotonic() >= deadline:
                    got = False
                    break
                time.sleep(0.1)
        try:
            yield got
        finally:
            if got:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
