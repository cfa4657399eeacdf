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
    pid INTEGER,
    proc_start TEXT
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
        _migrate(con)
        with con:
            yield con
    finally:
        con.close()


def _migrate(con: sqlite3.Connection) -> None:
    """Columns added since the first run logs were written."""
    columns = {r[1] for r in con.execute("PRAGMA table_info(job_runs)").fetchall()}
    if "proc_start" not in columns:
        try:
            con.execute("ALTER TABLE job_runs ADD COLUMN proc_start TEXT")
        except sqlite3.OperationalError as exc:  # another process added it just now
            if "duplicate column" not in str(exc):
                raise


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


RUNS_KEPT = 5000  # run records kept per job


def _record_start(settings: Settings, job: str, trigger: str) -> int:
    with _db(settings) as con:
        pid = os.getpid()
        cur = con.execute(
            "INSERT INTO job_runs (job, trigger, started, outcome, pid, proc_start) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (job, trigger, _now_iso(), "running", pid, _process_start(pid)),
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


def _record_event(
    settings: Settings, job: str, outcome: str, message: str, trigger: str = "schedule"
) -> None:
    now = _now_iso()
    with _db(settings) as con:
        con.execute(
            "INSERT INTO job_runs (job, trigger, started, finished, outcome, message, pid) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (job, trigger, now, now, outcome, message, os.getpid()),
        )


_BOOT_ID: str | None = None


def _boot_id() -> str:
    global _BOOT_ID
    if _BOOT_ID is None:
        try:
            _BOOT_ID = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        except OSError:
            _BOOT_ID = ""
    return _BOOT_ID


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start) of a process from /proc (Linux): its state letter, and when it started
    (boot id and start time in clock ticks), which tells it from a later process that got the
    same pid. None where there is no /proc or the process is not there."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = text.rsplit(")", 1)[-1].split()  # after the command name, which may hold spaces
    if len(fields) < 20:
        return None
    return fields[0], f"{_boot_id()}:{fields[19]}"


def _process_start(pid: int) -> str | None:
    stat = _proc_stat(pid)
    return stat[1] if stat else None


def _pid_alive(pid: int | None, proc_start: str | None = None) -> bool:
    """Whether the process that recorded a run still runs: its pid exists, is not a zombie
    (killed, not yet reaped by its parent), and, when the record has it, started when the
    recording process did (so a pid reused by another process does not count)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    except OverflowError:
        return False
    stat = _proc_stat(pid)
    if stat is None:
        return True  # no /proc: the pid is all there is to go by
    state, started = stat
    if state in ("Z", "X"):
        return False
    return not (proc_start and started != proc_start)


def _interrupted_message(pid: int | None) -> str:
    who = f"the process running it (pid {pid})" if pid else "the process running it"
    return f"{who} ended before the run finished (killed, or the machine went down)"


def mark_interrupted(settings: Settings, job: str | None = None, lock_held: bool = False) -> int:
    """Record as `interrupted` every `running` run (of `job`, or of all jobs) whose process is
    gone. With `lock_held` (the caller holds `job`'s lock, which every run of it holds until it
    has recorded its end) every `running` run of `job` is gone, whatever its pid. Returns how
    many runs were marked."""
    if not runs_db_path(settings).exists():
        return 0
    with _db(settings) as con:
        rows = con.execute(
            "SELECT id, pid, proc_start FROM job_runs WHERE outcome = 'running' "
            "AND (? IS NULL OR job = ?)",
            (job, job),
        ).fetchall()
        dead = [
            r
            for r in rows
            if (lock_held and job is not None) or not _pid_alive(r["pid"], r["proc_start"])
        ]
        now = _now_iso()
        con.executemany(
            "UPDATE job_runs SET outcome = 'interrupted', message = ?, details = ? "
            "WHERE id = ? AND outcome = 'running'",
            [(_interrupted_message(r["pid"]), json.dumps({"noticed": now}), r["id"]) for r in dead],
        )
    return len(dead)


def _run_row(row: sqlite3.Row) -> dict[str, Any]:
    d = dict(row)
    d["details"] = json.loads(d["details"]) if d.get("details") else {}
    proc_start = d.pop("proc_start", None)
    if d["outcome"] == "running" and not _pid_alive(d.get("pid"), proc_start):
        d["outcome"] = "interrupted"
        d["message"] = d["message"] or _interrupted_message(d.get("pid"))
    return d


def job_runs(settings: Settings, job: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Recorded runs, newest first: id, job, trigger (`schedule` or `manual`), started, finished,
    outcome (running, ok, failed, skipped, missed, interrupted), message, details."""
    if not runs_db_path(settings).exists():
        return []
    mark_interrupted(settings, job)
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
