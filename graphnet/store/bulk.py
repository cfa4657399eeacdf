"""The files `neo4j-admin database import full` loads an empty graph from, and what follows it.

`write_import_files(folder, hosts, edges, ingests, groups, meta)` writes the graph that the Bolt
statements write for the same rows, as CSV files for graphnet's local Neo4j
(`graphnet.neo4j_local.bulk.import_full`); `finish_import(store, files)` then re-applies the
schema and sets, through Bolt, the few values CSV cannot carry; `load_local` does all three.

Rows in, the shapes the Bolt path writes:

- hosts: `{"id", "props": {...}, "first_ms", "last_ms"}` (`graphnet.ingest.host_rows`;
  `hosts_upsert` for a host seen once) -> `(:Host {id, <props>, first_seen, last_seen})`;
- edges: `{"src", "dst", "window", "key", "props": {...}, "first_ms", "last_ms"}`
  (`graphnet.accumulate.EdgeRows.slice`; `edges_create`) ->
  `(:Host {id: src})-[:TALKED {window, key, <props>, first_seen, last_seen}]->(:Host {id: dst})`;
- ingests, groups, meta: the ledger's `(:Ingest)` (key `sha256`), `(:IngestGroup)` (key `id`)
  and `(:GraphMeta)` (key `key`) nodes, each row a map of their properties as
  `ingest_group_begin`, the batch claims and `ingest_group_finish` leave them (a `props` map
  in a row is merged into it, as `SET i += f.props` does). The `(:GraphMeta {key:
  'migrations'})` record of `graphnet.store.MIGRATIONS` is added unless `meta` holds one: the
  rows are in the current layout, so no migration needs to run over the imported graph.

Types follow the Python values, as the driver sends them: bool -> boolean, int -> long, float
-> double, str -> string, a list of one of these -> an array of it; a value that is None is no
property (as `SET n += {p: null}`). Properties named in DATETIME_PROPS (and the hosts' and edges'
`first_ms` / `last_ms`) hold epoch milliseconds (or an aware `datetime`) and become a
DateTime in UTC (`datetime({epochMillis: ...})`). Nothing here names the edge properties: a
new one is a new column.

CSV (what the tool reads by default, and `graphnet.neo4j_local.bulk.import_args` spells out):
comma-separated, every string quoted with `"` (quotes doubled), numbers unquoted, no value an
empty unquoted field (the tool reads `""` as the empty string). Line breaks inside values are
kept as they are, and the import is told to read multi-line fields only when a value holds one
(that reading is slower). Array elements are joined with one character, `array_delimiter`,
chosen among the ones that occur in none of the `array_values` the caller knows of (e.g. the
histogram values of the group), and checked on every value: a list that holds it, an empty
list and a list of one empty string cannot be told apart from something else in CSV (the tool
does not import empty arrays), so they are written to `fixups.jsonl` and set through Bolt after
the import (`finish_import`), with the same Cypher value the Bolt path stores. Files are
written in batches, gzip-compressed (the tool reads .gz), with the header on their first line;
a change of the set of properties or of a property's type starts a new file with its own header.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import numbers
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from itertools import chain
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from isal import igzip_threaded

from graphnet.accumulate import gc_paused
from graphnet.config import Neo4jSettings
from graphnet.errors import DiskFull, is_disk_full
from graphnet.neo4j_local.bulk import (
    DEFAULT_READ_BUFFER,
    ImportFiles,
    ImportReport,
    ImportSource,
    import_full,
)
from graphnet.store import MIGRATIONS, Store

log = logging.getLogger(__name__)

HOST = "Host"
TALKED = "TALKED"
#: property names whose epoch milliseconds (or aware datetime) become a DateTime
DATETIME_PROPS = frozenset(
    {"first_seen", "last_seen", "started", "finished", "created", "claimed_at", "updated"}
)
#: array delimiters tried in order: control characters that text logs do not hold
DELIMITER_CANDIDATES = ("\x1f", "\x1e", "\x1d", "\x1c", "\x1a", "\x07", "\ue000", "\uf8ff")
#: rows per batch, turned into columns and written at once
BATCH_ROWS = 50_000
#: files of one label or type at most (one per distinct set of properties and types)
MAX_FILES = 64
FIXUPS = "fixups.jsonl"

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# characters that CSV, the tool or a number spelled as text use: never the array delimiter
_NEVER_DELIMITER = frozenset(',"\r\n\\ \t.+-0123456789eEInfityaN')
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1
# epoch milliseconds of 0001-01-01 and 9999-12-31T23:59:59.999 (what the text form spells)
_MS_MIN, _MS_MAX = -62135596800000, 253402300799999
_EPOCH = datetime(1970, 1, 1)
_NONE = type(None)
_EMPTY = "empty"  # a column of lists without elements: set after the import
_EMPTY_LIST = object()
_MIXED = "mixed"  # values of several types (or types other than Python's own)
_SCALAR = {str: "string", bool: "boolean", int: "long", float: "double"}
_ARROW = {"string": pa.string(), "long": pa.int64(), "double": pa.float64(), "boolean": pa.bool_()}
_CSV = pcsv.WriteOptions(include_header=False, quoting_style="needed", delimiter=",")


class _Mixed(Exception):
    """A column whose values are of several types after all."""


# ---------------------------------------------------------------------------------------------
# values


def choose_array_delimiter(
    values: Iterable[str] = (), candidates: Sequence[str] = DELIMITER_CANDIDATES
) -> str:
    """The first of `candidates` that occurs in none of `values`; when each does, the first
    character of the Basic Multilingual Plane (no surrogate, nothing CSV or a number spells)
    that occurs in none. ValueError when every character occurs."""
    used: set[str] = set()
    for v in values:
        used.update(v)
    for ch in candidates:
        if len(ch) == 1 and ch not in used and _usable_delimiter(ch):
            return ch
    for code in range(1, 0x10000):
        ch = chr(code)
        if ch not in used and _usable_delimiter(ch):
            return ch
    raise ValueError("every character occurs in the array values: no array delimiter is left")


def _usable_delimiter(ch: str) -> bool:
    code = ord(ch)
    return 0 < code < 0x10000 and not 0xD800 <= code < 0xE000 and ch not in _NEVER_DELIMITER


def datetime_text(value: Any) -> str:
    """Epoch milliseconds (int) or an aware datetime -> `YYYY-MM-DDTHH:MM:SS.fffZ` (UTC), what
    the tool reads as the DateTime that `datetime({epochMillis: value})` is. TypeError for
    anything else, ValueError outside the years 1 to 9999."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        ms = int(value)
        if not _MS_MIN <= ms <= _MS_MAX:
            raise ValueError(f"epoch milliseconds {ms} lie outside the years 1 to 9999")
        return (_EPOCH + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds") + "Z"
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise TypeError(f"a datetime property needs a time zone: {value!r}")
        utc = value.astimezone(UTC).replace(tzinfo=None)
        spec = "microseconds" if utc.microsecond % 1000 else "milliseconds"
        return utc.isoformat(timespec=spec) + "Z"
    raise TypeError(f"a datetime is epoch milliseconds or an aware datetime, not {value!r}")


def _double_text(v: float) -> str:
    if math.isfinite(v):
        return repr(v)
    return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")


def _scalar_kind(name: str, v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, numbers.Integral):
        return "datetime" if name in DATETIME_PROPS else "long"
    if isinstance(v, numbers.Real):
        return "double"
    if isinstance(v, str):
        return "string"
    if isinstance(v, datetime):
        return "datetime"
    raise TypeError(f"property {name!r}: a {type(v).__name__} cannot be stored in Neo4j")


def value_kind(name: str, v: Any) -> str | None:
    """The column type of one value as the driver would send it (`long`, `string[]`, ...);
    None for None, "empty" for a list without elements. TypeError for what Neo4j cannot
    store (a list of several types, a dict, ...)."""
    if v is None:
        return None
    if isinstance(v, list | tuple):
        if not v:
            return _EMPTY
        kinds = {_scalar_kind("", x) for x in v}
        if len(kinds) != 1 or "datetime" in kinds:
            raise TypeError(
                f"property {name!r}: a list of {' and '.join(sorted(kinds))} values cannot be "
                "stored in Neo4j"
            )
        return f"{kinds.pop()}[]"
    return _scalar_kind(name, v)


def _column_kind(name: str, col: list[Any]) -> str | None:
    """The type of a column when every value is of exactly one of Python's own types (the
    common case, checked at C speed); None when it holds no value; _MIXED otherwise. The
    elements of a `string[]` column are checked when they are joined."""
    types = set(map(type, col))
    types.discard(_NONE)
    if not types:
        return None
    if len(types) == 1:
        t = next(iter(types))
        kind = _SCALAR.get(t)
        if kind is not None:
            return "datetime" if kind == "long" and name in DATETIME_PROPS else kind
        if t is datetime:
            return "datetime"
    if types <= {list, tuple}:
        first = next(chain.from_iterable(filter(None, col)), _EMPTY_LIST)
        if first is _EMPTY_LIST:
            return _EMPTY
        if type(first) is str:
            return "string[]"
        elements = set(map(type, chain.from_iterable(filter(None, col))))
        if len(elements) == 1:
            kind = _SCALAR.get(next(iter(elements)))
            if kind is not None:
                return f"{kind}[]"
        return _MIXED
    if types <= {int, datetime} and name in DATETIME_PROPS:
        return "datetime"
    return _MIXED


def _plain(kind: str, v: Any) -> Any:
    """A value of another type than Python's own (numpy's, a str subclass) as the driver
    would send it."""
    if v is None or kind == _EMPTY:
        return v
    if kind.endswith("[]"):
        return [_plain(kind[:-2], x) for x in v]
    if kind == "string":
        return str(v)
    if kind == "long":
        return int(v)
    if kind == "double":
        return float(v)
    return v


# ---------------------------------------------------------------------------------------------
# files


class _Shared:
    """What every file of one import shares: the folder, the delimiter, what was seen."""

    def __init__(self, folder: Path, delimiter: str, compress: bool, level: int) -> None:
        self.folder = folder
        self.d = delimiter
        self.compress = compress
        self.level = level
        self.multiline = False
        self.longest = 0  # bytes of the longest row (an upper bound)
        self.files: list[Path] = []
        self.fixups: IO[str] | None = None
        self.fixup_count = 0

    def open(self, name: str, compress: bool) -> IO[bytes]:
        path = self.folder / name
        self.files.append(path)
        if compress:  # compressed in a thread of its own (isal releases the GIL)
            fh: IO[bytes] = igzip_threaded.open(path, "wb", compresslevel=self.level, threads=1)
            return fh
        return open(path, "wb")

    def fixup(self, table: _Table, key_value: Any, prop: str, value: Any) -> None:
        if self.fixups is None:
            self.fixups = open(self.folder / FIXUPS, "w", encoding="utf-8")
            self.files.append(self.folder / FIXUPS)
        row = {
            "kind": table.kind,
            "name": table.name,
            "key": table.key,
            "id": key_value,
            "prop": prop,
            "value": list(value),
        }
        self.fixups.write(json.dumps(row, ensure_ascii=True) + "\n")
        self.fixup_count += 1


class _Sink:
    """One CSV file: its header on the first line, then batches of rows."""

    def __init__(self, shared: _Shared, file: str, header: list[str], cols: dict[str, str]):
        self.file = file
        self.header = header
        self.cols = cols  # property columns: name -> type
        self.rows = 0
        self.fh = shared.open(file, shared.compress)
        self.fh.write((",".join(header) + "\n").encode())

    def write(self, arrays: list[pa.Array]) -> None:
        table = pa.Table.from_arrays(arrays, names=[f"c{i}" for i in range(len(arrays))])
        buf = pa.BufferOutputStream()
        pcsv.write_csv(table, buf, _CSV)
        self.fh.write(memoryview(buf.getvalue()))
        self.rows += len(table)

    def close(self) -> None:
        self.fh.close()


#: a fixed column: its header field, where its value is in a row, its type
_Fixed = tuple[str, str, str]


class _Table:
    """The rows of one label or relationship type, written in batches of columns; one file
    per property layout."""

    def __init__(
        self,
        shared: _Shared,
        stem: str,
        kind: str,
        name: str,
        key: str,
        fixed: Sequence[_Fixed],
        props_of: Callable[[Mapping[str, Any]], Mapping[str, Any]],
        reserved: frozenset[str] = frozenset(),
    ) -> None:
        self.shared = shared
        self.stem = stem
        self.kind = kind  # "nodes" | "relationships"
        self.name = name  # label or relationship type
        self.key = key  # the property that finds a row again (for the fixups)
        self.fixed = list(fixed)
        self.props_of = props_of
        self.reserved = reserved
        self.sinks: list[_Sink] = []
        self.pending: list[Mapping[str, Any]] = []

    def add(self, row: Mapping[str, Any]) -> None:
        self.pending.append(row)
        if len(self.pending) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        rows, self.pending = self.pending, []
        if not rows:
            return
        # many small lists, none in a cycle: the cyclic collector would scan them again and again
        with gc_paused():
            self._flush(rows)

    def _flush(self, rows: list[Mapping[str, Any]]) -> None:
        props = [self.props_of(r) for r in rows]
        names = list(dict.fromkeys(chain.from_iterable(props)))
        for prop in names:
            if not _NAME.match(prop):
                raise ValueError(f"{self.name}: not a plain property name: {prop!r}")
        if not self.reserved.isdisjoint(names):
            raise ValueError(
                f"{self.name}: the props must not hold {sorted(self.reserved & set(names))}"
            )
        fixed = [[r[field] for r in rows] for _, field, _ in self.fixed]
        cols = {n: [p.get(n) for p in props] for n in names}
        keys = cols[self.key] if self.key in cols else fixed[self._key_index()]
        if set(map(type, keys)) != {str}:
            raise TypeError(f"every {self.name} needs a str {self.key!r}")
        self._write(fixed, cols, keys)

    def _key_index(self) -> int:
        for i, (header, _field, _kind) in enumerate(self.fixed):
            if header.split(":")[0] == self.key:
                return i
        raise TypeError(f"every {self.name} needs a str {self.key!r}")

    def _write(
        self,
        fixed: list[list[Any]],
        cols: dict[str, list[Any]],
        keys: list[Any],
        mixed_too: frozenset[str] = frozenset(),
    ) -> None:
        self.pending_fixups: list[tuple[Any, str, Any]] = []
        kinds: dict[str, str | None] = {
            n: _MIXED if n in mixed_too else _column_kind(n, col) for n, col in cols.items()
        }
        mixed = [n for n, k in kinds.items() if k == _MIXED]
        if mixed:
            # rows by the types of their values in the mixed columns: each group is uniform
            groups: dict[tuple[str | None, ...], list[int]] = {}
            for i in range(len(keys)):
                sig = tuple(value_kind(n, cols[n][i]) for n in mixed)
                groups.setdefault(sig, []).append(i)
            if len(groups) > 1:
                for idx in groups.values():
                    self._write(
                        [[c[i] for i in idx] for c in fixed],
                        {n: [c[i] for i in idx] for n, c in cols.items()},
                        [keys[i] for i in idx],
                    )
                return
            ((sig, _),) = groups.items()
            mixed_too = frozenset()
            for n, k in zip(mixed, sig, strict=True):
                cols[n] = [_plain(k, v) for v in cols[n]] if k is not None else cols[n]
                kinds[n] = k
        n_rows = len(keys)
        columns: dict[str, str] = {}
        arrays: dict[str, pa.Array] = {}
        for name, kind in kinds.items():
            if kind is None:
                continue
            if kind == _EMPTY:
                self.pending_fixups += [
                    (key, name, v) for key, v in zip(keys, cols[name], strict=True) if v is not None
                ]
                continue
            columns[name] = kind
            try:
                arrays[name] = self._encode(name, kind, cols[name], keys)
            except _Mixed:  # a string[] column holding other values too: row by row
                self._write(fixed, cols, keys, mixed_too | {name})
                return
        sink = self._sink_for(columns)
        out = [
            self._encode_fixed(kind, col, header)
            for (header, _, kind), col in zip(self.fixed, fixed, strict=True)
        ]
        for name in sink.cols:
            out.append(arrays[name] if name in arrays else pa.nulls(n_rows, pa.string()))
        self._measure(out)
        sink.write(out)
        for key, name, v in self.pending_fixups:
            self.shared.fixup(self, key, name, v)
        self.pending_fixups = []

    def _encode_fixed(self, kind: str, col: list[Any], header: str) -> pa.Array:
        if kind == "string":
            if set(map(type, col)) != {str}:
                bad = next(v for v in col if type(v) is not str)
                raise TypeError(f"{self.name}: {header} must be a str, not {bad!r}")
            return pa.array(col, pa.string())
        return _datetimes(col, header)

    def _encode(self, name: str, kind: str, col: list[Any], keys: list[Any]) -> pa.Array:
        try:
            if kind == "datetime":
                return _datetimes(col, name)
            if kind == "double":
                arr = pa.array(col, pa.float64())
                if _all_finite(arr):
                    return arr
                return pa.array([None if v is None else _double_text(v) for v in col], pa.string())
            if kind in _ARROW:
                return pa.array(col, _ARROW[kind])
            element = kind[:-2]
            if element == "string":
                lists = None
            else:
                lists = pa.array(col, pa.list_(_ARROW[element]))
        except (OverflowError, pa.ArrowInvalid) as exc:
            raise ValueError(f"{self.name}: property {name!r}: {exc}") from exc
        d = self.shared.d
        if element == "string":
            try:
                texts = [None if v is None else d.join(v) for v in col]
            except TypeError:
                raise _Mixed(name) from None
            joined = pa.array(texts, pa.string())
            sizes = pa.array([0 if v is None else len(v) - 1 for v in col], pa.int64())
            # [], [""] and a list whose values hold the delimiter cannot be read back
            readable = pc.and_(
                pc.equal(pc.count_substring(joined, d), sizes), pc.not_equal(joined, "")
            )
        else:
            assert lists is not None
            if element == "double" and not _all_finite(pc.list_flatten(lists)):
                parts = [None if v is None else [_double_text(x) for x in v] for v in col]
                lists = pa.array(parts, pa.list_(pa.string()))
            else:
                lists = pc.cast(lists, pa.list_(pa.string()))
            joined = pc.binary_join(lists, d)
            readable = pc.greater(pc.list_value_length(lists), 0)
        unreadable = pc.invert(pc.fill_null(readable, True))
        if pc.any(unreadable).as_py():
            for i in pc.indices_nonzero(unreadable).to_pylist():
                self.pending_fixups.append((keys[i], name, col[i]))
            joined = pc.if_else(unreadable, pa.scalar(None, pa.string()), joined)
        return joined

    def _measure(self, arrays: list[pa.Array]) -> None:
        """Line breaks in values (multi-line reading needed), the longest row (read buffer)."""
        total = None
        for arr in arrays:
            if pa.types.is_string(arr.type):
                if (
                    not self.shared.multiline
                    and pc.any(pc.match_substring_regex(arr, "[\r\n]")).as_py()
                ):
                    self.shared.multiline = True
                # quotes doubled at worst, two quotes and a comma
                size = pc.add(pc.multiply(pc.fill_null(pc.binary_length(arr), 0), 2), 3)
            else:
                size = pa.scalar(32, pa.int64())
            total = size if total is None else pc.add(total, size)
        if total is not None:
            longest = pc.max(total).as_py() if isinstance(total, pa.Array) else total.as_py()
            self.shared.longest = max(self.shared.longest, int(longest or 0))

    def _sink_for(self, columns: dict[str, str]) -> _Sink:
        for sink in reversed(self.sinks):
            if all(sink.cols.get(p) == k for p, k in columns.items()):
                return sink
        if len(self.sinks) >= MAX_FILES:
            raise ValueError(
                f"{self.name}: more than {MAX_FILES} different property layouts in one import"
            )
        # a new file: these columns, and those of the last file that do not conflict
        cols = dict(columns)
        if self.sinks:
            for p, k in self.sinks[-1].cols.items():
                cols.setdefault(p, k)
        header = [h for h, _, _ in self.fixed] + [f"{p}:{k}" for p, k in cols.items()]
        suffix = ".csv.gz" if self.shared.compress else ".csv"
        sink = _Sink(self.shared, f"{self.stem}-{len(self.sinks):03d}{suffix}", header, cols)
        self.sinks.append(sink)
        return sink

    def close(self) -> list[tuple[ImportSource, list[str]]]:
        self.flush()
        out = []
        for sink in self.sinks:
            sink.close()
            out.append((ImportSource(self.kind, self.name, sink.file, sink.rows), sink.header))
        return out


def _all_finite(arr: pa.Array) -> bool:
    return bool(pc.all(pc.fill_null(pc.is_finite(arr), True)).as_py() is not False)


def _datetimes(col: list[Any], name: str) -> pa.Array:
    """Epoch milliseconds (or aware datetimes) -> DateTime text in UTC."""
    if set(map(type, col)) <= {int, _NONE}:
        try:
            ms = pa.array(col, pa.int64())
        except (OverflowError, pa.ArrowInvalid) as exc:
            raise ValueError(f"{name}: {exc}") from exc
        low, high = pc.min_max(ms).values()
        if low.is_valid and (low.as_py() < _MS_MIN or high.as_py() > _MS_MAX):
            raise ValueError(f"{name}: epoch milliseconds outside the years 1 to 9999")
        text = pc.cast(ms.cast(pa.timestamp("ms")), pa.string())  # 1970-01-01 00:00:01.234
        return pc.binary_join_element_wise(
            pc.replace_substring(text, " ", "T", max_replacements=1), "Z", ""
        )
    return pa.array([None if v is None else datetime_text(v) for v in col], pa.string())


def _flat(row: Mapping[str, Any]) -> Mapping[str, Any]:
    """A ledger row: its `props` map merged into it (as `SET n += props`)."""
    props = row.get("props")
    if props is None and "props" not in row:
        return row
    out = {k: v for k, v in row.items() if k != "props"}
    if props is not None:
        out.update(props)
    return out


def _props(row: Mapping[str, Any]) -> Mapping[str, Any]:
    props: Mapping[str, Any] = row["props"]
    return props


def write_import_files(
    folder: Path,
    hosts: Iterable[Mapping[str, Any]],
    edges: Iterable[Mapping[str, Any]],
    ingests: Iterable[Mapping[str, Any]] = (),
    groups: Iterable[Mapping[str, Any]] = (),
    meta: Iterable[Mapping[str, Any]] = (),
    *,
    array_values: Iterable[str] = (),
    delimiter: str | None = None,
    compress: bool = True,
    level: int = 1,
    migrations: Sequence[str] = MIGRATIONS,
    now_ms: int | None = None,
) -> ImportFiles:
    """Write the import files of a graph into `folder` (created; it must be empty); see the
    module text. `array_values`: strings that may occur in arrays (the delimiter is chosen to
    occur in none of them; every value is checked anyway), or give `delimiter` itself.
    `compress`: gzip (level `level`) in a thread of its own.

    Rows are read once, in order, and written in batches: memory stays bounded whatever the
    number of rows. Raises TypeError / ValueError for a value Neo4j cannot store (as the Bolt
    path would), DiskFull when the disk fills up; nothing is left in `folder` then.
    """
    t0 = time.perf_counter()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise ValueError(f"the folder for import files must be empty: {folder}")
    d = delimiter if delimiter is not None else choose_array_delimiter(array_values)
    if len(d) != 1 or not _usable_delimiter(d):
        raise ValueError(f"unusable array delimiter {d!r}")
    shared = _Shared(folder, d, compress, level)
    try:
        sources = _write(shared, hosts, edges, ingests, groups, meta, migrations, now_ms)
    except BaseException as exc:
        for path in shared.files:
            with contextlib.suppress(OSError):
                path.unlink()
        if is_disk_full(exc):
            raise DiskFull.writing("the bulk import files", folder, exc) from exc
        raise
    files = ImportFiles(
        folder=folder,
        sources=tuple(src for src, _ in sources),
        array_delimiter=d,
        multiline=shared.multiline,
        read_buffer_size=max(DEFAULT_READ_BUFFER, shared.longest + 65536),
        fixups=FIXUPS if shared.fixup_count else None,
        fixup_count=shared.fixup_count,
        seconds=time.perf_counter() - t0,
        size=sum(p.stat().st_size for p in shared.files),
        headers={src.file: header for src, header in sources},
    )
    log.info(
        "bulk import files: %d nodes, %d relationships, %d values set after the import, "
        "%.1f MiB in %.1f s (%s)",
        files.nodes,
        files.relationships,
        files.fixup_count,
        files.size / 2**20,
        files.seconds,
        folder,
    )
    return files


def _write(
    shared: _Shared,
    hosts: Iterable[Mapping[str, Any]],
    edges: Iterable[Mapping[str, Any]],
    ingests: Iterable[Mapping[str, Any]],
    groups: Iterable[Mapping[str, Any]],
    meta: Iterable[Mapping[str, Any]],
    migrations: Sequence[str],
    now_ms: int | None,
) -> list[tuple[ImportSource, list[str]]]:
    tables = [
        (
            _Table(
                shared,
                "hosts",
                "nodes",
                HOST,
                "id",
                [
                    (f"id:ID({HOST})", "id", "string"),
                    ("first_seen:datetime", "first_ms", "datetime"),
                    ("last_seen:datetime", "last_ms", "datetime"),
                ],
                _props,
                frozenset({"id", "first_seen", "last_seen"}),
            ),
            hosts,
        ),
        (
            _Table(
                shared,
                "edges",
                "relationships",
                TALKED,
                "key",
                [
                    (f":START_ID({HOST})", "src", "string"),
                    (f":END_ID({HOST})", "dst", "string"),
                    ("window:string", "window", "string"),
                    ("key:string", "key", "string"),
                    ("first_seen:datetime", "first_ms", "datetime"),
                    ("last_seen:datetime", "last_ms", "datetime"),
                ],
                _props,
                frozenset({"window", "key", "first_seen", "last_seen"}),
            ),
            edges,
        ),
    ]
    meta_rows = [_flat(r) for r in meta]
    if migrations and not any(r.get("key") == "migrations" for r in meta_rows):
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        meta_rows.append({"key": "migrations", "done": list(migrations), "updated": now})
    for stem, label, key, rows in (
        ("ingests", "Ingest", "sha256", ingests),
        ("groups", "IngestGroup", "id", groups),
        ("meta", "GraphMeta", "key", meta_rows),
    ):
        tables.append((_Table(shared, stem, "nodes", label, key, [], _flat), rows))
    sources: list[tuple[ImportSource, list[str]]] = []
    for table, rows in tables:
        for row in rows:
            table.add(row)
        sources += table.close()
    if shared.fixups is not None:
        shared.fixups.close()
    return sources


def remove_import_files(files: ImportFiles) -> None:
    """Delete the files of an import (the folder too when it is empty then)."""
    for path in files.paths():
        path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        files.folder.rmdir()


# ---------------------------------------------------------------------------------------------
# after the import


def read_fixups(files: ImportFiles) -> list[dict[str, Any]]:
    """The values `finish_import` sets (JSON lines of {kind, name, key, id, prop, value})."""
    if not files.fixups:
        return []
    path = files.folder / files.fixups
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def finish_import(store: Store, files: ImportFiles, batch_size: int = 5000) -> int:
    """After the server started on the imported graph: connect `store` again (the server was
    restarted), apply the schema (constraints and indexes of graphnet/cypher/schema.cypher,
    created over the imported data, and the MIGRATIONS check) and set the values that CSV
    cannot carry. Returns how many values were set."""
    store.reconnect()
    store.ensure_schema()
    done = 0
    if not files.fixups:
        return 0
    statements = {
        ("nodes", HOST): "bulk_fixup_hosts",
        ("relationships", TALKED): "bulk_fixup_talked",
    }
    batches: dict[str, list[dict[str, Any]]] = {}
    path = files.folder / files.fixups
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            name = statements.get((row["kind"], row["name"]), "bulk_fixup_nodes")
            batch = batches.setdefault(name, [])
            batch.append(row)
            if len(batch) >= batch_size:
                store.write(name, rows=batch)
                done += len(batch)
                batches[name] = []
    for name, batch in batches.items():
        if batch:
            store.write(name, rows=batch)
            done += len(batch)
    log.info("set %d values after the bulk import", done)
    return done


def load_local(
    store: Store | None, home: Path, instance: str, files: ImportFiles, **options: Any
) -> ImportReport:
    """Load an empty graph from `files` into graphnet's local instance: stop it, import, start
    it, then `finish_import` through `store` (or a Store of its own when None) before the
    import's marker is removed, so that a run killed anywhere before is seen by
    `graphnet.neo4j_local.bulk.import_pending`. `options` go to `import_full` (heap,
    max_off_heap, timeout, ...)."""

    def after_start(settings: Neo4jSettings) -> None:
        if store is not None:
            finish_import(store, files)
            return
        with Store(settings) as own:
            finish_import(own, files)

    return import_full(home, instance, files, after_start=after_start, **options)
