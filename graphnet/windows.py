"""Window ids, computed in one place.

A window is a string: ``2017-W12`` (ISO week, the default), ``2017-03-20`` (day) or
``2017-03-20T13`` (hour). Ids of one kind sort chronologically as strings.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

import numpy as np
import pandas as pd

WindowKind = Literal["week", "day", "hour"]
KINDS: tuple[str, ...] = ("week", "day", "hour")
#: what `--window` / `GRAPHNET_WINDOW` accept: a kind, or `auto` (chosen from the data's span
#: by the first ingest of a home, see `choose_kind`)
AUTO = "auto"
CHOICES: tuple[str, ...] = (AUTO, *KINDS)
#: `auto`: hour windows for data spanning less than this many days, day windows up to
#: `AUTO_DAY_MAX_DAYS`, week windows beyond
AUTO_HOUR_MAX_DAYS = 1.0
AUTO_DAY_MAX_DAYS = 14.0

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HOUR = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}$")


def window_ids(ts: pd.Series | np.ndarray, kind: str = "week") -> pd.Series:
    """Vectorised: epoch seconds (UTC) -> window id strings. The id is computed once per
    distinct hour (or day) and spread to the rows: a window of millions of connections has
    a few hundred distinct hours."""
    if kind not in KINDS:
        raise ValueError(f"unknown window kind {kind!r}; expected one of {', '.join(KINDS)}")
    t = np.asarray(ts, dtype="float64")
    step = 3600.0 if kind == "hour" else 86400.0
    with np.errstate(invalid="ignore"):
        slots = np.floor(t / step)
    uniq, inverse = np.unique(slots, return_inverse=True)
    stamps = pd.to_datetime(pd.Series(uniq * step), unit="s", utc=True)
    if kind == "week":
        iso = stamps.dt.isocalendar()
        ids = iso["year"].astype(str) + "-W" + iso["week"].astype(str).str.zfill(2)
    elif kind == "day":
        ids = stamps.dt.strftime("%Y-%m-%d")
    else:
        ids = stamps.dt.strftime("%Y-%m-%dT%H")
    return pd.Series(ids.to_numpy(dtype=object)[inverse.reshape(-1)], dtype=object)


def choose_kind(first: float, last: float) -> str:
    """The window kind `auto` picks for data whose times run from `first` to `last` (epoch
    seconds): hour windows for less than a day (a capture of an incident), day windows for up
    to two weeks (a few days of a honeypot), week windows beyond (a deployment)."""
    days = max(0.0, float(last) - float(first)) / 86400.0
    if days < AUTO_HOUR_MAX_DAYS:
        return "hour"
    if days <= AUTO_DAY_MAX_DAYS:
        return "day"
    return "week"


def describe_span(first: float, last: float) -> str:
    """`3.2 days`, `5.0 hours`, `12 minutes`: how long data runs, for messages."""
    secs = max(0.0, float(last) - float(first))
    if secs >= 86400.0:
        return f"{secs / 86400.0:.1f} days"
    if secs >= 3600.0:
        return f"{secs / 3600.0:.1f} hours"
    return f"{secs / 60.0:.0f} minutes"


def window_of(ts: float, kind: str = "week") -> str:
    return str(window_ids(np.array([ts]), kind).iloc[0])


def kind_of(window: str) -> str:
    if _WEEK.match(window):
        return "week"
    if _HOUR.match(window):
        return "hour"
    if _DAY.match(window):
        return "day"
    raise ValueError(
        f"not a window id: {window!r} (expected e.g. 2017-W12, 2017-03-20, 2017-03-20T13)"
    )


def bounds(window: str) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a window in UTC."""
    kind = kind_of(window)
    if kind == "week":
        m = _WEEK.match(window)
        assert m
        start = dt.datetime.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
        return start.replace(tzinfo=dt.UTC), start.replace(tzinfo=dt.UTC) + dt.timedelta(days=7)
    if kind == "day":
        start = dt.datetime.strptime(window, "%Y-%m-%d").replace(tzinfo=dt.UTC)
        return start, start + dt.timedelta(days=1)
    start = dt.datetime.strptime(window, "%Y-%m-%dT%H").replace(tzinfo=dt.UTC)
    return start, start + dt.timedelta(hours=1)


def previous(window: str, n: int = 1) -> list[str]:
    """The n windows before `window`, oldest first."""
    kind = kind_of(window)
    start, end = bounds(window)
    step = end - start
    out = []
    for i in range(n, 0, -1):
        out.append(window_of((start - i * step).timestamp(), kind))
    return out


def span_days(frame: pd.DataFrame, window: str) -> float:
    """Days of data in a window: the observed span (at least an hour), at most the window."""
    start, end = bounds(window)
    full = (end - start).total_seconds() / 86400.0
    if frame.empty:
        return full
    ts = frame["ts"].to_numpy(dtype="float64")
    span = (float(np.nanmax(ts)) - float(np.nanmin(ts))) / 86400.0
    return float(min(full, max(span, 1.0 / 24.0)))
