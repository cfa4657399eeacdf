"""The scheduler's TOML configuration: the jobs, their triggers and settings, validated
key by key (`load_config`, `parse_config`; the commented default ships as
`graphnet/graphnet.toml`)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from graphnet.config import Settings
from graphnet.detectors.registry import FORMER_NAMES, default_steps
from graphnet.errors import ConfigError

JOBS = ("ingest", "window_close", "report")
CONFIG_NAME = "graphnet.toml"


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
    names = [s.name for s in default_steps()]
    steps = [FORMER_NAMES.get(s, s) for s in wc.strings("steps", names)]
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
