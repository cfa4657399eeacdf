"""The one door to the columnar store: the connection archive and the stored results.

- **Connection archive** (`$GRAPHNET_HOME/archive/<window>/<sha16>.parquet`): the normalised
  connections of each ingested file, one Parquet file per (window, file content), written by
  ingest through `ArchiveWriter` (a file appears under its final name only when it is
  complete). Only **committed** files are read: ingest commits a file content once the ingest
  ledger says it is in the graph, with a marker `committed/<sha16>.json` (`{"sha256",
  "windows"}`, written atomically), so which files are committed is answerable from the folder
  alone. Files without a marker (a killed or failed ingest) are never read; an ingest that
  starts alone adopts those the ledger says are done and removes the rest (`Archive.ingesting`).
  An archive written before markers (no `committed/` folder) is read whole until the next ingest
  adopts it once. Detectors read the columns they need with `Archive.connections`.
- **Record archives** (`archive/dns/<window>/<sha16>.parquet`, `archive/http/...`): the `dns`
  and `http` tables of the same files (`graphnet.sources.DNS_COLUMNS` / `HTTP_COLUMNS`), written
  and committed exactly as the connections (`Archive.records(table)`: the same door over its own
  folder, markers and tidying) and bound by `session(..., records=...)`.
- **Stored results** (`$GRAPHNET_HOME/scores/<window>/<name>.parquet`): what an analysis keeps
  for later steps, reports and feedback (novelty scores, conversation summaries, volume
  series ...), each a table with a JSON metadata entry, written atomically.

Nothing else in graphnet opens these files: an engine that answers the same questions without
loading whole windows (the scale work) goes behind these methods.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NoReturn

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from graphnet import windows
from graphnet.config import Settings
from graphnet.engine import Engine, EngineSettings, Session, parquet_select, quote_literal
from graphnet.engine import sql as engine_sql
from graphnet.errors import DiskFull, NotEnoughHistory, is_disk_full
from graphnet.features import act
from graphnet.sources import (
    ARROW_TYPES,
    BASE_COLUMNS,
    RECORD_TABLES,
    SENSOR_COLUMN,
    TABLE_COLUMNS,
)

log = logging.getLogger(__name__)

#: ground-truth label columns kept from labelled logs: for evaluation only, never for detectors
LABEL_COLUMNS = ("label", "detailed_label", "attack_type", "attack_id")
ARCHIVE_FILE = re.compile(r"^[0-9a-f]{16}\.parquet$")
RESULT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
#: `committed/<sha16>.json`: the file content `sha16` is in the graph; its files are read
COMMITTED = "committed"
MARKER = re.compile(r"^([0-9a-f]{16})\.json$")
#: held (flock) by every ingest while it runs: shared, or exclusive while it tidies
LOCK = ".lock"
#: markers of an archive written before markers, staged before they are switched in
STAGED = ".committed.new"
_META_KEY = b"graphnet"
#: the columns a connection binding has (the sensor after the base columns)
CONN_COLUMNS = (*BASE_COLUMNS, SENSOR_COLUMN)
#: records of two sensors that start at most this many seconds apart, with the same protocol,
#: addresses and ports (and, for dns / http records, the same question / request), are one
#: record seen twice: the copy of the sensor whose name sorts later is not read
SENSOR_TOLERANCE = 1.0
#: per record table: what makes two records of one file content the same record (a uid is one
#: connection, which may carry several dns queries or http requests), and what two sensors'
#: copies of one record share besides the addresses and ports
RECORD_KEYS: dict[str, tuple[str, ...]] = {
    "dns": ("uid", "ts", "query", "qtype_name"),
    "http": ("uid", "ts", "method", "host", "uri"),
}
RECORD_SAME: dict[str, tuple[str, ...]] = {
    "dns": ("proto", "query", "qtype_name"),
    "http": ("method", "host", "uri"),
}


@dataclass(frozen=True)
class Ledgered:
    """What the ingest ledger says of a file content whose ingest is done."""

    sha256: str
    windows: tuple[str, ...] | None  # the windows it recorded (None: not recorded)


#: sha16 prefixes -> those whose ingest the ledger says is done (the ledger lives in Neo4j;
#: ingest passes the lookup, the archive knows nothing of the graph)
LedgerLookup = Callable[[Sequence[str]], Mapping[str, Ledgered]]


def _tmp(path: Path) -> Path:
    """Where `path` is written before it is renamed to its final name (this process's own)."""
    return path.with_name(f"{path.name}.{os.getpid()}.tmp")


def _stale_tmp(name: str) -> bool:
    """A temporary file of another process (one that was killed, when no other ingest runs)."""
    return name.endswith(".tmp") and not name.endswith(f".{os.getpid()}.tmp")


def _fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to the disk: what a marker names must be there."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _close_quietly(closeable: Any) -> None:
    """Close after a failure (on a full disk, closing fails again: that is not news)."""
    with contextlib.suppress(Exception):
        closeable.close()


def _write_atomic(path: Path, data: bytes, what: str) -> None:
    """Write `data` to `path` through a temporary file and a rename (never half-written);
    a full disk raises DiskFull naming `what`."""
    tmp = _tmp(path)
    try:
        fh: IO[bytes] = tmp.open("wb")
        try:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        except BaseException:
            _close_quietly(fh)
            raise
        fh.close()
        tmp.replace(path)
        _fsync(path.parent)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if is_disk_full(exc):
            raise DiskFull.writing(what, path.parent, exc) from exc
        raise


class ResultWriter:
    """Batches of a result being written (`Archive.result_writer`)."""

    def __init__(self, writer: pq.ParquetWriter, schema: pa.Schema, row_group: int) -> None:
        self._writer = writer
        self._schema = schema
        self._row_group = row_group

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            table = pa.Table.from_batches([batch]).cast(self._schema)
            self._writer.write_table(table, row_group_size=self._row_group)


class ArchiveWriter:
    """Connections of one ingested file: one Parquet file per window.

    `finish` puts the complete files under their final names (replacing an earlier run's files
    of the same content); they are read only once `Archive.commit` records the file. A failure
    (a full disk: `DiskFull`) removes what was written."""

    def __init__(self, root: Path, sha: str, source: str = "") -> None:
        self.root = root
        self.sha = sha[:16]
        self.source = source or f"file content {self.sha}"
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.paths: dict[str, Path] = {}

    def write(self, frame: pd.DataFrame, win: np.ndarray) -> None:
        try:
            for w in pd.unique(win):
                part = frame[win == w]
                table = _typed(
                    pa.Table.from_pandas(part.reset_index(drop=True), preserve_index=False)
                )
                writer = self.writers.get(w)
                if writer is None:
                    path = self.root / str(w) / f"{self.sha}.parquet"
                    self.paths[w] = path  # before the file exists: abort removes it
                    path.parent.mkdir(parents=True, exist_ok=True)
                    writer = pq.ParquetWriter(_tmp(path), table.schema, compression="zstd")
                    self.writers[w] = writer
                elif not table.schema.equals(writer.schema):
                    table = table.cast(writer.schema)
                writer.write_table(table)
        except BaseException as exc:
            self._failed(exc)

    def finish(self) -> list[str]:
        """Close the files, flush them to the disk and give them their final names; returns
        the windows written. Not read before `Archive.commit`."""
        try:
            for w, writer in self.writers.items():
                writer.close()
                _fsync(_tmp(self.paths[w]))
            for path in self.paths.values():
                _tmp(path).replace(path)
            for folder in {p.parent for p in self.paths.values()}:
                _fsync(folder)
        except BaseException as exc:
            self._failed(exc)
        self.writers = {}
        return sorted(self.paths)

    def abort(self) -> None:
        """Remove the files not finished yet (idempotent, never raises an OSError)."""
        for w, path in self.paths.items():
            if w in self.writers:
                _close_quietly(self.writers[w])
            with contextlib.suppress(OSError):
                _tmp(path).unlink(missing_ok=True)
        self.writers = {}

    def _failed(self, exc: BaseException) -> NoReturn:
        self.abort()
        if is_disk_full(exc):
            raise DiskFull.writing(
                f"the connection archive of {self.source}", self.root, exc
            ) from exc
        raise exc


def _typed(table: pa.Table) -> pa.Table:
    """Columns pandas could not type (all null: a sensor nobody named) get their known type,
    so that every chunk of a file has one schema."""
    for i, f in enumerate(table.schema):
        if pa.types.is_null(f.type) and f.name in ARROW_TYPES:
            table = table.set_column(i, f.name, table.column(i).cast(ARROW_TYPES[f.name]))
    return table


@dataclass(frozen=True)
class Stored:
    """A stored result: its table and the metadata written with it."""

    frame: pd.DataFrame
    meta: dict[str, Any]


def _meta(path: Path) -> dict[str, Any]:
    raw = pq.read_schema(path).metadata or {}
    # results written before the archive door kept their metadata under their own key
    text = raw.get(_META_KEY) or raw.get(b"graphnet_novelty") or b"{}"
    return dict(json.loads(text))


def _is_window(name: str) -> bool:
    try:
        windows.kind_of(name)
    except ValueError:
        return False
    return True


_SQL_TYPES = {
    pa.float64(): "DOUBLE",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.string(): "VARCHAR",
    pa.bool_(): "BOOLEAN",
}


def _null(column: str) -> str:
    """A column no file of a window has: NULL of its type."""
    return f"CAST(NULL AS {_SQL_TYPES[ARROW_TYPES[column]]}) AS {column}"


def _sensors(path: Path) -> set[str]:
    """The sensors a Parquet file names, from its column statistics (min and max per row
    group: enough to tell one sensor from several)."""
    meta = pq.read_metadata(path)
    try:
        j = meta.schema.names.index(SENSOR_COLUMN)
    except ValueError:
        return set()
    out: set[str] = set()
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(j).statistics
        if stats is not None and stats.has_min_max:
            out |= {str(stats.min), str(stats.max)}
    return out


def _acts(histories: Sequence[str]) -> pa.Table:
    """What the originator and the responder did, per distinct history (features' rule)."""
    return pa.table(
        {
            "history": pa.array(histories, type=pa.string()),
            "orig_act": pa.array([act(h, True) for h in histories], type=pa.string()),
            "resp_act": pa.array([act(h, False) for h in histories], type=pa.string()),
        }
    )


class WindowPart(str):
    """A part of a window's connections, those with `lo <= ts < hi`, named by the window's id.

    It *is* the window id (a `str` equal to it) wherever a window id is used (bounds, kinds,
    the `win` column, messages); the archive reads only the part's connections for it. A time
    split view (`Archive.split_view`) gives one as the pseudo-history of a window without
    earlier windows."""

    lo: float
    hi: float

    def __new__(cls, window: str, lo: float, hi: float) -> WindowPart:
        part = super().__new__(cls, window)
        part.lo = float(lo)
        part.hi = float(hi)
        return part

    def __reduce__(self) -> tuple[Any, ...]:
        return (WindowPart, (str(self), self.lo, self.hi))


#: a time split: this share of the window's time (from its first connection to its last) is
#: the baseline, the rest is scored
SPLIT_SHARE = 0.4
#: a window is split only when it holds at least this many connections over this many seconds
SPLIT_MIN_CONNECTIONS = 20
SPLIT_MIN_SECONDS = 60.0


def _clock(ts: float) -> str:
    return pd.Timestamp(ts, unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class TimeSplit:
    """A window learned from itself: its connections before `at` are the baseline (the
    pseudo-history detectors learn from), those at or after `at` are scored."""

    window: str
    at: float
    first: float
    last: float
    share: float = SPLIT_SHARE
    connections: int = 0

    @property
    def baseline(self) -> WindowPart:
        return WindowPart(self.window, float("-inf"), self.at)

    @property
    def label(self) -> str:
        """What a finding judged against the split says of its baseline."""
        return (
            f"first {self.share * 100:.0f} % of this window (time split: {_clock(self.first)} "
            f"to {_clock(self.at)} learned from, the rest scored)"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "at": self.at,
            "first": self.first,
            "last": self.last,
            "share": self.share,
            "connections": self.connections,
            "label": self.label,
        }


def empty_frame(columns: Sequence[str]) -> pd.DataFrame:
    """An empty connection frame with the archive's dtypes for `columns`."""
    return pd.DataFrame({c: pd.Series(dtype="float64" if c == "ts" else object) for c in columns})


class Archive:
    """Reads and writes the columnar store of one graphnet home (`table`: the connections, or
    a record table's own archive, see `records`)."""

    def __init__(self, settings: Settings, table: str = "conn") -> None:
        if table != "conn" and table not in RECORD_TABLES:
            raise ValueError(f"not an archived table: {table!r}")
        self.settings = settings
        self.table_name = table
        self.columns: tuple[str, ...] = CONN_COLUMNS if table == "conn" else TABLE_COLUMNS[table]
        self.root = settings.archive_dir if table == "conn" else settings.archive_dir / table
        self.committed_dir = self.root / COMMITTED
        self.results_root = settings.home / "scores"
        self._markers: dict[tuple[str, int], tuple[str, ...]] = {}
        #: set on a time split view (`split_view`): the window read as two parts
        self.split: TimeSplit | None = None

    # ------------------------------------------------------------------- time split views
    def time_split(self, window: str, share: float = SPLIT_SHARE) -> TimeSplit:
        """Where a window without history is cut to learn from itself: at `share` of the time
        from its first connection to its last. Raises NotEnoughHistory (with why) when the
        window is too small to split."""
        got = self.query("volume_span", {"conns": [window]}).to_pylist()[0]
        n, first, last = int(got["n"] or 0), got["first_ts"], got["last_ts"]
        if n < SPLIT_MIN_CONNECTIONS or first is None or last is None:
            raise NotEnoughHistory(
                f"{window} holds {n} connections, too few to learn from a part of it "
                f"(a time split needs {SPLIT_MIN_CONNECTIONS})"
            )
        if float(last) - float(first) < SPLIT_MIN_SECONDS:
            raise NotEnoughHistory(
                f"the connections of {window} span {float(last) - float(first):.0f} s, too "
                f"short to learn from a part of it (a time split needs {SPLIT_MIN_SECONDS:.0f} s)"
            )
        at = float(first) + share * (float(last) - float(first))
        return TimeSplit(window, at, float(first), float(last), share, n)

    def records(self, table: str) -> Archive:
        """The archive of a record table (`dns`, `http`): `archive/<table>/<window>/<sha16>
        .parquet`, with its own commit markers, written, committed and tidied like the
        connections (ingest does it for every file holding such records)."""
        view = Archive(self.settings, table)
        view.split = self.split
        return view

    def split_view(self, split: TimeSplit) -> Archive:
        """The same archive read as if `split.window` had a history: `history(window, ...)`
        gives its baseline part (`split.baseline`, when no earlier window is in reach), and the
        window's own id reads only its connections at or after `split.at` (the part scored).
        Every other window reads as always; nothing is written differently."""
        view = Archive(self.settings)
        view.split = split
        return view

    def _range(self, window: str) -> tuple[float, float] | None:
        """The time range of a window's connections this archive reads (None: all)."""
        if isinstance(window, WindowPart):
            return window.lo, window.hi
        if self.split is not None and window == self.split.window:
            return self.split.at, float("inf")
        return None

    # ---------------------------------------------------------------- the connection archive
    def writer(self, sha: str, source: str = "") -> ArchiveWriter:
        """A writer for the connections of the file with content hash `sha` (`source` names the
        file in messages). Its files are read once `commit` records them."""
        self._require_markers()
        return ArchiveWriter(self.root, sha, source)

    def commit(self, sha: str, wins: Sequence[str]) -> None:
        """Record that the file with content hash `sha` is in the graph: from now on its
        archive files of `wins` are read. Ingest calls it once the ledger says the file is
        done; the marker is written atomically (a temporary file, flushed, then renamed)."""
        self._require_markers()
        sha16 = sha[:16]
        present = sorted({w for w in wins if (self.root / w / f"{sha16}.parquet").is_file()})
        if present:
            self._write_marker(sha, present)

    def committed(self) -> dict[str, tuple[str, ...]]:
        """sha16 -> the windows committed for it, from the markers (empty for an archive
        written before markers)."""
        try:
            entries = list(os.scandir(self.committed_dir))
        except FileNotFoundError:
            return {}
        out: dict[str, tuple[str, ...]] = {}
        seen: dict[tuple[str, int], tuple[str, ...]] = {}
        for e in entries:
            m = MARKER.match(e.name)
            if not m:
                continue
            key = (e.name, e.inode())  # a marker is replaced, never rewritten in place
            wins = self._markers.get(key)
            if wins is None:
                try:
                    meta = json.loads(Path(e.path).read_text("utf-8"))
                except (OSError, ValueError):
                    log.warning("unreadable commit marker %s: its files are not read", e.path)
                    continue
                wins = tuple(sorted(str(w) for w in meta.get("windows", [])))
            seen[key] = out[m.group(1)] = wins
        self._markers = seen
        return out

    def files(self, window: str) -> list[Path]:
        """The committed archive files of a window (one per ingested file content), in name
        order. (An archive written before commit markers: all of its files.)"""
        d = self.root / window
        if not self.committed_dir.is_dir():
            if not d.is_dir():
                return []
            return sorted(p for p in d.iterdir() if ARCHIVE_FILE.match(p.name))
        paths = (d / f"{sha}.parquet" for sha in self._by_window().get(window, ()))
        return sorted(p for p in paths if p.is_file())

    def windows(self) -> list[str]:
        """Windows with committed connections in the archive, oldest first."""
        if not self.root.is_dir():
            return []
        if not self.committed_dir.is_dir():
            names = [d.name for d in self.root.iterdir() if d.is_dir()]
            return sorted(w for w in names if _is_window(w) and self.files(w))
        return sorted(
            w
            for w, shas in self._by_window().items()
            if _is_window(w) and any((self.root / w / f"{s}.parquet").is_file() for s in shas)
        )

    def _by_window(self) -> dict[str, list[str]]:
        """window -> the sha16 committed in it."""
        out: dict[str, list[str]] = {}
        for sha, ws in self.committed().items():
            for w in ws:
                out.setdefault(w, []).append(sha)
        return out

    # ------------------------------------------------- commits: what ingest keeps and removes
    @contextlib.contextmanager
    def ingesting(self, done: LedgerLookup) -> Iterator[bool]:
        """Hold the archive for one ingest; yields whether this run started alone.

        Every ingest holds a shared lock (flock on `archive/.lock`, released by the kernel when
        the process dies, however it dies) until it ends. A run that gets the lock exclusively
        at its start (no other ingest runs) tidies before it downgrades to a shared one: files
        without a marker are adopted when the ledger says their content is done (the run that
        wrote them was killed after the ledger, before its marker) and removed otherwise (a
        killed or failed ingest; the next ingest of that content writes them again), and
        temporary files are removed. An archive written before markers is adopted then, once.
        A run that starts while another ingest runs only adopts: the other run's files are
        unmarked until it commits them."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            if is_disk_full(exc):
                raise DiskFull.writing("the archive's lock file", self.root, exc) from exc
            raise
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                alone = True
            except BlockingIOError:
                # an archive without markers is adopted by a run that holds it alone
                alone = not self.committed_dir.is_dir()
                fcntl.flock(fd, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
            self.tidy(done, remove=alone)
            if self.table_name == "conn":
                for name in RECORD_TABLES:
                    self.records(name).tidy(done, remove=alone)
            if alone:
                fcntl.flock(fd, fcntl.LOCK_SH)  # other ingests may start now
            yield alone
        finally:
            os.close(fd)

    def tidy(self, done: LedgerLookup, remove: bool = True) -> tuple[list[str], list[Path]]:
        """Bring the archive in line with the ingest ledger (see `ingesting`, which calls it
        holding the lock; `remove` only when no other ingest runs). Returns the sha16 adopted
        and the files removed."""
        if not self.root.is_dir():
            return [], []
        legacy = not self.committed_dir.is_dir()
        marked = {} if legacy else self.committed()
        loose: dict[str, list[Path]] = {}  # final-named files without a marker, by sha16
        junk: list[Path] = []  # temporary files of killed processes
        for d in self.root.iterdir():
            if not d.is_dir() or not _is_window(d.name):
                continue
            for p in d.iterdir():
                if ARCHIVE_FILE.match(p.name):
                    if d.name not in marked.get(p.name[:16], ()):
                        loose.setdefault(p.name[:16], []).append(p)
                elif _stale_tmp(p.name):
                    junk.append(p)
        # a content already committed is never extended: its other files are strays
        ledger = done(sorted(s for s in loose if s not in marked)) if loose else {}
        adopt: dict[str, tuple[str, list[str]]] = {}
        for sha16, paths in loose.items():
            entry = ledger.get(sha16) if sha16 not in marked else None
            if entry is None:
                continue
            wins = {p.parent.name for p in paths}
            if entry.windows is not None:
                wins &= set(entry.windows)
            if wins:
                adopt[sha16] = (entry.sha256, sorted(wins))
        if legacy:
            self._adopt_legacy(adopt)
        else:
            for sha, adopted in adopt.values():
                self._write_marker(sha, adopted)
        removed: list[Path] = []
        if remove:
            junk += [p for p in self.committed_dir.glob("*.tmp") if _stale_tmp(p.name)]
            for sha16, paths in loose.items():
                keep = set(adopt[sha16][1]) if sha16 in adopt else set()
                junk += [p for p in paths if p.parent.name not in keep]
            for p in junk:
                with contextlib.suppress(OSError):
                    p.unlink()
                    removed.append(p)
                if p.parent != self.committed_dir:
                    with contextlib.suppress(OSError):
                        p.parent.rmdir()  # an emptied window folder (fails unless empty)
        if adopt or removed:
            log.info(
                "archive: adopted %d file contents the ledger says are done, removed %d files "
                "of killed or failed ingests",
                len(adopt),
                len(removed),
            )
        return sorted(adopt), removed

    def _adopt_legacy(self, adopt: Mapping[str, tuple[str, list[str]]]) -> None:
        """Switch an archive written before markers to markers, atomically: the markers are
        staged in a folder that is renamed to `committed/` when complete (killed before, the
        archive is still read whole and the next ingest starts again)."""
        staged = self.root / STAGED
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir()
        for sha, wins in adopt.values():
            meta = json.dumps({"sha256": sha, "windows": wins}).encode()
            _write_atomic(staged / f"{sha[:16]}.json", meta, f"the commit marker of {sha[:16]}")
        _fsync(staged)
        staged.rename(self.committed_dir)
        _fsync(self.root)
        log.info("archive: adopted an archive written before commit markers")

    def _write_marker(self, sha: str, wins: Sequence[str]) -> None:
        meta = json.dumps({"sha256": sha, "windows": sorted(wins)}).encode()
        _write_atomic(
            self.committed_dir / f"{sha[:16]}.json", meta, f"the commit marker of {sha[:16]}"
        )

    def _require_markers(self) -> None:
        """Writing needs an archive with markers (a fresh one gets its `committed/` folder)."""
        if self.committed_dir.is_dir():
            return
        if self.root.is_dir() and any(
            ARCHIVE_FILE.match(p.name)
            for d in self.root.iterdir()
            if d.is_dir() and _is_window(d.name)
            for p in d.iterdir()
        ):
            raise RuntimeError(
                f"{self.root} was written before commit markers: ingest adopts it first "
                "(Archive.ingesting)"
            )
        try:
            self.committed_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if is_disk_full(exc):
                raise DiskFull.writing("the archive's folders", self.root, exc) from exc
            raise

    def latest(self) -> str | None:
        ws = self.windows()
        return ws[-1] if ws else None

    def require(self, window: str | None) -> str:
        """The window an analysis scores: `window`, else the latest archived one. Raises
        ValueError for a malformed id, an empty archive, or a window the archive does not hold
        (scoring it would report nothing, as if the window were quiet)."""
        if window is not None:
            windows.bounds(window)  # "not a window id ..."
        ws = self.windows()
        if not ws:
            raise ValueError("the connection archive is empty: ingest logs first")
        if window is None:
            return ws[-1]
        if window not in ws:
            raise ValueError(
                f"no connections archived for {window} (the archive holds {ws[0]} to {ws[-1]})"
            )
        return window

    def history(self, window: str, days: float) -> list[str]:
        """Archive windows that end at or before `window` starts and start within `days`
        before it, oldest first."""
        start, _ = windows.bounds(window)
        lo = start.timestamp() - days * 86400.0
        out = []
        for w in self.windows():
            if w >= window:
                continue
            try:
                ws, we = windows.bounds(w)
            except ValueError:
                continue
            if we.timestamp() <= start.timestamp() and ws.timestamp() >= lo - 1e-6:
                out.append(w)
        if not out and self.split is not None and window == self.split.window:
            return [self.split.baseline]
        return out

    def table(
        self,
        wins: Sequence[str],
        columns: Sequence[str] | None = None,
        labels: bool = False,
    ) -> pa.Table | None:
        """The archived connections of `wins` as one Arrow table: `columns` (default all) that
        exist, and the ground-truth label columns only with `labels` (evaluation; detectors
        never read them). None when the windows hold nothing."""
        tables = []
        for w in wins:
            for f in self.files(w):
                names = pq.read_schema(f).names
                want = list(columns or names) + (list(LABEL_COLUMNS) if labels else [])
                cols = [
                    c
                    for c in dict.fromkeys(want)
                    if c in names and (labels or c not in LABEL_COLUMNS)
                ]
                rng = self._range(w)
                if rng is None:
                    tables.append(pq.read_table(f, columns=cols))
                    continue
                t = pq.read_table(f, columns=list(dict.fromkeys([*cols, "ts"])))
                ts = t.column("ts")
                keep = pc.and_(pc.greater_equal(ts, rng[0]), pc.less(ts, rng[1]))
                tables.append(t.filter(keep).select(cols))
        if not tables:
            return None
        return pa.concat_tables(tables, promote_options="permissive")

    def connections(
        self,
        wins: Sequence[str],
        columns: Sequence[str] | None = None,
        labels: bool = False,
        *,
        complete: bool = False,
    ) -> pd.DataFrame:
        """The archived connections of `wins` as a frame (see `table`).

        With `complete`, every one of `columns` is present (missing numeric columns as NaN,
        others as "-"), an empty result still has them, and a connection archived twice (the
        same uid in two files) appears once."""
        table = self.table(wins, columns, labels)
        if not complete:
            return pd.DataFrame() if table is None else table.to_pandas()
        cols = list(columns or ())
        want = cols + (list(LABEL_COLUMNS) if labels else [])
        if table is None or table.num_rows == 0:
            return empty_frame(want)
        frame = table.to_pandas()
        for c in cols:
            if c not in frame.columns:
                frame[c] = np.nan if c.endswith(("bytes", "pkts")) else "-"
        if "uid" in frame.columns:
            frame = frame.drop_duplicates("uid", keep="first", ignore_index=True)
        return frame

    # ---------------------------------------------------------------- the analytical engine
    def engine(self) -> Engine:
        return Engine(
            EngineSettings(
                self.settings.engine_memory, self.settings.engine_threads, self.settings.spill_dir
            )
        )

    @contextlib.contextmanager
    def session(
        self,
        tables: Mapping[str, Sequence[str]],
        *,
        parts: Sequence[str] = (),
        lookups: Mapping[str, pa.Table] | None = None,
        labels: bool = False,
        staged: Mapping[str, Sequence[str]] | None = None,
        records: Mapping[str, tuple[str, Sequence[str]]] | None = None,
        staged_records: Mapping[str, tuple[str, Sequence[str], Sequence[str]]] | None = None,
        staged_windows: Mapping[str, tuple[Sequence[str], Sequence[str], bool]] | None = None,
        results: Mapping[str, tuple[str, str]] | None = None,
    ) -> Iterator[Session]:
        """An engine session over the archive: each name of `tables` is bound to the committed
        connections of its windows (`win` holds the window id: `window` is a reserved word in
        SQL), each name of `parts` also as `<name>_parts` (the categorical components of each
        connection, `graphnet/sql/parts.sql`), and each lookup table is registered. Run the
        statements of `graphnet/sql/` on it by name; results are Arrow tables or batches.

        A connection archived twice (the same uid in two files) is read once, as by
        `connections(..., complete=True)`; the label columns only with `labels`. `staged`
        binds names to the files of file contents (sha256) that ingest has written and not
        committed yet, in every window (ingest's own reading of what it is loading), every row
        of them (no uid is dropped: the graph counts what the files hold). `results` binds
        names to stored results, `{name: (window, result)}` (written by `write_result` or
        `write_result_batches`), read in place.

        `records` binds names to a record table's committed rows of windows: `{"dns": ("dns",
        [window]), "dns_past": ("dns", history)}` (columns `win` plus `sources.DNS_COLUMNS` /
        `HTTP_COLUMNS`; a record read once, see `RECORD_KEYS` and `SENSOR_TOLERANCE`).
        `staged_records` binds `{name: (table, windows, shas)}` to the committed rows of the
        windows together with the written, not yet committed files of the file contents
        `shas` in them (ingest's summaries of what it is loading, read once like the rest).

        Connections (and records) seen by several sensors count once: within a window whose
        files name more than one sensor, a record is not read when a record of a sensor whose
        name sorts before its own has the same protocol, addresses and ports (records: also
        `RECORD_SAME`) and starts at most `SENSOR_TOLERANCE` seconds from it."""
        with self.engine().session() as s:
            for name, wins in tables.items():
                s.bind(name, self._select(self._window_files(wins), labels))
            for name, (table, wins) in (records or {}).items():
                view = self.records(table)
                s.bind(name, view._select(view._window_files(wins), False))
            for name, (table, wins, shas) in (staged_records or {}).items():
                view = self.records(table)
                s.bind(name, view._select(view._window_files(wins, shas), False))
            for name, (wins, shas, once) in (staged_windows or {}).items():
                s.bind(name, self._select(self._window_files(wins, shas), labels, dedup=once))
            for name, shas in (staged or {}).items():
                # every row, as the Bolt path counts them (a uid in two files: twice)
                s.bind(name, self._select(self._staged_files(shas), labels, dedup=False))
            for name in parts:
                hist = s.rows(engine_sql("distinct_histories").format(table=name))
                s.lookup(f"{name}_acts", _acts([h for (h,) in hist]))
                s.bind(f"{name}_parts", engine_sql("parts").format(table=name))
            for name, data in (lookups or {}).items():
                s.lookup(name, data)
            for name, (window, result) in (results or {}).items():
                path = self.result_path(window, result)
                if not path.exists():
                    raise FileNotFoundError(f"no stored {result} result of {window}: {path}")
                cols = pq.read_schema(path).names
                s.bind(name, parquet_select([path], cols))
            yield s

    def query(
        self,
        statement: str,
        tables: Mapping[str, Sequence[str]],
        params: Mapping[str, Any] | None = None,
        *,
        parts: Sequence[str] = (),
        lookups: Mapping[str, pa.Table] | None = None,
        records: Mapping[str, tuple[str, Sequence[str]]] | None = None,
    ) -> pa.Table:
        """The whole result of one statement (an aggregate: small) over a fresh session."""
        with self.session(tables, parts=parts, lookups=lookups, records=records) as s:
            return s.table(statement, params)

    def record_frame(
        self, table: str, wins: Sequence[str], columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """A record table's committed rows of `wins` as a frame (`win` and `columns`, default
        all), each record once, in (win, ts, line) order: for small windows and tests; the
        detectors aggregate through `session(records=...)`."""
        view = self.records(table)
        cols = list(columns or view.columns)
        unknown = [c for c in cols if c not in view.columns]
        if unknown:
            raise ValueError(f"not a column of {table}: {', '.join(unknown)}")
        select = view._select(view._window_files(wins), False)
        with self.engine().session() as s:
            s.bind("records", select)
            text = f"SELECT win, {', '.join(cols)} FROM records ORDER BY win, ts, line"
            return s.run_text([text], None).to_arrow_table().to_pandas()

    def several_sensors(self, wins: Sequence[str], shas: Sequence[str] = ()) -> list[str]:
        """The windows of `wins` whose files (committed, and those of the contents `shas`)
        name more than one sensor, from the files' statistics."""
        out = []
        for w, files, _ in self._window_files(wins, shas):
            names: set[str] = set()
            for f in files:
                names |= _sensors(f)
            if len(names) > 1:
                out.append(w)
        return out

    def _window_files(
        self, wins: Sequence[str], shas: Sequence[str] = ()
    ) -> list[tuple[str, list[Path], tuple[float, float] | None]]:
        """(window, its committed files, the time range read of them) of each of `wins`; with
        `shas`, also the files of those contents in the window, committed or not."""
        out = []
        for w in dict.fromkeys(wins):
            if not _is_window(w):
                raise ValueError(f"not a window id: {w!r}")
            files = self.files(w)
            if shas:
                more = (self.root / w / f"{sha[:16]}.parquet" for sha in shas)
                files = sorted({*files, *(p for p in more if p.is_file())})
            out.append((str(w), files, self._range(w)))
        return out

    def _staged_files(
        self, shas: Sequence[str]
    ) -> list[tuple[str, list[Path], tuple[float, float] | None]]:
        """(window, files) of the given file contents, committed or not, in every window."""
        names = {f"{sha[:16]}.parquet" for sha in shas}
        if not self.root.is_dir():
            return []
        out: list[tuple[str, list[Path], tuple[float, float] | None]] = []
        for d in sorted(self.root.iterdir()):
            if d.is_dir() and _is_window(d.name):
                files = sorted(d / n for n in names if (d / n).is_file())
                if files:
                    out.append((d.name, files, None))
        return out

    def _select(
        self,
        by_window: Sequence[tuple[str, list[Path], tuple[float, float] | None]],
        labels: bool,
        dedup: bool = True,
    ) -> str:
        """The SELECT that binds a table to the files of each window. With `dedup`, a uid
        archived twice in a window (overlapping logs) counts once: a connection's window
        follows from its time, so duplicates are looked for within each window of several
        files only."""
        conn = self.table_name == "conn"
        cols = list(self.columns) + (list(LABEL_COLUMNS) if labels and conn else [])
        out = ", ".join(["win", *cols])
        parts: list[str] = []
        for i, (w, files, rng) in enumerate(by_window):
            if not files:
                continue
            have: set[str] = set()
            sensors: set[str] = set()
            for f in files:
                have.update(pq.read_schema(f).names)
                if dedup:
                    sensors |= _sensors(f)
            exprs = [c if c in have else _null(c) for c in cols]
            inner = parquet_select(files, [c for c in cols if c in have] or ["ts"])
            # `w` is checked to be a window id: the literal holds no quote
            one = f"SELECT {quote_literal(w)} AS win, {', '.join(exprs)} FROM ({inner}) t{i}"
            if rng is not None:  # a part of the window (a time split): numbers, not text
                lo, hi = float(rng[0]), float(rng[1])
                cond = [f"ts >= {lo!r}"] if np.isfinite(lo) else []
                cond += [f"ts < {hi!r}"] if np.isfinite(hi) else []
                if cond:
                    one += " WHERE " + " AND ".join(cond)
            if dedup and len(files) > 1:
                key = "uid" if conn else ", ".join(RECORD_KEYS[self.table_name])
                one = (
                    f"SELECT {out} FROM (SELECT u.*, ROW_NUMBER() OVER (PARTITION BY {key} "
                    f"ORDER BY line) AS copy FROM ({one}) u) d{i} WHERE copy = 1"
                )
            if dedup and len(sensors) > 1:  # also one file of several sensors' records
                one = self._one_per_sensor(one, out, i)
            parts.append(one)
        if not parts:
            nulls = ", ".join(_null(c) for c in cols)
            return f"SELECT CAST(NULL AS VARCHAR) AS win, {nulls} WHERE 1 = 0"
        return f"SELECT {out} FROM ({' UNION ALL '.join(parts)}) u"

    def _one_per_sensor(self, one: str, out: str, i: int) -> str:
        """`one` without the copies of records another sensor logged (see `session`)."""
        same = ["src", "sport", "dst", "dport"]
        same += ["proto"] if self.table_name == "conn" else list(RECORD_SAME[self.table_name])
        match = " AND ".join(f"b.{c} IS NOT DISTINCT FROM a.{c}" for c in same)
        tol = float(SENSOR_TOLERANCE)
        return (
            f"SELECT {', '.join(f'a.{c.strip()}' for c in out.split(','))} FROM ({one}) a "
            f"WHERE NOT EXISTS (SELECT 1 FROM ({one}) b WHERE {match} "
            f"AND b.sensor < a.sensor AND b.ts >= a.ts - {tol!r} AND b.ts <= a.ts + {tol!r})"
        )

    # ---------------------------------------------------------------- stored results
    def results_dir(self, window: str) -> Path:
        """Where the stored results of a window live (outside the connection archive, whose
        window folders hold only ingest's `<sha16>.parquet` files)."""
        return self.results_root / window

    def result_path(self, window: str, name: str) -> Path:
        if not RESULT_NAME.match(name):
            raise ValueError(f"not a result name: {name!r}")
        return self.results_dir(window) / f"{name}.parquet"

    def write_result(
        self, window: str, name: str, frame: pd.DataFrame, meta: dict[str, Any] | None = None
    ) -> Path:
        """Store a result table of a window with its metadata (atomically)."""
        path = self.result_path(window, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
        table = table.replace_schema_metadata({_META_KEY: json.dumps(meta or {}, default=str)})
        tmp = _tmp(path)
        try:
            pq.write_table(table, tmp, compression="zstd")
            tmp.replace(path)
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            if is_disk_full(exc):
                raise DiskFull.writing(f"the {name} result of {window}", path.parent, exc) from exc
            raise
        return path

    def write_result_batches(
        self,
        window: str,
        name: str,
        schema: pa.Schema,
        batches: Iterable[pa.RecordBatch],
        meta: dict[str, Any] | None = None,
    ) -> Path:
        """Store a result table of a window given in batches (atomically): what is held at
        once is one batch, whatever the size of the table (see `result_writer`)."""
        with self.result_writer(window, name, schema, meta) as w:
            for batch in batches:
                w.write(batch)
        return self.result_path(window, name)

    @contextlib.contextmanager
    def result_writer(
        self,
        window: str,
        name: str,
        schema: pa.Schema,
        meta: dict[str, Any] | None = None,
        row_group: int = 131_072,
    ) -> Iterator[ResultWriter]:
        """A result table of a window written batch by batch (`ResultWriter.write`), stored
        when the block ends without error (atomically; nothing is stored otherwise). Row groups
        of `row_group` rows, so that a session reading a range of a sorted column skips the
        others."""
        path = self.result_path(window, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        schema = schema.with_metadata({_META_KEY: json.dumps(meta or {}, default=str)})
        tmp = _tmp(path)
        try:
            with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
                yield ResultWriter(writer, schema, row_group)
            tmp.replace(path)
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            if is_disk_full(exc):
                raise DiskFull.writing(f"the {name} result of {window}", path.parent, exc) from exc
            raise

    def read_result(
        self, window: str, name: str, columns: Sequence[str] | None = None
    ) -> Stored | None:
        """A stored result of a window, or None when it was never written."""
        path = self.result_path(window, name)
        if not path.exists():
            return None
        table = pq.read_table(path, columns=list(columns) if columns is not None else None)
        return Stored(table.to_pandas(), _meta(path))

    def result_meta(self, window: str, name: str) -> dict[str, Any] | None:
        path = self.result_path(window, name)
        return _meta(path) if path.exists() else None

    def stamp(self, window: str) -> str:
        """A fingerprint of what the archive holds for a window (file names and sizes): a
        cached result computed from the window is valid while the stamp is the same."""
        files = [[p.name, p.stat().st_size] for p in self.files(window)]
        rng = self._range(window)
        return json.dumps(files if rng is None else [*files, ["part", *rng]])

    def reset(self) -> None:
        """Delete the connection archive and every stored result."""
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.results_root, ignore_errors=True)
