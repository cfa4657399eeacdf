"""Scheduled jobs: ingest new log files, analyse windows that have ended, write change reports.

`run_scheduler` runs APScheduler 3 in the foreground (a service: logs to stderr through
`logging`, stops cleanly on SIGTERM/SIGINT). Three jobs, each with its own trigger from the TOML
configuration (`load_config`; the commented default ships as `graphnet/graphnet.toml`):

- `ingest`: watch folders for new log files; a file is ingested once it is complete (unchanged
  for `settle_seconds`, a Zeek TSV log has its `#close` footer, a gzip stream is whole), through
  `graphnet.ingest.ingest` (exactly once per file content);
- `window_close`: once a window has ended, analyse it with `graphnet.pipeline` (the steps
  named in the configuration, in registry order);
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

One concern per module: `config` (the TOML configuration), `runlog` (run records in SQLite and
file locks), `watch` (watched folders, file readiness), `jobs` (the job bodies and
`execute_job`), `service` (APScheduler: the job store's job functions, `run_scheduler`,
`run_now`, `schedule_status`). This package re-exports
their public names; the job store references the job functions as `graphnet.scheduler:ingest_job`
and so on, which resolve through these re-exports.
"""

from __future__ import annotations

from graphnet.scheduler.config import (
    JOBS,
    SchedulerConfig,
    default_config_path,
    default_config_text,
    load_config,
    parse_config,
)
from graphnet.scheduler.jobs import JobResult, complete_windows, execute_job, windows_to_analyse
from graphnet.scheduler.runlog import JobBusy, job_runs
from graphnet.scheduler.service import (
    ingest_job,
    report_job,
    run_now,
    run_scheduler,
    schedule_status,
    status_text,
    window_close_job,
)
from graphnet.scheduler.watch import (
    Readiness,
    check_ready,
    file_complete,
    scan_watch_dirs,
    stable_since,
)

__all__ = [
    "JOBS",
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
    "ingest_job",
    "job_runs",
    "load_config",
    "parse_config",
    "report_job",
    "run_now",
    "run_scheduler",
    "scan_watch_dirs",
    "schedule_status",
    "stable_since",
    "status_text",
    "window_close_job",
    "windows_to_analyse",
]
