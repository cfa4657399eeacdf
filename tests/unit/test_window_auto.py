"""`--window auto`: the window kind of a new home from the span of its first data, kept once
recorded (a fake store stands in for the graph's `GraphMeta`)."""

from __future__ import annotations

from typing import Any

import pytest

from graphnet import ingest, windows
from graphnet.errors import ConfigError

DAY = 86400.0


@pytest.mark.parametrize(
    ("span", "kind"),
    [
        (0.0, "hour"),
        (3600.0, "hour"),
        (DAY - 1, "hour"),
        (DAY, "day"),
        (3 * DAY, "day"),
        (14 * DAY, "day"),
        (14 * DAY + 3600, "week"),
        (60 * DAY, "week"),
    ],
)
def test_auto_picks_hours_for_a_capture_days_for_two_weeks_weeks_beyond(
    span: float, kind: str
) -> None:
    t0 = 1_710_000_000.0
    assert windows.choose_kind(t0, t0 + span) == kind


def test_spans_are_described_for_people() -> None:
    assert windows.describe_span(0, 720) == "12 minutes"
    assert windows.describe_span(0, 5 * 3600) == "5.0 hours"
    assert windows.describe_span(0, 3.25 * DAY) == "3.2 days"


class FakeStore:
    """The two statements `window_choice` runs against the graph."""

    def __init__(self, recorded: str | None = None) -> None:
        self.recorded = recorded
        self.writes = 0

    def read(self, name: str, **params: Any) -> list[dict[str, Any]]:
        assert name == "graphmeta_get"
        return [{"window_kind": self.recorded}] if self.recorded else []

    def write(self, name: str, **params: Any) -> list[dict[str, Any]]:
        assert name == "graphmeta_init"
        self.writes += 1
        if self.recorded is None:
            self.recorded = params["window_kind"]
        return [{"window_kind": self.recorded}]


def choose(store: FakeStore, requested: str | None, default: str = "auto", **kw: Any) -> Any:
    return ingest.window_choice(store, requested, default, **kw)  # type: ignore[arg-type]


def test_a_new_home_records_what_auto_chose_from_the_span() -> None:
    store = FakeStore()
    asked = []

    def span() -> tuple[float, float]:
        asked.append(1)
        return 1_710_000_000.0, 1_710_000_000.0 + 3300

    got = choose(store, None, span=span)
    assert (got.kind, got.reason) == ("hour", "hour windows (auto: the data spans 55 minutes)")
    assert store.recorded == "hour" and asked == [1]
    # later ingests keep it, whatever their data spans, and do not read the files for it
    again = choose(store, "auto", span=lambda: (0.0, 90 * DAY))
    assert (again.kind, again.reason) == ("hour", "hour windows, as this graph holds")


def test_auto_takes_the_kind_of_an_archive_a_new_graph_finds() -> None:
    store = FakeStore()
    got = choose(store, None, span=lambda: (0.0, 1.0), archived=["2024-03-04", "2024-03-05"])
    assert got.kind == "day" and store.recorded == "day"


def test_auto_without_connections_records_nothing() -> None:
    store = FakeStore()
    got = choose(store, None, span=lambda: None)
    assert (got.kind, got.recorded, store.recorded) == ("week", False, None)


def test_a_named_kind_is_recorded_and_must_agree_later() -> None:
    store = FakeStore()
    assert choose(store, "day").reason == "day windows (--window)"
    assert choose(store, None, default="week").kind == "day"  # the settings' default yields
    with pytest.raises(ConfigError) as exc:
        choose(store, "week")
    assert str(exc.value) == "this graph holds day windows; cannot add week windows to it"


def test_unknown_window_kinds_name_the_choices() -> None:
    with pytest.raises(ConfigError) as exc:
        choose(FakeStore(), "month")
    assert str(exc.value) == "unknown window 'month'"
    assert exc.value.hint == "use one of auto, week, day, hour"
    with pytest.raises(ConfigError) as env:
        choose(FakeStore(), None, default="fortnight")
    assert str(env.value) == "unknown window 'fortnight' (GRAPHNET_WINDOW)"


def test_the_cli_defaults_a_new_home_to_auto_the_library_and_feeds_to_weeks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    from graphnet.config import Settings
    from graphnet.scheduler.jobs import _fed

    monkeypatch.delenv("GRAPHNET_WINDOW", raising=False)
    assert Settings.from_env().window == "auto"
    assert Settings(home=tmp_path).window == "week"  # type: ignore[arg-type]
    # a watched feed's first file is no capture: its new home gets weeks unless told
    assert _fed(Settings.from_env()).window == "week"
    monkeypatch.setenv("GRAPHNET_WINDOW", "day")
    assert Settings.from_env().window == "day" and _fed(Settings.from_env()).window == "day"
