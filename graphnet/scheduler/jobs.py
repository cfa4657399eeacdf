"""The job bodies: one run of `ingest`, `window_close` (which windows have ended and need
analysing) or `report`, and `execute_job`, which runs one of them under its lock (graph
writers one at a time) and records the run."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphnet import pipeline
from graphnet import windows as windows_mod
from graphnet.config import Settings
from graphnet.errors import ConfigError, GraphnetError
from graphnet.pipeline import StepOutcome
from graphnet.scheduler.config import JOBS, SchedulerConfig, WindowCloseJobConfig
from graphnet.scheduler.runlog import (
    JobBusy,
    _db,
    _file_lock,
    _now_iso,
    _record_end,
    _record_event,
    _record_start,
    job_runs,
    mark_interrupted,
    scheduler_dir,
)
from graphnet.scheduler.watch import check_ready, scan_watch_dirs

log = logging.getLogger(__name__)


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
    out = [
        w
        for w in complete_windows(rows, now, cfg.close_after_seconds, cfg.later_data_closes)
        if pipeline.needs_analysis(by_window[w], cfg.max_attempts)
    ]
    return out[: cfg.max_windows_per_run]


@dataclass
class JobResult:
    outcome: str  # ok | failed | skipped
    message: str
    details: dict[str, Any] = field(default_factory=dict)


def _open_store() -> Any:
    from graphnet.store import open_store

    return open_store()


def _fed(settings: Settings) -> Settings:
    """The settings of a watched feed: `auto` would choose the window kind of a new home
    from the first files of a feed that goes on (an hour's rotation: hour windows for good),
    so a feed's new home gets week windows unless GRAPHNET_WINDOW names a kind."""
    if settings.window == windows_mod.AUTO:
        return dataclasses.replace(settings, window="week")
    return settings


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
            res = ingest_mod.ingest(store, ready, _fed(settings), fmt=job.format)
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
    chosen = pipeline.select(job.steps)
    done: list[tuple[str, list[StepOutcome]]] = []
    any_failed = False
    for w in todo:
        log.info("analysing window %s (%s)", w, ", ".join(job.steps))
        analysis = pipeline.analyse_window(store, settings, w, chosen, mark=True)
        any_failed = any_failed or bool(analysis.failed)
        done.append((w, analysis.outcomes))
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
    somewhere (recorded as skipped) and ConfigError for an unknown job. Earlier runs of the job
    still recorded as running (their process was killed) are recorded as interrupted."""
    if name not in _RUNNERS:
        raise ConfigError(f"unknown job {name!r}", hint=f"use one of {', '.join(JOBS)}")
    with _file_lock(_lock_path(settings, name), blocking=False) as got:
        if not got:
            msg = "already running (the previous run has not finished)"
            _record_event(settings, name, "skipped", msg, trigger)
            log.warning("job %s %s; this run is skipped", name, msg)
            raise JobBusy(f"job {name} is {msg}")
        # every run of this job holds its lock until it has recorded its end: a run still
        # recorded as running now was killed (or its machine went down)
        if mark_interrupted(settings, name, lock_held=True):
            log.warning("job %s: an earlier run was interrupted (see schedule status)", name)
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
