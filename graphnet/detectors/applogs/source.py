"""THE SEAM: where the steps get a window's dns and http records.

Every step of this package reads records only through `app_session`: an engine session of the
archive door (`Archive.session`) in which each requested name is bound to the `dns` or `http`
records of some windows (the agreed normalised columns, `words.DNS_COLUMNS` /
`words.HTTP_COLUMNS`, plus `win`, the window id), next to the step's own lookup tables; and
`AppLogs.windows` says which windows hold records.

By default the records are the archive's (`ArchiveLogs`: what `graphnet ingest` stored;
`app_session` binds the names with `Archive.session(records=...)`, and `windows(kind)` lists
the archive's dns/http windows). `FrameLogs` supplies them from frames instead (tests, the
evaluation of generated logs, given with the `AppLogsSource` option), registered as lookup
tables. The SQL (`graphnet/sql/app_*.sql`) and the steps are the same for both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa

from graphnet import windows
from graphnet.archive import Archive
from graphnet.detectors.applogs.words import DNS_COLUMNS, HTTP_COLUMNS

Kind = Literal["dns", "http"]
COLUMNS: dict[str, tuple[str, ...]] = {"dns": DNS_COLUMNS, "http": HTTP_COLUMNS}
TYPES: dict[str, pa.DataType] = {
    "ts": pa.float64(),
    "sport": pa.int32(),
    "dport": pa.int32(),
    "rejected": pa.bool_(),
    "line": pa.int64(),
    "request_body_len": pa.float64(),
    "response_body_len": pa.float64(),
    "status_code": pa.int32(),
}


class AppLogs(Protocol):
    """The windows and records of the application logs (the seam's data side)."""

    def windows(self, kind: Kind, window_kind: str) -> list[str]: ...

    def table(self, kind: Kind, wins: Sequence[str], window_kind: str) -> pa.Table: ...


def empty_table(kind: Kind) -> pa.Table:
    """No records, with the agreed columns and `win`."""
    cols = {c: pa.array([], type=TYPES.get(c, pa.string())) for c in COLUMNS[kind]}
    cols["win"] = pa.array([], type=pa.string())
    return pa.table(cols)


def as_table(frame: pd.DataFrame, kind: Kind, win: np.ndarray) -> pa.Table:
    """Records of a normalised frame as an Arrow table of the agreed columns plus `win`."""
    cols = {}
    for c in COLUMNS[kind]:
        t = TYPES.get(c, pa.string())
        if c in frame.columns:
            v = frame[c]
            if t == pa.string():
                v = v.astype(object).where(v.notna(), "-").astype(str)
            cols[c] = pa.array(v.to_numpy(), type=t, from_pandas=True)
        else:
            cols[c] = pa.nulls(len(frame), type=t)
    cols["win"] = pa.array(np.asarray(win, dtype=object).astype(str), type=pa.string())
    return pa.table(cols)


@dataclass
class FrameLogs:
    """Application-log records held as frames (normalised dns / http tables)."""

    frames: dict[str, pd.DataFrame] = field(default_factory=dict)

    def _wins(self, kind: Kind, window_kind: str) -> np.ndarray:
        f = self.frames.get(kind)
        if f is None or f.empty:
            return np.zeros(0, dtype=object)
        return windows.window_ids(f["ts"].to_numpy(dtype="float64"), window_kind).to_numpy()

    def windows(self, kind: Kind, window_kind: str) -> list[str]:
        return sorted({str(w) for w in self._wins(kind, window_kind) if isinstance(w, str)})

    def table(self, kind: Kind, wins: Sequence[str], window_kind: str) -> pa.Table:
        f = self.frames.get(kind)
        if f is None or f.empty or not wins:
            return empty_table(kind)
        w = self._wins(kind, window_kind)
        m = np.isin(w, np.asarray(list(wins), dtype=object))
        return as_table(f[m], kind, w[m])


def history(logs: AppLogs, kind: Kind, window: str, days: float) -> list[str]:
    """The windows with records that end at or before `window` starts and start within `days`
    before it, oldest first (the archive's `history` rule)."""
    start, _ = windows.bounds(window)
    lo = start.timestamp() - days * 86400.0
    out = []
    for w in logs.windows(kind, windows.kind_of(window)):
        if w >= window:
            continue
        ws, we = windows.bounds(w)
        if we.timestamp() <= start.timestamp() and ws.timestamp() >= lo - 1e-6:
            out.append(w)
    return out


@contextlib.contextmanager
def app_session(
    archive: Archive,
    logs: AppLogs,
    kind: Kind,
    bind: Mapping[str, Sequence[str]],
    lookups: Mapping[str, pa.Table] | None = None,
) -> Iterator[Any]:
    """An engine session with each name of `bind` holding the `kind` records of its windows
    (plus `win`), and the `lookups`. The one place the steps get records from."""
    if isinstance(logs, ArchiveLogs):
        records = {name: (kind, list(wins)) for name, wins in bind.items()}
        with logs.archive.session({}, records=records, lookups=dict(lookups or {})) as s:
            yield s
        return
    tables: dict[str, pa.Table] = {}
    for name, wins in bind.items():
        wk = windows.kind_of(wins[0]) if wins else "week"
        tables[name] = logs.table(kind, list(wins), wk)
    with archive.session({}, lookups={**tables, **(lookups or {})}) as s:
        yield s


@dataclass(frozen=True)
class ArchiveLogs:
    """The dns and http records of the archive (what `graphnet ingest` stored): the steps'
    default source. `app_session` binds the names to the archive's record files
    (`Archive.session(records=...)`: a record read once, several sensors counted once)."""

    archive: Archive

    def windows(self, kind: Kind, window_kind: str) -> list[str]:
        return [
            w for w in self.archive.records(kind).windows() if windows.kind_of(w) == window_kind
        ]

    def table(self, kind: Kind, wins: Sequence[str], window_kind: str) -> pa.Table:
        if not wins:
            return empty_table(kind)
        frame = self.archive.record_frame(kind, list(wins), COLUMNS[kind])
        return as_table(frame, kind, frame["win"].to_numpy(dtype=object))
