"""Scheduler configuration: the shipped default loads; bad values are clear errors."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

import pytest

from graphnet import scheduler
from graphnet.config import Settings
from graphnet.detectors.registry import default_steps
from graphnet.errors import ConfigError
from graphnet.scheduler.service import _settings_from_state, _settings_state

GOOD = """
[scheduler]
timezone = "Europe/Berlin"
misfire_grace_seconds = 60

[jobs.ingest]
trigger = { type = "interval", seconds = 30 }
watch = ["logs", "/abs/zeek"]
settle_seconds = 5

[jobs.window_close]
trigger = { type = "cron", hour = "*/2", minute = 10 }
steps = ["snapshot", "shifts"]

[jobs.report]
trigger = { type = "cron", cron = "0 7 * * 1" }
out_dir = "reports"
browser_url = "http://127.0.0.1:7474"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "graphnet.toml"
    p.write_text(text)
    return p


def test_shipped_default_loads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GRAPHNET_HOME", str(tmp_path))
    path = scheduler.default_config_path()
    assert path.name == "graphnet.toml" and path.is_file()
    cfg = scheduler.load_config(None)
    assert cfg.ingest.enabled and cfg.window_close.enabled and cfg.report.enabled
    assert cfg.window_close.steps == tuple(s.name for s in default_steps())
    for name in scheduler.JOBS:
        trigger = cfg.job(name).trigger.build(cfg.tz())
        assert trigger.get_next_fire_time(None, dt.datetime.now(dt.UTC)) is not None
    assert "#" in scheduler.default_config_text()  # commented
    settings = Settings(home=tmp_path)
    assert cfg.job_store_path(settings) == tmp_path / "scheduler" / "jobs.sqlite"
    assert cfg.report_dir(settings) == tmp_path / "reports"


def test_home_config_wins_over_the_shipped_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GRAPHNET_HOME", str(tmp_path))
    own = write(tmp_path, GOOD)
    assert scheduler.default_config_path() == own


def test_good_file_values(tmp_path: Path) -> None:
    cfg = scheduler.load_config(write(tmp_path, GOOD))
    assert cfg.timezone == "Europe/Berlin"
    assert cfg.misfire_grace_seconds == 60
    assert cfg.ingest.watch == (tmp_path / "logs", Path("/abs/zeek"))  # relative to the file
    assert cfg.ingest.settle_seconds == 5
    assert cfg.ingest.trigger.describe() == "every 30 seconds"
    assert cfg.window_close.steps == ("snapshot", "shifts")
    assert cfg.window_close.trigger.describe() == "cron hour=*/2 minute=10"
    assert cfg.report.out_dir == tmp_path / "reports"
    assert cfg.report.browser_url == "http://127.0.0.1:7474"
    assert cfg.report.trigger.describe() == "cron '0 7 * * 1'"


@pytest.mark.parametrize(
    ("change", "key", "expected"),
    [
        (
            ("[jobs.ingest]", "[jobs.ingest]\nsetle_seconds = 3"),
            "jobs.ingest.setle_seconds",
            "unknown key",
        ),
        (("settle_seconds = 5", "settle_seconds = -1"), "jobs.ingest.settle_seconds", ">= 0"),
        (
            ("settle_seconds = 5", 'settle_seconds = "soon"'),
            "jobs.ingest.settle_seconds",
            "expected a number",
        ),
        (
            ('type = "interval", seconds = 30', 'type = "weekly", seconds = 30'),
            "jobs.ingest.trigger.type",
            'expected "interval" or "cron"',
        ),
        (
            ('type = "interval", seconds = 30', 'type = "interval"'),
            "jobs.ingest.trigger",
            "needs a length",
        ),
        (('cron = "0 7 * * 1"', 'cron = "61 7 * * 1"'), "jobs.report.trigger", ""),
        (
            ('hour = "*/2", minute = 10', 'hour = "*/2", minute = 10, cron = "0 * * * *"'),
            "jobs.window_close.trigger",
            "either",
        ),
        (
            ('steps = ["snapshot", "shifts"]', 'steps = ["snapshot", "magic"]'),
            "jobs.window_close.steps",
            "unknown step 'magic'",
        ),
        (('steps = ["snapshot", "shifts"]', 'steps = "snapshot"'), "", ""),  # one string is ok
        (
            ('timezone = "Europe/Berlin"', 'timezone = "Mars/Olympus"'),
            "scheduler.timezone",
            "unknown time zone",
        ),
        (
            ('watch = ["logs", "/abs/zeek"]', "watch = []"),
            "jobs.ingest.watch",
            "at least one folder",
        ),
        (
            ('watch = ["logs", "/abs/zeek"]', "watch = [1]"),
            "jobs.ingest.watch",
            "list of non-empty strings",
        ),
        (
            ('browser_url = "http://127.0.0.1:7474"', 'browser_url = "127.0.0.1:7474"'),
            "jobs.report.browser_url",
            "http(s) address",
        ),
        (
            ("misfire_grace_seconds = 60", "misfire_grace_seconds = 0"),
            "scheduler.misfire_grace_seconds",
            ">= 1",
        ),
        (
            ("misfire_grace_seconds = 60", "misfire_grace_seconds = true"),
            "scheduler.misfire_grace_seconds",
            "whole number",
        ),
        (("[scheduler]", "[schedular]\nx = 1\n[scheduler]"), "schedular", "unknown key"),
    ],
)
def test_bad_values_name_the_key(
    tmp_path: Path, change: tuple[str, str], key: str, expected: str
) -> None:
    old, new = change
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    if not key:
        scheduler.load_config(path)
        return
    with pytest.raises(ConfigError) as info:
        scheduler.load_config(path)
    msg = str(info.value)
    assert str(path) in msg
    assert key in msg
    assert expected in msg


def test_old_step_name_is_accepted(tmp_path: Path) -> None:
    """`suspicious_connects` (the step's name before the registry) still configures `lda`."""
    text = GOOD.replace(
        'steps = ["snapshot", "shifts"]', 'steps = ["snapshot", "suspicious_connects"]'
    )
    cfg = scheduler.load_config(write(tmp_path, text))
    assert cfg.window_close.steps == ("snapshot", "lda")
    with pytest.raises(ConfigError, match="listed twice"):
        scheduler.load_config(
            write(
                tmp_path, GOOD.replace('["snapshot", "shifts"]', '["lda", "suspicious_connects"]')
            )
        )


def test_disabled_ingest_needs_no_watch_dir(tmp_path: Path) -> None:
    text = GOOD.replace('watch = ["logs", "/abs/zeek"]', "enabled = false")
    cfg = scheduler.load_config(write(tmp_path, text))
    assert not cfg.ingest.enabled and cfg.ingest.watch == ()


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        scheduler.load_config(write(tmp_path, "[jobs\n"))
    with pytest.raises(ConfigError, match="cannot read the configuration"):
        scheduler.load_config(tmp_path / "nope.toml")


def test_parse_config_defaults() -> None:
    cfg = scheduler.parse_config({"jobs": {"ingest": {"watch": ["/tmp/x"]}}})
    assert cfg.ingest.watch == (Path("/tmp/x"),)
    assert cfg.ingest.patterns and cfg.ingest.exclude
    assert cfg.report.baseline_windows == 4
    default = tomllib.loads(scheduler.default_config_text())
    assert set(default["jobs"]) == set(scheduler.JOBS)


def test_unknown_job() -> None:
    cfg = scheduler.parse_config({"jobs": {"ingest": {"watch": ["/tmp/x"]}}})
    with pytest.raises(ConfigError, match="unknown job"):
        cfg.job("backup")


def test_settings_survive_the_job_store(tmp_path: Path) -> None:
    import ipaddress
    import pickle

    s = Settings(
        home=tmp_path,
        window="day",
        internal_cidrs=(ipaddress.ip_network("10.0.0.0/8"),),
        top_ports=7,
    )
    state = pickle.loads(pickle.dumps(_settings_state(s)))
    assert _settings_from_state(state) == s


def test_job_store_references_resolve() -> None:
    """The persistent job store keeps textual references to the job functions: the ones it has
    always held (`graphnet.scheduler:ingest_job`, ...) and the defining module's both resolve."""
    from apscheduler.util import ref_to_obj

    from graphnet.scheduler import service

    for name in scheduler.JOBS:
        fn = getattr(service, f"{name}_job")
        assert service._JOB_FUNCS[name] == f"graphnet.scheduler:{name}_job"
        assert ref_to_obj(f"graphnet.scheduler:{name}_job") is fn
        assert ref_to_obj(f"graphnet.scheduler.service:{name}_job") is fn
