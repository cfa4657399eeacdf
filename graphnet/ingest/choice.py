"""The window kind of the graph: recorded by the first ingest of a home, later ones must agree;
`auto` chooses it from the span of the data (`scan_span`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from graphnet import sources, windows
from graphnet.errors import ConfigError, InputError
from graphnet.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WindowChoice:
    """The window kind an ingest uses, and how it was chosen (for people)."""

    kind: str
    reason: str
    #: whether the kind is recorded for the home (False: `auto` had no data to choose from,
    #: the next ingest chooses again)
    recorded: bool = True


#: `span()` of `window_choice`: the first and last time of the data being ingested (None:
#: no connection)
Span = Callable[[], tuple[float, float] | None]


def _check_kind(requested: str | None, default: str) -> str:
    """The kind asked for (`--window`, else `GRAPHNET_WINDOW`/the settings), checked."""
    if requested is not None and requested not in windows.CHOICES:
        raise ConfigError(
            f"unknown window {requested!r}", hint=f"use one of {', '.join(windows.CHOICES)}"
        )
    if requested is None and default not in windows.CHOICES:
        raise ConfigError(
            f"unknown window {default!r} (GRAPHNET_WINDOW)",
            hint=f"use one of {', '.join(windows.CHOICES)}",
        )
    return requested if requested is not None else default


def window_choice(
    store: Store,
    requested: str | None,
    default: str,
    span: Span | None = None,
    archived: Sequence[str] = (),
) -> WindowChoice:
    """The graph's window kind: the first ingest records it, later ones must agree.

    `auto` (`--window auto`, or the settings' default `auto`) keeps the kind a home has; a
    new home (no kind recorded) takes the kind of the windows its archive already holds
    (`archived`: another Neo4j behind the same home), else the one `windows.choose_kind`
    picks from the span of the data being ingested (`span()`, asked only then): hour windows
    for less than a day, day windows up to two weeks, week windows beyond. Without any
    connection to choose from, week windows are used and nothing is recorded."""
    want = _check_kind(requested, default)
    got = store.read("graphmeta_get")
    recorded = got[0]["window_kind"] if got else None
    if recorded is not None:
        if requested not in (None, windows.AUTO, recorded):
            raise ConfigError(
                f"this graph holds {recorded} windows; cannot add {requested} windows to it",
                hint=f"ingest with --window {recorded}, or start a new graph with `graphnet reset`",
            )
        return WindowChoice(str(recorded), f"{recorded} windows, as this graph holds")
    if want != windows.AUTO:
        reason = f"{want} windows" + (" (--window)" if requested is not None else "")
    elif archived:
        want = windows.kind_of(archived[0])
        reason = f"{want} windows (auto: those of the connection archive)"
    else:
        first_last = span() if span is not None else None
        if first_last is None:
            log.info("window auto: no connection to choose a window kind from (week for now)")
            return WindowChoice("week", "week windows (auto: no connections yet)", False)
        want = windows.choose_kind(*first_last)
        reason = f"{want} windows (auto: the data spans {windows.describe_span(*first_last)})"
    kind = str(store.write("graphmeta_init", window_kind=want)[0]["window_kind"])
    if kind != want:  # another ingest recorded its kind meanwhile
        return window_choice(store, requested, default, span, archived)
    log.info("window kind of this graph: %s", reason)
    return WindowChoice(kind, reason)


def graph_window_kind(store: Store, requested: str | None, default: str) -> str:
    """The graph's window kind (`window_choice` without data to choose `auto` from)."""
    return window_choice(store, requested, default).kind


def scan_span(paths: Sequence[Path], fmt: str | None) -> tuple[float, float] | None:
    """The first and last connection time of the files (None: no connection): what `auto`
    chooses the window kind of a new home from. Read once, before the files are parsed for
    good; files that cannot be read are left to the parse, which reports them."""
    lo, hi = np.inf, -np.inf
    for path in paths:
        try:
            for chunk in sources.read(path, fmt):
                for frame in (chunk.frame, *chunk.tables.values()):
                    ts = frame["ts"].to_numpy(dtype="float64")
                    ts = ts[np.isfinite(ts)]
                    if len(ts):
                        lo, hi = min(lo, float(ts.min())), max(hi, float(ts.max()))
        except InputError as exc:
            log.debug("window auto: %s is not scanned: %s", path, exc)
    return (lo, hi) if lo <= hi else None
