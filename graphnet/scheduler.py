"""Scheduled jobs: ingest new log files, analyse windows that have ended, write change reports.

`run_scheduler` runs APScheduler 3 in the foreground (a service: logs to stderr through
`logging`, stops cleanly on SIGTERM/SIGINT). Three jobs, each with its own trigger from the TOML
configuration (`load_config`; the commented default ships as `graphnet/graphnet.toml`):

- `ingest`: watch folders for new log files; a file is ingested once it is complete (unchanged
  for `settle_seconds`, a Zeek TSV log has its `#close` footer, a gzip stream is whole), through
  `graphnet.ingest.ingest` (exactly once per file content);
- `window_close`: once a window has ended, run the analysis steps (`STEPS`) for it, in order;
  a step whose module is not installed is recorded as skipped;
- `report`: a change report (`graphnet.reports`) for every newly analysed window.

Schedules live in a persistent APScheduler job store (SQLite under
`$GRAPHNET_HOME/scheduler/jobs.sqlite`), so they and their missed runs survive restarts; missed
runs are coalesced within a misfire grace time, and a job never runs twice at once (also across
processes: `run_now` takes the same per-job lock). Every run is recorded (job, started, finished,
outcome, message) in `$GRAPHNET_HOME/scheduler/runs.sqlite`, shown by `schedule_status`.

Which windows were analysed and reported is kept in the graph, on
`(:WindowAnalysis {window, connections, edges, status, steps, attempts, seq, reported_seq})`,
so a window whose data changes (late files) is analysed and reported again, and a graph that is
reset starts over.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import fnmatch
import gzip
import importlib
import inspect
import ipaddress
import json
import logging
import os
import pickle
import signal
import sqlite3
import threading
import time
import tomllib
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from graphnet import windows as windows_mod
from graphnet.config import Settings
from graphnet.errors import ConfigError, GraphnetError, NotEnoughHistory

log = logging.getLogger(__name__)

JOBS = ("ingest", "window_close", "report")
CONFIG_NAME = "graphnet.toml"
ZEEK_HEADER = b"#separator"
GZIP_MAGIC = b"\x1f\x8b"


# ============================================================================================
# configuration
# ============================================================================================
@dataclass(frozen=True)
class TriggerSpec:
    """A job's trigger as configured: `interval` (weeks..seconds) or `cron` (crontab text or
    APScheduler cron fields), plus optional jitter."""

    type: str
    fields: tuple[tuple[str, Any], ...]
    jitter: int | None = None

    def build(self, timezone: dt.tzinfo) -> Any:
        """The APScheduler trigger."""
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        kw = dict(self.fields)
        if self.type == "interval":
            return IntervalTrigger(timezone=timezone, jitter=self.jitter, **kw)
        if "cron" in kw:
            return CronTrigger.from_crontab(kw["cron"], timezone=timezone)
        return CronTrigger(timezone=timezone, jitter=self.jitter, **kw)

    def describe(self) -> str:
        kw = dict(self.fields)
        if self.type == "interval":
            text = "every " + " ".join(f"{v} {k}" for k, v in self.fields)
        elif "cron" in kw:
            text = f"cron '{kw['cron']}'"
        else:
            text = "cron " + " ".join(f"{k}={v}" for k, v in self.fields)
        if self.jitter:
            text += f" (jitter {self.jitter} s)"
        return text


@dataclass(frozen=True)
class IngestJobConfig:
    enabled: bool
    trigger: TriggerSpec
    watch: tuple[Path, ...]
    patterns: tuple[str, ...]
    recursive: bool
    exclude: tuple[str, ...]
    settle_seconds: float
    require_zeek_close: bool
    incomplete_timeout_seconds: float
    reingest_changed: bool
    max_files_per_run: int
    format: str | None


@dataclass(frozen=True)
class WindowCloseJobConfig:
    enabled: bool
    trigger: TriggerSpec
    close_after_seconds: float
    later_data_closes: bool
    steps: tuple[str, ...]
    max_windows_per_run: int
    max_attempts: int


@dataclass(frozen=True)
class ReportJobConfig:
    enabled: bool
    trigger: TriggerSpec
    out_dir: Path | None
    baseline_windows: int
    top: int
    browser_url: str | None
    max_reports_per_run: int


@dataclass(frozen=True)
class SchedulerConfig:
    """The validated configuration file."""

    path: Path | None
    timezone: str
    misfire_grace_seconds: int
    max_workers: int
    job_store: Path | None
    ingest: IngestJobConfig
    window_close: WindowCloseJobConfig
    report: ReportJobConfig

    def job(self, name: str) -> IngestJobConfig | WindowCloseJobConfig | ReportJobConfig:
        if name not in JOBS:
            raise ConfigError(f"unknown job {name!r}", hint=f"use one of {', '.join(JOBS)}")
        job: IngestJobConfig | WindowCloseJobConfig | ReportJobConfig = getattr(self, name)
        return job

    def tz(self) -> dt.tzinfo:
        return ZoneInfo(self.timezone)

    def job_store_path(self, settings: Settings) -> Path:
        return self.job_store or settings.home / "scheduler" / "jobs.sqlite"

    def report_dir(self, settings: Settings) -> Path:
        return self.report.out_dir or settings.home / "reports"


def default_config_path() -> Path:
    """The configuration used without --config: `$GRAPHNET_HOME/graphnet.toml` when it exists,
    else the commented default shipped with graphnet."""
    from graphnet.config import graphnet_home

    own = graphnet_home() / CONFIG_NAME
    if own.is_file():
        return own
    return Path(str(resources.files("graphnet").joinpath(CONFIG_NAME)))


def default_config_text() -> str:
    """The commented default configuration shipped with graphnet."""
    return resources.files("graphnet").joinpath(CONFIG_NAME).read_text("utf-8")


class _Section:
    """Typed access to one TOML table; every key is checked and unknown keys are errors."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a table ([{where}]), got {_kind(data)}")
        self.data = data
        self.where = where
        self.used: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def get(self, key: str, default: Any) -> Any:
        self.used.add(key)
        return self.data.get(key, default)

    def boolean(self, key: str, default: bool) -> bool:
        v = self.get(key, default)
        if not isinstance(v, bool):
            raise ConfigError(f"{self._key(key)}: expected true or false, got {v!r}")
        return v

    def number(self, key: str, default: float, minimum: float = 0.0) -> float:
        v = self.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ConfigError(f"{self._key(key)}: expected a number of seconds, got {v!r}")
        if v < minimum:
            raise ConfigError(f"{self._key(key)}: expected a number >= {minimum:g}, got {v!r}")
        return float(v)

    def integer(self, key: str, default: int, minimum: int = 0) -> int:
        v = self.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int):
            raise ConfigError(f"{self._key(key)}: expected a whole number, got {v!r}")
        if v < minimum:
            raise ConfigError(f"{self._key(key)}: expected a whole number >= {minimum}, got {v!r}")
        return v

    def text(self, key: str, default: str) -> str:
        v = self.get(key, default)
        if not isinstance(v, str):
            raise ConfigError(f"{self._key(key)}: expected a string, got {v!r}")
        return v

    def strings(self, key: str, default: Sequence[str], non_empty: bool = False) -> tuple[str, ...]:
        v = self.get(key, list(default))
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
            raise ConfigError(f"{self._key(key)}: expected a list of non-empty strings, got {v!r}")
        if non_empty and not v:
            raise ConfigError(f"{self._key(key)}: expected at least one entry")
        return tuple(v)

    def path(self, key: str, base: Path | None) -> Path | None:
        v = self.text(key, "")
        return _resolve_path(v, base) if v else None

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            where = f"[{self.where}]" if self.where else "the file"
            raise ConfigError(
                f"{self._key(unknown[0])}: unknown key",
                hint=f"keys of {where}: {', '.join(sorted(self.used))}",
            )


def _kind(v: Any) -> str:
    return type(v).__name__


def _resolve_path(text: str, base: Path | None) -> Path:
    p = Path(os.path.expandvars(os.path.expanduser(text)))
    if not p.is_absolute() and base is not None:
        p = base / p
    return p


_INTERVAL_KEYS = ("weeks", "days", "hours", "minutes", "seconds")
_CRON_KEYS = ("year", "month", "day", "week", "day_of_week", "hour", "minute", "second")


def _trigger(data: Any, where: str) -> TriggerSpec:
    sec = _Section(data, where)
    kind = sec.text("type", "")
    jitter_v = sec.get("jitter", None)
    if jitter_v is not None and (
        isinstance(jitter_v, bool) or not isinstance(jitter_v, int) or jitter_v < 0
    ):
        raise ConfigError(
            f"{where}.jitter: expected a whole number of seconds >= 0, got {jitter_v!r}"
        )
    jitter = int(jitter_v) if jitter_v else None
    fields: list[tuple[str, Any]] = []
    if kind == "interval":
        for k in _INTERVAL_KEYS:
            v = sec.get(k, None)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                raise ConfigError(f"{where}.{k}: expected a number >= 0, got {v!r}")
            if v:
                fields.append((k, v))
        if not fields:
            raise ConfigError(
                f"{where}: an interval trigger needs a length",
                hint='e.g. trigger = { type = "interval", minutes = 5 }',
            )
    elif kind == "cron":
        cron = sec.get("cron", None)
        if cron is not None:
            if not isinstance(cron, str):
                raise ConfigError(f"{where}.cron: expected crontab text such as '15 * * * *'")
            fields.append(("cron", cron))
        for k in _CRON_KEYS:
            v = sec.get(k, None)
            if v is None:
                continue
            if cron is not None:
                raise ConfigError(f"{where}.{k}: give either `cron` text or cron fields, not both")
            if isinstance(v, bool) or not isinstance(v, int | str):
                raise ConfigError(f"{where}.{k}: expected a cron field (number or text), got {v!r}")
            fields.append((k, v))
        if not fields:
            raise ConfigError(
                f"{where}: a cron trigger needs `cron` text or cron fields",
                hint='e.g. trigger = { type = "cron", cron = "15 * * * *" }',
            )
    else:
        raise ConfigError(
            f'{where}.type: expected "interval" or "cron", got {kind!r}',
            hint='e.g. trigger = { type = "interval", minutes = 5 }',
        )
    sec.finish()
    spec = TriggerSpec(kind, tuple(fields), jitter)
    try:
        spec.build(dt.UTC)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {exc}", hint="check the cron expression") from exc
    return spec


def parse_config(data: dict[str, Any], path: Path | None = None) -> SchedulerConfig:
    """Validate a parsed TOML document (see `load_config`)."""
    base = path.parent if path is not None else None
    top = _Section(data, "config")
    top.where = ""

    def sub(sec: _Section, key: str) -> _Section:
        return _Section(sec.get(key, {}), f"{sec.where + '.' if sec.where else ''}{key}")

    sched = sub(top, "scheduler")
    tz = sched.text("timezone", "UTC")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"scheduler.timezone: unknown time zone {tz!r}",
            hint='e.g. "UTC" or "Europe/Berlin"',
        ) from exc
    grace = sched.integer("misfire_grace_seconds", 3600, minimum=1)
    workers = sched.integer("max_workers", 3, minimum=1)
    store = sched.path("job_store", base)
    sched.finish()

    jobs = sub(top, "jobs")

    ing = sub(jobs, "ingest")
    ing_enabled = ing.boolean("enabled", True)
    ing_trigger = _trigger(
        ing.get("trigger", {"type": "interval", "minutes": 5}), "jobs.ingest.trigger"
    )
    watch = ing.strings("watch", [])
    if ing_enabled and not watch:
        raise ConfigError(
            "jobs.ingest.watch: expected at least one folder to watch",
            hint='e.g. watch = ["/var/log/zeek/logs"], or set jobs.ingest.enabled = false',
        )
    fmt = ing.text("format", "")
    if fmt:
        known = ("zeek", "zeek-json", "cidds", "binetflow", "nfdump")
        with contextlib.suppress(Exception):
            from graphnet import sources

            known = tuple(getattr(sources, "FORMATS", known))
        if fmt not in known:
            raise ConfigError(
                f"jobs.ingest.format: unknown format {fmt!r}",
                hint=f'use one of {", ".join(known)}, or "" to detect',
            )
    ingest_cfg = IngestJobConfig(
        enabled=ing_enabled,
        trigger=ing_trigger,
        watch=tuple(_resolve_path(w, base) for w in watch),
        patterns=ing.strings("patterns", ["conn.*log", "conn.*log.gz"], non_empty=True),
        recursive=ing.boolean("recursive", True),
        exclude=ing.strings("exclude", ["current", ".*", "*.tmp", "*.part"]),
        settle_seconds=ing.number("settle_seconds", 120),
        require_zeek_close=ing.boolean("require_zeek_close", True),
        incomplete_timeout_seconds=ing.number("incomplete_timeout_seconds", 86400),
        reingest_changed=ing.boolean("reingest_changed", False),
        max_files_per_run=ing.integer("max_files_per_run", 0),
        format=fmt or None,
    )
    ing.finish()

    wc = sub(jobs, "window_close")
    wc_enabled = wc.boolean("enabled", True)
    wc_trigger = _trigger(
        wc.get("trigger", {"type": "cron", "cron": "15 * * * *"}), "jobs.window_close.trigger"
    )
    steps = wc.strings("steps", [s.name for s in STEPS])
    names = [s.name for s in STEPS]
    for s in steps:
        if s not in names:
            raise ConfigError(
                f"jobs.window_close.steps: unknown step {s!r}", hint=f"steps: {', '.join(names)}"
            )
    if len(set(steps)) != len(steps):
        raise ConfigError("jobs.window_close.steps: a step is listed twice")
    wc_cfg = WindowCloseJobConfig(
        enabled=wc_enabled,
        trigger=wc_trigger,
        close_after_seconds=wc.number("close_after_seconds", 3600),
        later_data_closes=wc.boolean("later_data_closes", True),
        steps=tuple(steps),
        max_windows_per_run=wc.integer("max_windows_per_run", 8, minimum=1),
        max_attempts=wc.integer("max_attempts", 3, minimum=1),
    )
    wc.finish()

    rep = sub(jobs, "report")
    rep_enabled = rep.boolean("enabled", True)
    rep_trigger = _trigger(
        rep.get("trigger", {"type": "cron", "cron": "45 * * * *"}), "jobs.report.trigger"
    )
    url = rep.text("browser_url", "")
    if url and not url.startswith(("http://", "https://")):
        raise ConfigError(
            f"jobs.report.browser_url: expected an http(s) address, got {url!r}",
            hint='e.g. "http://127.0.0.1:7474/browser/", or "" for graphnet\'s local Neo4j',
        )
    rep_cfg = ReportJobConfig(
        enabled=rep_enabled,
        trigger=rep_trigger,
        out_dir=rep.path("out_dir", base),
        baseline_windows=rep.integer("baseline_windows", 4, minimum=1),
        top=rep.integer("top", 20, minimum=1),
        browser_url=url or None,
        max_reports_per_run=rep.integer("max_reports_per_run", 4, minimum=1),
    )
    rep.finish()
    jobs.finish()
    top.finish()
    return SchedulerConfig(
        path=path,
        timezone=tz,
        misfire_grace_seconds=grace,
        max_workers=workers,
        job_store=store,
        ingest=ingest_cfg,
        window_close=wc_cfg,
        report=rep_cfg,
    )


def load_config(path: Path | None = None) -> SchedulerConfig:
    """Read and validate a scheduler configuration file (default: `default_config_path()`).

    Raises ConfigError naming the key and what is expected for a bad value, an unknown key, or a
    file that is not valid TOML."""
    p = Path(path) if path is not None else default_config_path()
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the configuration {p}: {exc.strerror or exc}",
            hint="give an existing file with --config (the default: graphnet/graphnet.toml)",
        ) from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from exc
    try:
        return parse_config(data, p.resolve())
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}", hint=exc.hint) from exc


# ============================================================================================
# run records and the watch ledger (SQLite)
# ============================================================================================
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


# ============================================================================================
# locks: one run of a job at a time (also across processes); graph writers one at a time
# ============================================================================================
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


# ============================================================================================
# watching folders: which files are complete
# ============================================================================================
@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str


def stable_since(mtime: float, first_seen: float) -> float:
    """Since when a file is known to have had its current size and modification time: its
    mtime, or when it was first seen so (a modification time in the future, from a skewed clock
    on a network file system, cannot shorten the wait)."""
    return min(mtime, first_seen)


def _zeek_tail_closed(tail: bytes) -> bool:
    lines = [ln for ln in tail.replace(b"\r", b"").split(b"\n") if ln.strip()]
    return bool(lines) and lines[-1].startswith(b"#close")


def file_complete(path: Path, require_zeek_close: bool = True) -> Readiness:
    """Whether a file's content is whole: a gzip stream decompresses to its end, and a Zeek TSV
    log (first line `#separator`) ends with its `#close` footer when `require_zeek_close`."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(2)
            fh.seek(0)
            if magic == GZIP_MAGIC:
                head = b""
                tail = b""
                try:
                    with gzip.GzipFile(fileobj=fh, mode="rb") as gz:
                        while block := gz.read(1 << 20):
                            if len(head) < 64:
                                head += block[:64]
                            tail = (tail + block)[-4096:]
                except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                    return Readiness(False, f"gzip stream is incomplete ({exc})")
            else:
                head = fh.read(64)
                size = os.fstat(fh.fileno()).st_size
                fh.seek(max(0, size - 4096))
                tail = fh.read()
    except OSError as exc:
        return Readiness(False, f"cannot read it ({exc.strerror or exc})")
    is_zeek = head.lstrip(b"\xef\xbb\xbf").startswith(ZEEK_HEADER)
    if is_zeek and require_zeek_close and not _zeek_tail_closed(tail):
        return Readiness(False, "Zeek log without its #close footer (still being written)")
    return Readiness(True, "complete")


def check_ready(
    path: Path,
    size: int,
    mtime: float,
    first_seen: float,
    now: float,
    settle_seconds: float,
    require_zeek_close: bool = True,
    incomplete_timeout_seconds: float = 86400.0,
) -> Readiness:
    """Whether a watched file may be ingested now.

    `size` and `mtime` are the file's current stat; `first_seen` is when the watcher first saw
    it with exactly this size and mtime (it resets whenever either changes). The file must have
    been unchanged for `settle_seconds`, and be complete (`file_complete`); a file that stays
    incomplete for `incomplete_timeout_seconds` is handed to ingest anyway so that its problem is
    reported rather than waited for forever."""
    since = stable_since(mtime, first_seen)
    quiet = now - since
    if quiet < settle_seconds:
        return Readiness(
            False,
            f"changed {quiet:.0f} s ago; waiting until unchanged for {settle_seconds:.0f} s",
        )
    if size == 0:
        return Readiness(False, "empty file")
    done = file_complete(path, require_zeek_close)
    if done.ready:
        return done
    if quiet >= incomplete_timeout_seconds:
        return Readiness(True, f"{done.reason}, unchanged for {quiet:.0f} s: ingesting anyway")
    return done


def _excluded(rel: Path, exclude: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(part, pat) for part in rel.parts for pat in exclude)


def scan_watch_dirs(cfg: IngestJobConfig) -> tuple[list[Path], list[str]]:
    """Files under the watched folders that match the patterns (and are not excluded), oldest
    modification first; plus a note per watched folder that does not exist."""
    found: dict[str, tuple[float, Path]] = {}
    notes = []
    for root in cfg.watch:
        if not root.is_dir():
            notes.append(f"watched folder {root} does not exist")
            continue
        walker = root.rglob("*") if cfg.recursive else root.glob("*")
        for p in walker:
            try:
                rel = p.relative_to(root)
            except ValueError:
                continue
            if _excluded(rel, cfg.exclude):
                continue
            if not any(fnmatch.fnmatch(p.name, pat) for pat in cfg.patterns):
                continue
            try:
                st = p.stat()
            except OSError:
                continue
            if not p.is_file():
                continue
            found[str(p)] = (st.st_mtime, p)
    ordered = sorted(found.values(), key=lambda t: (t[0], str(t[1])))
    return [p for _, p in ordered], notes


# ============================================================================================
# analysis steps of window_close
# ============================================================================================
@dataclass(frozen=True)
class AnalysisStep:
    """One named analysis step: the first (module, function) of `targets` that exists is
    called with the store and the window (and graphnet's Settings when it takes them)."""

    name: str
    targets: tuple[tuple[str, str], ...]
    description: str

    @property
    def module(self) -> str:
        return self.targets[0][0]


STEPS: tuple[AnalysisStep, ...] = (
    AnalysisStep(
        "snapshot", (("graphnet.snapshots", "snapshot"),), "centrality snapshot of the window"
    ),
    AnalysisStep(
        "shifts",
        (("graphnet.shifts", "shifts"),),
        "centrality_shift findings against earlier snapshots",
    ),
    AnalysisStep(
        "fingerprints",
        (("graphnet.fingerprints", "fingerprint"),),
        "per-pair fingerprints from earlier windows, stored for Neo4j Browser",
    ),
    AnalysisStep(
        "novelty",
        (("graphnet.scoring", "score_window"), ("graphnet.detectors.novelty", "score_window")),
        "per-connection novelty scores and novel_connection findings",
    ),
    AnalysisStep(
        "paths",
        (("graphnet.paths", "find_paths"),),
        "deviating_path findings (novel connections chained into paths)",
    ),
    AnalysisStep(
        "suspicious_connects",
        (("graphnet.detectors.lda", "lda_window"),),
        "suspicious_connect findings (topic model of connection words)",
    ),
    AnalysisStep(
        "volume",
        (("graphnet.detectors.volume", "volume_window"),),
        "volume_anomaly findings (per-host traffic against its time baselines)",
    ),
    AnalysisStep(
        "behaviour",
        (("graphnet.detectors.behaviour", "behaviour_window"),),
        "first_behaviour findings (hosts doing something for the first time)",
    ),
    AnalysisStep(
        "browser_labels",
        (("graphnet.browser", "apply_labels"),),
        "Internal/External and PageRank labels for Neo4j Browser's style",
    ),
)


@dataclass
class StepOutcome:
    name: str
    status: str  # ok | skipped | failed
    message: str
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _resolve_step(step: AnalysisStep) -> tuple[Callable[..., Any] | None, str]:
    """The step's function, or None and why not (module not installed, function absent).
    An import that fails inside an installed module raises."""
    missing = []
    for module_name, fname in step.targets:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
                missing.append(f"{module_name} is not installed")
                continue
            raise
        fn = getattr(module, fname, None)
        if callable(fn) and not inspect.isclass(fn):
            return fn, f"{module_name}.{fname}"
        missing.append(f"{module_name} has no {fname}")
    return None, "; ".join(missing)


def _accepts(fn: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    try:
        return dict(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return {}


def _is_graphnet_settings(param: inspect.Parameter) -> bool:
    ann = param.annotation
    if ann is Settings:
        return True
    if isinstance(ann, str):
        return ann.replace(" ", "") in (
            "Settings",
            "Settings|None",
            "graphnet.config.Settings",
            "Optional[Settings]",
        )
    return False


def _call_step(fn: Callable[..., Any], store: Any, window: str, settings: Settings) -> Any:
    params = _accepts(fn)
    kwargs: dict[str, Any] = {}
    if "window" in params:
        kwargs["window"] = window
    elif "windows" in params:
        kwargs["windows"] = [window]
    if "settings" in params and _is_graphnet_settings(params["settings"]):
        kwargs["settings"] = settings
    if "window" not in params and "windows" not in params:
        return fn(store, window, **kwargs)
    return fn(store, **kwargs)


def _summarise(result: Any) -> str:
    if result is None:
        return "done"
    if isinstance(result, bool | int | float | str):
        return str(result)
    if isinstance(result, list | tuple):
        kinds = {type(x).__name__ for x in result}
        if kinds == {"Finding"}:
            return f"{len(result)} findings"
        if len(result) == 1:
            return _summarise(result[0])
        return f"{len(result)} results"
    if isinstance(result, dict):
        simple = [(k, v) for k, v in result.items() if not isinstance(v, list | dict)]
        return ", ".join(f"{k}={v}" for k, v in simple[:6])
    to_json = getattr(result, "to_json", None)
    if callable(to_json):
        with contextlib.suppress(Exception):
            data = to_json()
            if isinstance(data, dict):
                keep = {k: v for k, v in data.items() if isinstance(v, str | int | float | bool)}
                return ", ".join(f"{k}={v}" for k, v in list(keep.items())[:6])
    if hasattr(result, "__len__"):
        with contextlib.suppress(Exception):
            return f"{len(result)} rows"
    return type(result).__name__


def _save_findings_if_returned(store: Any, step: str, window: str, result: Any) -> None:
    """A step that returns Finding objects without storing them gets them stored."""
    from graphnet import findings as findings_mod

    items = result if isinstance(result, list | tuple) else None
    if not items or not all(isinstance(x, findings_mod.Finding) for x in items):
        return
    ids = [f.id for f in items]
    stored = {f.id for f in findings_mod.load(store, window=window)}
    if set(ids) - stored:
        kinds = {f.kind for f in items}
        if len(kinds) == 1:
            findings_mod.save(store, list(items), replace_kind=next(iter(kinds)), window=window)
        else:
            findings_mod.save(store, list(items))
        log.info("%s: stored %d findings it returned", step, len(items))


def run_steps(
    store: Any, window: str, settings: Settings, names: Sequence[str]
) -> list[StepOutcome]:
    """Run the named analysis steps for one window, in order. A step whose module or function
    does not exist is skipped; a step that raises is recorded as failed and the next steps
    still run."""
    by_name = {s.name: s for s in STEPS}
    outcomes = []
    for name in names:
        step = by_name[name]
        t0 = time.perf_counter()
        try:
            fn, where = _resolve_step(step)
        except Exception as exc:  # an import error inside the module is a failure, not a skip
            log.exception("analysis step %s: importing %s failed", name, step.module)
            outcomes.append(StepOutcome(name, "failed", f"import failed: {exc}"))
            continue
        if fn is None:
            log.info("analysis step %s skipped: %s", name, where)
            outcomes.append(StepOutcome(name, "skipped", where))
            continue
        try:
            result = _call_step(fn, store, window, settings)
            _save_findings_if_returned(store, name, window, result)
        except NotEnoughHistory as exc:
            log.info("analysis step %s of %s skipped: %s", name, window, exc)
            outcomes.append(
                StepOutcome(name, "skipped", f"not enough history: {exc}", time.perf_counter() - t0)
            )
            continue
        except Exception as exc:
            log.exception("analysis step %s of %s failed", name, window)
            outcomes.append(
                StepOutcome(
                    name, "failed", f"{type(exc).__name__}: {exc}", time.perf_counter() - t0
                )
            )
            continue
        msg = f"{where}: {_summarise(result)}"
        log.info("analysis step %s of %s: %s", name, window, msg)
        outcomes.append(StepOutcome(name, "ok", msg, time.perf_counter() - t0))
    return outcomes


def complete_windows(
    rows: Sequence[dict[str, Any]],
    now: dt.datetime,
    close_after_seconds: float,
    later_data_closes: bool = True,
) -> list[str]:
    """The windows (of `rows`, each with a `window` key) that have ended: `close_after_seconds`
    after their end, or, with `later_data_closes`, as soon as a later window holds data.
    Oldest first."""
    names = sorted(str(r["window"]) for r in rows)
    out = []
    for i, w in enumerate(names):
        try:
            _, end = windows_mod.bounds(w)
        except ValueError:
            continue
        if end + dt.timedelta(seconds=close_after_seconds) <= now or (
            later_data_closes and i < len(names) - 1
        ):
            out.append(w)
    return out


def windows_to_analyse(
    rows: Sequence[dict[str, Any]],
    now: dt.datetime,
    cfg: WindowCloseJobConfig,
) -> list[str]:
    """Ended windows never analysed, whose data changed since (late files), or whose last
    analysis had a failing step (up to `max_attempts`). Oldest first, at most
    `max_windows_per_run`."""
    by_window = {str(r["window"]): r for r in rows}
    out = []
    for w in complete_windows(rows, now, cfg.close_after_seconds, cfg.later_data_closes):
        r = by_window[w]
        if r.get("analysed_seq") is None:
            out.append(w)
        elif (r.get("analysed_connections"), r.get("analysed_edges")) != (
            r.get("connections"),
            r.get("edges"),
        ):
            out.append(w)
        elif (
            r.get("analysis_status") == "failed" and int(r.get("attempts") or 0) < cfg.max_attempts
        ):
            out.append(w)
    return out[: cfg.max_windows_per_run]


# ============================================================================================
# the jobs
# ============================================================================================
@dataclass
class JobResult:
    outcome: str  # ok | failed | skipped
    message: str
    details: dict[str, Any] = field(default_factory=dict)


def _open_store() -> Any:
    from graphnet.store import open_store

    return open_store()


def run_ingest(
    cfg: SchedulerConfig, settings: Settings, store: Any, now: float | None = None
) -> JobResult:
    """One run of the ingest job: find complete new files in the watched folders and ingest
    them. Files already handled (same path, size and mtime, still in the graph) are not read
    again."""
    from graphnet import ingest as ingest_mod

    job = cfg.ingest
    now = time.time() if now is None else now
    files, notes = scan_watch_dirs(job)
    for n in notes:
        log.warning("%s", n)
    with _db(settings) as con:
        known = {r["path"]: dict(r) for r in con.execute("SELECT * FROM watched_files").fetchall()}
    # files whose ingest the graph no longer holds (e.g. after `graphnet reset`) are new again
    done_shas = {r["sha256"] for r in known.values() if r["status"] == "done" and r["sha256"]}
    if done_shas:
        in_graph = {r["sha256"] for r in store.read("scheduler_ingested", shas=sorted(done_shas))}
        for r in known.values():
            if r["status"] == "done" and r["sha256"] not in in_graph:
                r["status"] = "gone"
    ready: list[Path] = []
    waiting: list[tuple[str, str]] = []
    unchanged = 0
    changed_after_ingest: list[str] = []
    updates: list[tuple[Any, ...]] = []
    for p in files:
        try:
            st = p.stat()
        except OSError:
            continue
        row = known.get(str(p))
        same = row is not None and row["size"] == st.st_size and row["mtime_ns"] == st.st_mtime_ns
        if same and row is not None and row["status"] in ("done", "skipped", "failed", "changed"):
            unchanged += 1
            continue
        if (
            row is not None
            and not same
            and row["status"] in ("done", "changed")
            and not job.reingest_changed
        ):
            if row["status"] == "done":
                log.warning(
                    "%s changed after it was ingested; not ingesting it again (its connections "
                    "would count twice). Set jobs.ingest.reingest_changed = true to ingest "
                    "rewritten files.",
                    p,
                )
                changed_after_ingest.append(str(p))
            updates.append(
                (
                    str(p),
                    st.st_size,
                    st.st_mtime_ns,
                    now,
                    "changed",
                    row["sha256"],
                    "changed after it was ingested",
                )
            )
            continue
        first_seen = row["first_seen"] if (same and row is not None) else now
        verdict = check_ready(
            p,
            st.st_size,
            st.st_mtime,
            first_seen,
            now,
            job.settle_seconds,
            job.require_zeek_close,
            job.incomplete_timeout_seconds,
        )
        if verdict.ready:
            ready.append(p)
        else:
            waiting.append((str(p), verdict.reason))
            log.debug("%s: not yet: %s", p, verdict.reason)
        updates.append(
            (str(p), st.st_size, st.st_mtime_ns, first_seen, "pending", None, verdict.reason)
        )
    present = {str(p) for p in files}
    gone = [(path,) for path in known if path not in present]
    with _db(settings) as con:
        # files that left the watched folders (rotated away, deleted) are forgotten
        con.executemany("DELETE FROM watched_files WHERE path = ?", gone)
        con.executemany(
            "INSERT INTO watched_files (path, size, mtime_ns, first_seen, status, sha256, message,"
            " updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET "
            "size = excluded.size, mtime_ns = excluded.mtime_ns, first_seen = excluded.first_seen,"
            " status = excluded.status, sha256 = coalesce(excluded.sha256, watched_files.sha256),"
            " message = excluded.message, updated = excluded.updated",
            [(*u, _now_iso()) for u in updates],
        )
    if job.max_files_per_run and len(ready) > job.max_files_per_run:
        ready = ready[: job.max_files_per_run]
    results: list[Any] = []
    ready = [p for p in ready if p.exists()]  # rotated away since the scan
    if ready:
        stats_before = [(p, p.stat()) for p in ready]
        try:
            res = ingest_mod.ingest(store, ready, settings, fmt=job.format)
            results = list(res.files)
        except GraphnetError as exc:
            if "no log files found" not in str(exc):
                raise
            results = []
        by_path = {r.path: r for r in results}
        rows = []
        for p, st in stats_before:
            fr = by_path.get(str(p))
            if fr is None:
                status, sha, msg = "skipped", None, "not a log file graphnet reads"
            elif fr.status in ("ingested", "resumed", "already ingested"):
                status, sha, msg = "done", fr.sha256 or None, fr.status
            elif fr.status == "skipped":
                status, sha, msg = "skipped", fr.sha256 or None, fr.message or "skipped"
            else:
                status, sha, msg = "failed", fr.sha256 or None, fr.message or fr.status
            rows.append((status, sha, msg, _now_iso(), str(p), st.st_size, st.st_mtime_ns))
        with _db(settings) as con:
            con.executemany(
                "UPDATE watched_files SET status = ?, sha256 = coalesce(?, sha256), message = ?, "
                "updated = ? WHERE path = ? AND size = ? AND mtime_ns = ?",
                rows,
            )
    ingested = [r for r in results if r.status in ("ingested", "resumed")]
    failed = [r for r in results if r.status == "failed"]
    accepted = sum(r.accepted for r in ingested)
    parts = [f"{len(ingested)} files ingested ({accepted:,} connections)"]
    if failed:
        parts.append(f"{len(failed)} failed")
    if waiting:
        parts.append(f"{len(waiting)} waiting")
    if unchanged:
        parts.append(f"{unchanged} already handled")
    if changed_after_ingest:
        parts.append(f"{len(changed_after_ingest)} changed after ingest (not re-ingested)")
    parts.extend(notes)
    details = {
        "ingested": [
            {
                "path": r.path,
                "accepted": r.accepted,
                "rejected": r.rejected,
                "status": r.status,
                "windows": r.windows,
            }
            for r in ingested
        ],
        "failed": [{"path": r.path, "message": r.message} for r in failed],
        "waiting": [{"path": p, "reason": why} for p, why in waiting],
        "already_handled": unchanged,
        "changed_after_ingest": changed_after_ingest,
    }
    outcome = "failed" if failed else "ok"
    return JobResult(outcome, "; ".join(parts), details)


def run_window_close(
    cfg: SchedulerConfig, settings: Settings, store: Any, now: dt.datetime | None = None
) -> JobResult:
    """One run of the window_close job: analyse every ended window that needs it."""
    job = cfg.window_close
    now = now or dt.datetime.now(dt.UTC)
    rows = store.read("scheduler_windows")
    todo = windows_to_analyse(rows, now, job)
    if not todo:
        return JobResult("ok", "no window to analyse", {"windows": []})
    by_window = {str(r["window"]): r for r in rows}
    done: list[tuple[str, list[StepOutcome]]] = []
    any_failed = False
    for w in todo:
        log.info("analysing window %s (%s)", w, ", ".join(job.steps))
        outcomes = run_steps(store, w, settings, job.steps)
        failed = [o for o in outcomes if o.status == "failed"]
        any_failed = any_failed or bool(failed)
        r = by_window[w]
        store.write(
            "scheduler_mark_analysed",
            window=w,
            connections=r.get("connections"),
            edges=r.get("edges"),
            status="failed" if failed else "ok",
            steps=json.dumps([o.to_json() for o in outcomes]),
        )
        done.append((w, outcomes))
    summary = []
    for w, steps in done:
        counts: dict[str, int] = {}
        for o in steps:
            counts[o.status] = counts.get(o.status, 0) + 1
        text = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        summary.append(f"{w} ({text})")
    return JobResult(
        "failed" if any_failed else "ok",
        f"analysed {len(done)} window(s): {'; '.join(summary)}",
        {"windows": [{"window": w, "steps": [o.to_json() for o in steps]} for w, steps in done]},
    )


def run_report(cfg: SchedulerConfig, settings: Settings, store: Any) -> JobResult:
    """One run of the report job: a report for each analysed window that has none for its
    latest analysis (newest window first)."""
    from graphnet.reports import build_report, write_report

    job = cfg.report
    rows = store.read("scheduler_windows")
    todo = [
        str(r["window"])
        for r in rows
        if r.get("analysed_seq") is not None
        and (r.get("reported_seq") is None or int(r["reported_seq"]) < int(r["analysed_seq"]))
    ]
    todo = sorted(todo, reverse=True)[: job.max_reports_per_run]
    if not todo:
        return JobResult("ok", "no new report to write", {"reports": []})
    out_dir = cfg.report_dir(settings)
    by_window = {str(r["window"]): r for r in rows}
    written = []
    for w in todo:
        report = build_report(
            store,
            w,
            settings,
            baseline_windows=job.baseline_windows,
            top=job.top,
            browser_url=job.browser_url,
        )
        paths = write_report(report, out_dir)
        store.write(
            "scheduler_mark_reported",
            window=w,
            seq=by_window[w]["analysed_seq"],
            path=str(paths["html"]),
        )
        written.append({"window": w, **{k: str(v) for k, v in paths.items()}})
        log.info("report for %s written to %s", w, paths["html"])
    return JobResult(
        "ok",
        f"wrote {len(written)} report(s): "
        + ", ".join(f"{x['window']} -> {x['html']}" for x in written),
        {"reports": written},
    )


_RUNNERS: dict[str, Callable[[SchedulerConfig, Settings, Any], JobResult]] = {
    "ingest": run_ingest,
    "window_close": run_window_close,
    "report": run_report,
}
# jobs that write the graph take the graph lock, so that a window is not analysed half-ingested
_GRAPH_WRITERS = ("ingest", "window_close")


def _lock_path(settings: Settings, name: str) -> Path:
    return scheduler_dir(settings) / "locks" / f"{name}.lock"


def _run_record(settings: Settings, name: str, run_id: int) -> dict[str, Any]:
    return next(r for r in job_runs(settings, name, limit=50) if r["id"] == run_id)


def execute_job(
    name: str,
    cfg: SchedulerConfig,
    settings: Settings,
    trigger: str = "schedule",
    store_factory: Callable[[], Any] | None = None,
    raise_errors: bool = True,
) -> dict[str, Any]:
    """Run one job now, in this thread, and record the run. Returns the run record.

    A failure is recorded (outcome `failed`, the error as message) and then raised, or with
    `raise_errors=False` returned as the record. Raises JobBusy when the job is already running
    somewhere (recorded as skipped) and ConfigError for an unknown job."""
    if name not in _RUNNERS:
        raise ConfigError(f"unknown job {name!r}", hint=f"use one of {', '.join(JOBS)}")
    with _file_lock(_lock_path(settings, name), blocking=False) as got:
        if not got:
            msg = "already running (the previous run has not finished)"
            _record_event(settings, name, "skipped", msg)
            log.warning("job %s %s; this run is skipped", name, msg)
            raise JobBusy(f"job {name} is {msg}")
        run_id = _record_start(settings, name, trigger)
        t0 = time.perf_counter()
        try:
            store = (store_factory or _open_store)()
            try:
                lock = (
                    _file_lock(_lock_path(settings, "graph"), blocking=True, timeout=24 * 3600)
                    if name in _GRAPH_WRITERS
                    else contextlib.nullcontext(True)
                )
                with lock as have_graph:
                    if not have_graph:
                        raise JobBusy("another job has been writing the graph for a day")
                    result = _RUNNERS[name](cfg, settings, store)
            finally:
                close = getattr(store, "close", None)
                if callable(close):
                    close()
        except BaseException as exc:
            msg = f"{type(exc).__name__}: {exc}"
            hint = getattr(exc, "hint", "")
            _record_end(
                settings,
                run_id,
                "failed",
                msg + (f" ({hint})" if hint else ""),
                {"seconds": round(time.perf_counter() - t0, 3)},
            )
            if raise_errors or not isinstance(exc, Exception):
                raise
            log.exception("job %s failed", name)
            return _run_record(settings, name, run_id)
        result.details["seconds"] = round(time.perf_counter() - t0, 3)
        _record_end(settings, run_id, result.outcome, result.message, result.details)
        log.info("job %s: %s: %s", name, result.outcome, result.message)
    return _run_record(settings, name, run_id)


# -- module-level job functions: what the persistent job store references ---------------------
def _settings_state(settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(settings):
        v = getattr(settings, f.name)
        if isinstance(v, Path):
            v = str(v)
        elif f.name == "internal_cidrs":
            v = [str(n) for n in v]
        out[f.name] = v
    return out


def _settings_from_state(state: dict[str, Any]) -> Settings:
    names = {f.name for f in dataclasses.fields(Settings)}
    kw: dict[str, Any] = {k: v for k, v in state.items() if k in names}
    kw["home"] = Path(kw["home"])
    if "internal_cidrs" in kw:
        kw["internal_cidrs"] = tuple(ipaddress.ip_network(n) for n in kw["internal_cidrs"])
    return Settings(**kw)


def _scheduled(name: str, config_path: str | None, settings_state: dict[str, Any]) -> None:
    settings = _settings_from_state(settings_state)
    cfg = load_config(Path(config_path) if config_path else None)
    try:
        execute_job(name, cfg, settings, trigger="schedule")
    except JobBusy:
        return


def ingest_job(config_path: str | None, settings_state: dict[str, Any]) -> None:
    """Scheduled `ingest` run (referenced by the persistent job store)."""
    _scheduled("ingest", config_path, settings_state)


def window_close_job(config_path: str | None, settings_state: dict[str, Any]) -> None:
    """Scheduled `window_close` run (referenced by the persistent job store)."""
    _scheduled("window_close", config_path, settings_state)


def report_job(config_path: str | None, settings_state: dict[str, Any]) -> None:
    """Scheduled `report` run (referenced by the persistent job store)."""
    _scheduled("report", config_path, settings_state)


_JOB_FUNCS = {
    "ingest": "graphnet.scheduler:ingest_job",
    "window_close": "graphnet.scheduler:window_close_job",
    "report": "graphnet.scheduler:report_job",
}


# ============================================================================================
# the scheduler
# ============================================================================================
def _make_scheduler(cfg: SchedulerConfig, settings: Settings) -> Any:
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    path = cfg.job_store_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    return BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{path}")},
        executors={"default": ThreadPoolExecutor(cfg.max_workers)},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": cfg.misfire_grace_seconds,
        },
        timezone=cfg.tz(),
    )


def _trigger_key(trigger: Any) -> str:
    return (
        f"{type(trigger).__name__}|{trigger}|{getattr(trigger, 'timezone', '')}|"
        f"{getattr(trigger, 'jitter', None)}"
    )


def _sync_jobs(scheduler: Any, cfg: SchedulerConfig, settings: Settings) -> dict[str, str]:
    """Make the job store hold exactly the enabled jobs of `cfg`. A job whose trigger and
    arguments are unchanged is kept as stored, so its pending (missed) run time survives a
    restart; a changed one is rescheduled. Returns job -> what was done."""
    tz = cfg.tz()
    args = (str(cfg.path) if cfg.path else None, _settings_state(settings))
    actions = {}
    for name in JOBS:
        job_cfg = cfg.job(name)
        existing = scheduler.get_job(name)
        if not job_cfg.enabled:
            if existing is not None:
                scheduler.remove_job(name)
                actions[name] = "removed (disabled)"
            continue
        trigger = job_cfg.trigger.build(tz)
        if (
            existing is not None
            and _trigger_key(existing.trigger) == _trigger_key(trigger)
            and tuple(existing.args) == args
            and existing.func_ref == _JOB_FUNCS[name]
        ):
            actions[name] = "kept"
            continue
        scheduler.add_job(
            _JOB_FUNCS[name],
            trigger=trigger,
            args=args,
            id=name,
            name=f"{name} ({job_cfg.trigger.describe()})",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=cfg.misfire_grace_seconds,
        )
        actions[name] = "scheduled" if existing is None else "rescheduled (configuration changed)"
    for job in scheduler.get_jobs():
        if job.id not in JOBS:
            scheduler.remove_job(job.id)
            actions[job.id] = "removed (unknown job)"
    return actions


def _listener(settings: Settings) -> Callable[[Any], None]:
    from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED

    def on_event(event: Any) -> None:
        try:
            if event.code == EVENT_JOB_MISSED:
                when = event.scheduled_run_time
                msg = (
                    f"missed its run at {when:%Y-%m-%d %H:%M:%S %Z} (later than the misfire "
                    "grace time)"
                )
                log.warning("job %s %s", event.job_id, msg)
                _record_event(settings, event.job_id, "missed", msg)
            elif event.code == EVENT_JOB_MAX_INSTANCES:
                msg = "skipped: the previous run was still going"
                log.warning("job %s %s", event.job_id, msg)
                _record_event(settings, event.job_id, "skipped", msg)
        except Exception:  # a listener must never take the scheduler down
            log.exception("recording a scheduler event failed")

    return on_event


def run_scheduler(
    config_path: Path | None,
    settings: Settings,
    stop_event: threading.Event | None = None,
) -> None:
    """Run the configured jobs until SIGTERM/SIGINT (or until `stop_event` is set).

    Schedules are kept in the persistent job store; runs missed while the scheduler was down
    are run once (coalesced) when they are within the misfire grace time. A failing run is
    logged and recorded, and the scheduler goes on. Returns after the running jobs finished."""
    from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED

    cfg = load_config(config_path)
    stop = stop_event or threading.Event()
    scheduler = _make_scheduler(cfg, settings)
    scheduler.add_listener(_listener(settings), EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info(
                "%s received: stopping after the running jobs finish", signal.Signals(signum).name
            )
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
    started = False
    try:
        scheduler.start(paused=True)
        started = True
        actions = _sync_jobs(scheduler, cfg, settings)
        for name, action in actions.items():
            log.info("job %s: %s", name, action)
        scheduler.resume()
        for job in scheduler.get_jobs():
            log.info("job %s next runs at %s", job.id, job.next_run_time)
        log.info(
            "scheduler running (configuration %s, job store %s)",
            cfg.path or "built-in",
            cfg.job_store_path(settings),
        )
        while not stop.wait(0.5):
            pass
    finally:
        if started:
            log.info("scheduler stopping")
            scheduler.shutdown(wait=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("scheduler stopped")


def run_now(
    job_name: str,
    config: SchedulerConfig | Path | None,
    settings: Settings,
    store_factory: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """Run one job immediately in this process (`graphnet schedule run-now JOB`), recorded like a
    scheduled run with trigger `manual`. Returns the run record: id, job, trigger, started,
    finished, outcome (`ok`, or `failed` with the error as message), message, details.

    Raises ConfigError for an unknown job or a bad configuration, JobBusy when the job is
    running elsewhere, and Neo4jUnavailable when no Neo4j answers (all GraphnetError)."""
    cfg = config if isinstance(config, SchedulerConfig) else load_config(config)
    if job_name not in JOBS:
        raise ConfigError(f"unknown job {job_name!r}", hint=f"use one of {', '.join(JOBS)}")
    if store_factory is None:
        store_factory = _open_store
    store = store_factory()  # Neo4jUnavailable here is the user's problem, not the job's
    try:
        return execute_job(
            job_name,
            cfg,
            settings,
            trigger="manual",
            store_factory=lambda: store,
            raise_errors=False,
        )
    finally:
        close = getattr(store, "close", None)
        if callable(close):
            close()  # closing twice is harmless


def _stored_jobs(path: Path) -> dict[str, dict[str, Any]]:
    """Jobs in the persistent job store (read directly, without starting a scheduler)."""
    if not path.exists():
        return {}
    out = {}
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
    try:
        try:
            rows = con.execute(
                "SELECT id, next_run_time, job_state FROM apscheduler_jobs"
            ).fetchall()
        except sqlite3.OperationalError:
            return {}
    finally:
        con.close()
    for job_id, next_ts, state in rows:
        trigger = ""
        name = job_id
        with contextlib.suppress(Exception):
            data = pickle.loads(state)  # our own job store
            trigger = str(data.get("trigger", ""))
            name = data.get("name", job_id)
        out[job_id] = {
            "next_run": dt.datetime.fromtimestamp(next_ts, dt.UTC).isoformat()
            if next_ts is not None
            else None,
            "trigger": trigger,
            "name": name,
        }
    return out


def schedule_status(
    settings: Settings, config: SchedulerConfig | Path | None = None
) -> list[dict[str, Any]]:
    """One entry per job (`graphnet schedule status [--json]`): job, enabled (in the
    configuration; None when it cannot be read), scheduled (in the job store), trigger,
    next_run, running, last_run (the latest run record), last_ok (when it last succeeded),
    runs and failures (counts of recorded runs)."""
    try:
        cfg = config if isinstance(config, SchedulerConfig) else load_config(config)
        store_path = cfg.job_store_path(settings)
    except ConfigError:
        cfg = None
        store_path = scheduler_dir(settings) / "jobs.sqlite"
    stored = _stored_jobs(store_path)
    names = list(JOBS) + sorted(set(stored) - set(JOBS))
    out = []
    db = runs_db_path(settings).exists()
    for name in names:
        enabled = None if cfg is None or name not in JOBS else cfg.job(name).enabled
        entry: dict[str, Any] = {"job": name, "scheduled": name in stored, "enabled": enabled}
        if name in stored:
            entry.update(trigger=stored[name]["trigger"], next_run=stored[name]["next_run"])
        else:
            configured = cfg.job(name).trigger.describe() if enabled is not None and cfg else ""
            entry.update(trigger=configured, next_run=None)
        last = None
        last_ok = None
        runs = failures = 0
        running = False
        if db:
            with _db(settings) as con:
                runs, failures = con.execute(
                    "SELECT count(*), coalesce(sum(outcome = 'failed'), 0) FROM job_runs "
                    "WHERE job = ?",
                    (name,),
                ).fetchone()
                row = con.execute(
                    "SELECT * FROM job_runs WHERE job = ? ORDER BY id DESC LIMIT 1", (name,)
                ).fetchone()
                ok = con.execute(
                    "SELECT finished FROM job_runs WHERE job = ? AND outcome = 'ok' "
                    "ORDER BY id DESC LIMIT 1",
                    (name,),
                ).fetchone()
                live = con.execute(
                    "SELECT pid FROM job_runs WHERE job = ? AND outcome = 'running'", (name,)
                ).fetchall()
            last = _run_row(row) if row is not None else None
            last_ok = ok[0] if ok else None
            running = any(_pid_alive(r[0]) for r in live)
        entry.update(
            last_run=last, last_ok=last_ok, runs=int(runs), failures=int(failures), running=running
        )
        out.append(entry)
    return out


def status_text(entries: Sequence[dict[str, Any]]) -> str:
    """`schedule_status` as lines for a terminal."""
    lines = []
    for e in entries:
        head = f"{e['job']}: {e['trigger'] or 'not scheduled'}"
        if e.get("enabled") is False:
            head += "; disabled in the configuration"
        elif e["scheduled"]:
            head += f"; next run {e['next_run'] or 'paused'}"
        else:
            head += "; not scheduled yet (start `graphnet schedule run`)"
        if e["running"]:
            head += "; running now"
        lines.append(head)
        last = e.get("last_run")
        if last:
            lines.append(
                f"    last run {last['started']} ({last['trigger']}): {last['outcome']}"
                + (f": {last['message']}" if last["message"] else "")
            )
        lines.append(
            f"    {e['runs']} runs, {e['failures']} failed; last success {e['last_ok'] or 'never'}"
        )
    return "\n".join(lines)


__all__ = [
    "JOBS",
    "STEPS",
    "AnalysisStep",
    "JobBusy",
    "JobResult",
    "Readiness",
    "SchedulerConfig",
    "check_ready",
    "complete_windows",
    "default_config_path",
    "default_config_text",
    "execute_job",
    "file_complete",
    "job_runs",
    "load_config",
    "parse_config",
    "run_now",
    "run_scheduler",
    "run_steps",
    "scan_watch_dirs",
    "schedule_status",
    "stable_since",
    "status_text",
    "windows_to_analyse",
]
