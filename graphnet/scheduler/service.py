"""APScheduler wiring: the persistent job store and its module-level job functions,
`run_scheduler` (the service), `run_now`, and `schedule_status`."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import ipaddress
import logging
import pickle
import signal
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from graphnet.config import Settings
from graphnet.errors import ConfigError
from graphnet.scheduler import jobs as jobs_mod
from graphnet.scheduler.config import JOBS, SchedulerConfig, load_config
from graphnet.scheduler.jobs import execute_job
from graphnet.scheduler.runlog import (
    JobBusy,
    _db,
    _pid_alive,
    _record_event,
    _run_row,
    mark_interrupted,
    runs_db_path,
    scheduler_dir,
)

log = logging.getLogger(__name__)


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


# The job store keeps these references. They name the package, which re-exports the job
# functions (`graphnet.scheduler:ingest_job` resolves, as does `graphnet.scheduler.service:...`),
# so that stores written before the package was split keep loading and a stored job whose
# reference is unchanged is kept by `_sync_jobs` rather than rescheduled.
_JOB_FUNCS = {
    "ingest": "graphnet.scheduler:ingest_job",
    "window_close": "graphnet.scheduler:window_close_job",
    "report": "graphnet.scheduler:report_job",
}


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
                # the messages follow the outcome in `schedule status` ("missed: ..."), so they
                # do not repeat it
                when = event.scheduled_run_time
                msg = (
                    f"the run due at {when:%Y-%m-%d %H:%M:%S %Z} was not started within the "
                    "misfire grace time"
                )
                log.warning("job %s missed a run: %s", event.job_id, msg)
                _record_event(settings, event.job_id, "missed", msg)
            elif event.code == EVENT_JOB_MAX_INSTANCES:
                msg = "the previous run was still going"
                log.warning("job %s skipped a run: %s", event.job_id, msg)
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
        store_factory = jobs_mod._open_store  # looked up there, where execute_job finds it
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
    last_failure (the latest run that failed or was interrupted, or None), runs, failures (runs
    that failed or were interrupted) and interrupted (runs whose process was killed before
    they finished; counted in failures too).

    A run recorded as running whose process is gone is recorded as interrupted first."""
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
    if db:
        mark_interrupted(settings)
    for name in names:
        enabled = None if cfg is None or name not in JOBS else cfg.job(name).enabled
        entry: dict[str, Any] = {"job": name, "scheduled": name in stored, "enabled": enabled}
        if name in stored:
            entry.update(trigger=stored[name]["trigger"], next_run=stored[name]["next_run"])
        else:
            configured = cfg.job(name).trigger.describe() if enabled is not None and cfg else ""
            entry.update(trigger=configured, next_run=None)
        last = last_failure = None
        last_ok = None
        runs = failures = interrupted = 0
        running = False
        if db:
            with _db(settings) as con:
                # failures: runs that raised, and runs whose process was killed (or whose
                # machine went down) before they could record how they ended
                runs, failures, interrupted = con.execute(
                    "SELECT count(*), coalesce(sum(outcome IN ('failed', 'interrupted')), 0), "
                    "coalesce(sum(outcome = 'interrupted'), 0) FROM job_runs WHERE job = ?",
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
                bad = con.execute(
                    "SELECT * FROM job_runs WHERE job = ? AND outcome IN ('failed', 'interrupted') "
                    "ORDER BY id DESC LIMIT 1",
                    (name,),
                ).fetchone()
                live = con.execute(
                    "SELECT pid, proc_start FROM job_runs WHERE job = ? AND outcome = 'running'",
                    (name,),
                ).fetchall()
            last = _run_row(row) if row is not None else None
            last_failure = _run_row(bad) if bad is not None else None
            last_ok = ok[0] if ok else None
            running = any(_pid_alive(r[0], r[1]) for r in live)
        entry.update(
            last_run=last,
            last_ok=last_ok,
            last_failure=last_failure,
            runs=int(runs),
            failures=int(failures),
            interrupted=int(interrupted),
            running=running,
        )
        out.append(entry)
    return out


def _run_line(label: str, run: dict[str, Any]) -> str:
    return f"    {label} {run['started']} ({run['trigger']}): {run['outcome']}" + (
        f": {run['message']}" if run["message"] else ""
    )


def status_text(entries: Sequence[dict[str, Any]]) -> str:
    """`schedule_status` as lines for a terminal. The latest failed or interrupted run gets a
    line of its own when a later run hides it and no run has succeeded since."""
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
            lines.append(_run_line("last run", last))
        bad = e.get("last_failure")
        ok = e.get("last_ok")
        if (
            bad
            and (not last or bad["id"] != last["id"])
            and (not ok or str(ok) < str(bad["started"]))
        ):
            lines.append(_run_line("last failure", bad))
        failed = f"{e['failures']} failed"
        if e.get("interrupted"):
            failed += f" ({e['interrupted']} interrupted)"
        lines.append(f"    {e['runs']} runs, {failed}; last success {ok or 'never'}")
    return "\n".join(lines)
