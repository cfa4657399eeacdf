"""The analytical engine: DuckDB over the Parquet archive, out of core.

Only `graphnet.archive` (the door to the columnar store) uses this module. It runs the
statements of `graphnet/sql/<name>.sql` by name, over tables that the archive binds to Parquet
files, with a memory limit and a spill folder under `$GRAPHNET_HOME`, so that a window of any
size is aggregated in bounded memory and its results are streamed in batches.

The statements are standard SQL over named tables (`conns`, `past`, lookup tables passed
in): no engine-only functions where a standard one exists, so that an engine for several
machines (Spark SQL) can run the same text. What is engine-specific — reading Parquet, the
memory limit, the spill folder, the connection — lives here and in the archive's bindings.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from graphnet.errors import ConfigError, DiskFull, EngineOutOfMemory, is_disk_full

log = logging.getLogger(__name__)

T = TypeVar("T")
#: how a statement's result is fetched
Fetch = Callable[[duckdb.DuckDBPyRelation], T]

#: rows per streamed batch of a result
BATCH_ROWS = 100_000
#: `Session.lean`: the share of the session's memory limit the engine keeps while Python
#: builds large arrays from its results, and never less than this
LEAN_SHARE = 0.25
LEAN_MIN_BYTES = 64 * 2**20
_SIZE = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class EngineSettings:
    """How much of the machine the engine may take. `memory_limit` is DuckDB's (e.g. "1GB",
    "256MiB"): beyond it, joins, aggregations and sorts spill to `spill_dir`."""

    memory_limit: str
    threads: int
    spill_dir: Path

    def __post_init__(self) -> None:
        if not _SIZE.match(self.memory_limit):
            raise ConfigError(
                f"GRAPHNET_ENGINE_MEMORY must be a size such as 1GB or 512MiB, "
                f"not {self.memory_limit!r}"
            )
        if self.threads < 1:
            raise ConfigError(f"GRAPHNET_ENGINE_THREADS must be 1 or more, not {self.threads}")


_UNITS = {
    "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}  # fmt: skip


def size_bytes(size: str) -> int:
    """A size as DuckDB reads it ("1GB" = 10^9 bytes, "256MiB" = 2^28 bytes) in bytes."""
    m = _SIZE.match(size)
    if not m:
        raise ValueError(f"not a size: {size!r}")
    return int(float(size[: m.start(2)].strip()) * _UNITS[m.group(2).lower()])


@cache
def sql(name: str) -> str:
    """The text of `graphnet/sql/<name>.sql` (package data), comment lines removed."""
    if not _NAME.match(name):
        raise KeyError(f"not a statement name: {name!r}")
    try:
        text = resources.files("graphnet.sql").joinpath(f"{name}.sql").read_text("utf-8")
    except FileNotFoundError:
        raise KeyError(f"no SQL statement named {name!r}") from None
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("--")]
    return "\n".join(lines).strip()


def statements(name: str) -> list[str]:
    """The `;`-separated statements of a file: all but the last prepare (temporary tables and
    views), the last gives the result."""
    return [s.strip() for s in sql(name).split(";") if s.strip()]


def quote_literal(text: str) -> str:
    """A SQL string literal (standard quoting: a quote is doubled)."""
    return "'" + text.replace("'", "''") + "'"


class Session:
    """One engine connection: tables are bound, statements run, results streamed. Closed by
    the `Engine.session` context."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, spill: Path, settings: EngineSettings
    ) -> None:
        self.con = con
        self.spill = spill
        self.settings = settings
        self._lean = False  # within a `lean` block that lowered the limit

    def bind(self, table: str, select: str) -> None:
        """Make `table` a temporary view of `select` (the archive's binding of a name to files)."""
        if not _NAME.match(table):
            raise ValueError(f"not a table name: {table!r}")
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS {select}")

    def lookup(self, table: str, data: pa.Table) -> None:
        """Make an Arrow table from Python available to the statements as `table`."""
        if not _NAME.match(table):
            raise ValueError(f"not a table name: {table!r}")
        self.con.register(table, data)

    def run_text(
        self, stmts: Sequence[str], params: Mapping[str, Any] | None
    ) -> duckdb.DuckDBPyRelation:
        """Run statements: all but the last for their effect, the last as the (lazy) result."""
        return self._prepared(stmts, params)()

    def _prepared(
        self, stmts: Sequence[str], params: Mapping[str, Any] | None
    ) -> Callable[[], duckdb.DuckDBPyRelation]:
        """Run all statements but the last (each through `_widening`); the last one's lazy
        result, made anew at each call."""
        for s in stmts[:-1]:
            self._widening(functools.partial(self.con.execute, s, _used(s, params)))
        return functools.partial(self.con.sql, stmts[-1], params=_used(stmts[-1], params))

    def _fetch(self, stmts: Sequence[str], params: Mapping[str, Any] | None, how: Fetch[T]) -> T:
        """Run statements and fetch the last one's result `how`, through `_widening`."""
        last = self._prepared(stmts, params)
        return self._widening(lambda: how(last()))

    def _set_limit(self, size: int) -> None:
        self.con.execute(f"SET memory_limit = '{size}B'")

    def _widening(self, run: Callable[[], T]) -> T:
        """`run()`; when it runs out of memory within a lean block, the session's whole limit
        is given back for the rest of the block and it runs again: being lean is an economy,
        never the cause of a failure. A failed statement changed nothing (DuckDB rolls it
        back), so it can run again."""
        try:
            return run()
        except duckdb.OutOfMemoryException as exc:
            if not self._lean:
                raise
            log.info(
                "engine: a statement needs more than the lean limit; the whole %s again: %s",
                self.settings.memory_limit,
                str(exc).strip().splitlines()[0] if str(exc).strip() else "out of memory",
            )
            self._set_limit(size_bytes(self.settings.memory_limit))
            self._lean = False
            return run()

    @contextlib.contextmanager
    def _guard(self, name: str) -> Iterator[None]:
        """Engine failures as graphnet's errors: out of memory, a full disk while spilling."""
        try:
            yield
        except duckdb.OutOfMemoryException as exc:
            s = self.settings
            raise EngineOutOfMemory.running(name, s.memory_limit, s.threads, str(exc)) from exc
        except duckdb.IOException as exc:
            if "No space left" not in str(exc):
                raise
            full = OSError(errno.ENOSPC, str(exc))
            raise DiskFull.writing(f"the {name} statement's spill files", self.spill, full) from exc

    def table(self, name: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """The whole result of a statement (for results that are small: aggregates)."""
        with self._guard(name):
            return self._fetch(statements(name), params, lambda r: r.to_arrow_table())

    def batches(
        self, name: str, params: Mapping[str, Any] | None = None, rows: int = BATCH_ROWS
    ) -> Iterator[pa.RecordBatch]:
        """The result of a statement in batches of at most `rows` rows (in a lean block, a
        statement that runs out of memory before its first batch runs again with the whole
        limit; after it, the failure is raised)."""
        with self._guard(name):
            yield from self._fetch(statements(name), params, lambda r: r.to_arrow_reader(rows))

    def rows(self, text: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """The rows of a statement given as text (what the archive itself asks: short)."""
        with self._guard("inline"):
            return self._fetch([text], params, lambda r: r.fetchall())

    @contextlib.contextmanager
    def lean(self, share: float = LEAN_SHARE) -> Iterator[None]:
        """Within the block the engine keeps at most `share` of the session's memory limit in
        memory, what it holds beyond that (its temporary tables) spilled to the session's
        folder: for a caller that builds large arrays in Python while it reads results. The
        session's limit again after the block. When the engine cannot free enough (it is
        holding a result that is being read) the limit stays as it was; a statement that
        needs more than the lean share gets the whole limit back (`_widening`)."""
        whole = size_bytes(self.settings.memory_limit)
        lean = max(int(whole * share), LEAN_MIN_BYTES)
        if lean >= whole or self._lean:
            yield
            return
        try:
            self._set_limit(lean)
        except duckdb.Error as exc:
            log.debug("engine: memory limit kept at %s: %s", self.settings.memory_limit, exc)
            yield
            return
        self._lean = True
        try:
            yield
        finally:
            self._lean = False
            self._set_limit(whole)

    def scalar(self, name: str, params: Mapping[str, Any] | None = None) -> Any:
        with self._guard(name):
            rows = self._fetch(statements(name), params, lambda r: r.fetchall())
        return rows[0][0] if rows else None


def _used(statement: str, params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The parameters a statement names (`$name`); DuckDB refuses unused ones."""
    if not params:
        return None
    used = {k: v for k, v in params.items() if re.search(rf"\${k}\b", statement)}
    return used or None


class Engine:
    """Opens sessions with the settings' memory limit, threads and spill folder."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings

    def session(self) -> _SessionContext:
        return _SessionContext(self.settings)


#: a session's spill folder: `session-*`, holding the lock its process keeps while it runs
SESSION_PREFIX = "session-"
SESSION_LOCK = "owner.lock"
#: a folder made but not yet locked (its process died in between), or a session's folder
#: without a lock (made by an earlier version), is removed once unchanged for this long
STARTING_PREFIX = "starting-"
STALE_STARTING_SECONDS = 3600.0


def _hold_lock(path: Path) -> int:
    """An exclusive lock on `path` (made if missing), held until its descriptor is closed; the
    system releases it when the process ends, however it ends."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise
    return fd


def remove_stale_spills(spill_dir: Path) -> int:
    """Remove the spill folders of sessions whose process is gone (killed, crashed: their
    folder was never removed) and return how many. A session's folder stays while its lock is
    held, by this process or another one sharing the folder."""
    removed = 0
    for folder in sorted(spill_dir.glob(f"{SESSION_PREFIX}*")):
        if not (folder / SESSION_LOCK).exists():
            continue  # made by a version without locks: judged by its age, below
        try:
            fd = _hold_lock(folder / SESSION_LOCK)
        except OSError:
            continue  # a live session (or a folder that cannot be read: left as it is)
        try:
            shutil.rmtree(folder, ignore_errors=True)
        finally:
            os.close(fd)
        removed += 1
    unlocked = [
        f
        for f in spill_dir.glob(f"{SESSION_PREFIX}*")
        if f.is_dir() and not (f / SESSION_LOCK).exists()
    ]
    for folder in [*spill_dir.glob(f"{STARTING_PREFIX}*"), *unlocked]:
        with contextlib.suppress(OSError):
            if time.time() - folder.stat().st_mtime > STALE_STARTING_SECONDS:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
    if removed:
        log.info("engine: removed %d spill folder(s) left by ended processes", removed)
    return removed


class _SessionContext:
    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self.con: duckdb.DuckDBPyConnection | None = None
        self.spill: Path | None = None
        self.lock: int | None = None

    def __enter__(self) -> Session:
        s = self.settings
        try:
            s.spill_dir.mkdir(parents=True, exist_ok=True)
            remove_stale_spills(s.spill_dir)
            # a folder per session: removed when it ends, whatever DuckDB left in it; locked
            # before it gets its name, so a folder named `session-*` without its lock held is
            # one whose process has gone
            starting = Path(tempfile.mkdtemp(prefix=STARTING_PREFIX, dir=s.spill_dir))
            try:
                self.lock = _hold_lock(starting / SESSION_LOCK)
                named = starting.with_name(SESSION_PREFIX + starting.name[len(STARTING_PREFIX) :])
                starting.rename(named)
            except BaseException:
                shutil.rmtree(starting, ignore_errors=True)
                self.__exit__()
                raise
            self.spill = named
        except OSError as exc:
            if is_disk_full(exc):
                raise DiskFull.writing("the engine's spill folder", s.spill_dir, exc) from exc
            raise
        try:
            self.con = duckdb.connect(
                ":memory:",
                config={
                    "memory_limit": s.memory_limit,
                    "threads": s.threads,
                    "temp_directory": str(self.spill),
                    "preserve_insertion_order": False,
                    # DuckDB's allocator (jemalloc) hands the pages its statements freed back
                    # to the system in the background: without it they stay in the process
                    # until the connection closes, beside what Python builds from the results
                    # (and a lean session keeps them too)
                    "allocator_background_threads": True,
                    "enable_external_access": True,
                    "autoinstall_known_extensions": False,
                    "autoload_known_extensions": False,
                },
            )
        except BaseException:
            self.__exit__()
            raise
        return Session(self.con, self.spill, self.settings)

    def __exit__(self, *exc: object) -> None:
        if self.con is not None:
            self.con.close()
        if self.spill is not None:
            shutil.rmtree(self.spill, ignore_errors=True)
        if self.lock is not None:
            os.close(self.lock)
            self.lock = None


def parquet_select(files: Sequence[Path], columns: Sequence[str]) -> str:
    """`SELECT columns FROM` the Parquet files (engine-specific: how the archive binds a table
    to files). Columns missing from some files are NULL there."""
    listed = ", ".join(quote_literal(str(f)) for f in files)
    cols = ", ".join(columns)
    return f"SELECT {cols} FROM read_parquet([{listed}], union_by_name = true)"
