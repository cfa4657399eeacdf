"""Zeek JSON logs: one object per line.

Keys may be dotted (`id.orig_h`, Zeek's default) or underscored (`id_orig_h`, e.g. OTRF / some
shippers); an omitted key is an unset field; `ts` is epoch seconds or an ISO 8601 string.
A file may mix several log types (`_path` or `@stream` naming each record's log, as OTRF's
`combined_zeek.log`): `conn` records are connections, `dns` and `http` records rows of the
`dns` and `http` tables (`zeek_records`), records of other types are skipped and counted. A
record without `_path` / `@stream` is a conn record when it has one of the conn-only fields
(conn_state, history, orig_bytes, resp_bytes, orig_pkts, resp_pkts, missed_bytes), else a dns
or http record when it has one of their fields (`zeek_records.MARKERS`: query, qtype_name, ...
/ method, uri, status_code, ...); otherwise it is skipped and counted. The sensor of a record
is `_node_name` (a Zeek cluster's node), else `@system` (the host name OTRF's shipper adds).

Blocks of lines are parsed by pyarrow's JSON reader against a fixed schema (other keys ignored).
A block that fails (bad JSON, a value of an unexpected type) is bisected; the few lines left are
examined one by one to word their reject reason (or to skip them when they are not conn records).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Generator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from graphnet.errors import InputError
from graphnet.sources import _convert as cv
from graphnet.sources import zeek_records
from graphnet.sources._io import Lines, parser_block, stream_lines
from graphnet.sources._model import Chunk, Detected, Reject

log = logging.getLogger(__name__)

STREAM_KEYS = ("_path", "@stream")
CONN_ONLY = ("conn_state", "history", "orig_bytes", "resp_bytes", "orig_pkts", "resp_pkts",
             "missed_bytes")
_SMALL = 32  # below this many lines a failing range is examined line by line

_STRINGS = ("uid", "id.orig_h", "id_orig_h", "id.resp_h", "id_resp_h", "proto", "service",
            "conn_state", "history", "label", "detailedlabel", "detailed-label",
            "detailed_label", "_path", "@stream", "_node_name", "@system",
            "query", "qtype_name", "rcode_name", "method", "host", "uri", "referrer",
            "user_agent", "mime_type")
_PORTS = ("id.orig_p", "id_orig_p", "id.resp_p", "id_resp_p")
_NUMBERS = ("duration", "orig_bytes", "resp_bytes", "orig_pkts", "resp_pkts", "missed_bytes",
            "request_body_len", "response_body_len", "status_code")
_LISTS = ("answers", "resp_mime_types")
_BOOLS = ("rejected",)
#: presence markers of dns / http records (only tested for being set, any type)
_MARKS = tuple(dict.fromkeys(
    k for ks in zeek_records.MARKERS.values() for k in ks
    if k not in (*_STRINGS, *_NUMBERS, *_LISTS, *_BOOLS)))
_LABELS = {"label": "label", "detailedlabel": "detailed_label",
           "detailed-label": "detailed_label", "detailed_label": "detailed_label"}


def schema(ts_type: pa.DataType) -> pa.Schema:
    fields = [pa.field("ts", ts_type)]
    fields += [pa.field(k, pa.string()) for k in _STRINGS]
    fields += [pa.field(k, pa.int64()) for k in _PORTS]
    fields += [pa.field(k, pa.float64()) for k in _NUMBERS]
    fields += [pa.field(k, pa.list_(pa.string())) for k in _LISTS]
    fields += [pa.field(k, pa.bool_()) for k in _BOOLS]
    fields += [pa.field(k, pa.float64()) for k in _MARKS]
    return pa.schema(fields)


def _stream_of(rec: dict[str, Any]) -> str | None:
    for k in STREAM_KEYS:
        v = rec.get(k)
        if isinstance(v, str):
            return v
    return None


def _is_conn_record(rec: dict[str, Any]) -> bool:
    return _table_of(rec) == "conn"


def _table_of(rec: dict[str, Any]) -> str | None:
    """The table a record goes to (None: skipped)."""
    stream = _stream_of(rec)
    if stream is not None:
        return stream if stream in TABLES else None
    if any(rec.get(k) is not None for k in CONN_ONLY):
        return "conn"
    for table, marks in zeek_records.MARKERS.items():
        if any(rec.get(k) is not None for k in marks):
            return table
    return None


#: the tables records go to
TABLES = ("conn", "dns", "http")


def sniff(head: bytes, more: bytes | None = None) -> Detected | None:
    """Detected when `head` holds JSON objects with Zeek fields."""
    text = head.decode("utf-8-sig", errors="replace")
    stripped = text.lstrip()
    if not stripped.startswith("{"):
        return None
    records = []
    parts = text.split("\n")
    if not text.endswith("\n"):
        parts = parts[:-1]  # the last line may be cut
    for ln in parts:
        ln = ln.strip()
        if not ln:
            continue
        try:
            rec = json.loads(ln)
        except ValueError:
            continue
        if isinstance(rec, dict):
            records.append(rec)
        if len(records) >= 2000:
            break
    if not records:
        first = stripped.split("\n", 1)[0]
        try:
            rec = json.loads(first)
        except ValueError:
            return None
        if not isinstance(rec, dict):
            return None
        records = [rec]
    zeekish = [r for r in records if "ts" in r and (
        any(k in r for k in ("id.orig_h", "id_orig_h", "uid")) or _stream_of(r) is not None)]
    if not zeekish:
        return None
    streams = sorted({s for r in records if (s := _stream_of(r)) is not None})
    found = {t for r in zeekish if (t := _table_of(r)) is not None}
    tables = tuple(t for t in TABLES if t in found)
    conn = "conn" in found
    keys = "underscore keys" if any("id_orig_h" in r for r in zeekish) else "dotted keys"
    if len(streams) > 1:
        if tables:
            return Detected("zeek-json", conn,
                            f"Zeek JSON mixing {', '.join(streams)} ({keys}; "
                            f"{', '.join(tables)} records kept)", tables)
        return Detected("zeek-json", False,
                        f"Zeek JSON mixing {', '.join(streams)} (no conn, dns or http records "
                        "at the start)")
    if conn:
        return Detected("zeek-json", True, f"Zeek JSON conn log ({keys})", tables)
    if tables:
        return Detected("zeek-json", False, f"Zeek JSON {tables[0]} log ({keys})", tables)
    if streams:
        key = next(k for k in STREAM_KEYS if any(k in r for r in zeekish))
        return Detected("zeek-json", False,
                        f"Zeek JSON {key} {streams[0]} (not a conn, dns or http log)")
    return Detected("zeek-json", False,
                    "Zeek JSON without conn, dns or http fields (not a log graphnet reads)")


class ZeekJsonReader:
    def __init__(self, path: Path, chunk_rows: int) -> None:
        self.path = path
        self.name = str(path)
        self.chunk_rows = chunk_rows
        self.ts_type: pa.DataType | None = None
        self.seen_record = False
        self.nul_escape = False  # the current block may spell a NUL as an escape (\u0000)

    def __iter__(self) -> Iterator[Chunk]:
        lines_iter = stream_lines(self.path, self.chunk_rows)
        try:
            for lines in lines_iter:
                chunk = self._block(lines)
                if chunk is not None:
                    yield chunk
        finally:
            lines_iter.close()

    def _block(self, lines: Lines) -> Chunk | None:
        blank = lines.blank()
        idx = np.flatnonzero(~blank).astype(np.int64)
        if not len(idx):
            return None
        if not self.seen_record:
            self._start(lines, idx)
        assert self.ts_type is not None
        rejects, idx = cv.split_nul(self.name, lines, idx)
        if not len(idx):
            return cv.finish([], rejects, 0)
        bad_utf = lines.bad_utf8()[idx]
        if bad_utf.any():
            rejects += cv.line_rejects(self.name, lines, idx[bad_utf], "invalid UTF-8")
            idx = idx[~bad_utf]
            if not len(idx):
                return cv.finish([], rejects, 0)
        self.nul_escape = _has_nul_escape(lines)
        pieces, singles = self._parse_ranges(lines, idx)
        tables: list[pa.Table] = []
        extra: dict[str, list[pa.Table]] = {}
        skipped = 0
        for raw, sub in pieces:
            table, rej, skip = self._normalise(lines, sub, raw, extra)
            tables.append(table)
            rejects += rej
            skipped += skip
        if singles:
            table, rej, skip = self._singles(lines, np.asarray(singles, dtype=np.int64), extra)
            tables.append(table)
            rejects += rej
            skipped += skip
        return cv.finish(tables, rejects, skipped, extra)

    def _start(self, lines: Lines, idx: np.ndarray) -> None:
        """First records of the file: one of the first ones must be a JSON object; the type of
        its `ts` (number or text) sets the schema."""
        self.seen_record = True
        for li in idx[:100].tolist():
            try:
                rec = json.loads(lines.content(li).decode("utf-8", errors="replace"))
            except ValueError:
                continue
            if isinstance(rec, dict):
                self.ts_type = pa.string() if isinstance(rec.get("ts"), str) else pa.float64()
                return
        first = int(idx[0])
        raw = lines.content(first).decode("utf-8", errors="replace")
        raise InputError(f"{self.name}:{lines.first + first}: expected Zeek JSON (one object per "
                         f"line), found {raw[:60]!r}")

    # ------------------------------------------------------------------ parsing
    def _try(self, lines: Lines, sub: np.ndarray) -> pa.Table | None:
        assert self.ts_type is not None
        try:
            data = lines.gather(sub)
            table = pj.read_json(
                pa.BufferReader(data),
                read_options=pj.ReadOptions(block_size=parser_block(lines, sub)),
                parse_options=pj.ParseOptions(explicit_schema=schema(self.ts_type),
                                              unexpected_field_behavior="ignore",
                                              newlines_in_values=False),
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return None
        if table.num_rows != len(sub):
            return None
        return table

    def _parse_ranges(self, lines: Lines, idx: np.ndarray
                      ) -> tuple[list[tuple[pa.Table, np.ndarray]], list[int]]:
        pieces: list[tuple[int, pa.Table, np.ndarray]] = []
        singles: list[int] = []
        stack = [(0, len(idx))]
        while stack:
            a, b = stack.pop()
            sub = idx[a:b]
            table = self._try(lines, sub)
            if table is not None:
                pieces.append((a, table, sub))
            elif b - a <= _SMALL:
                singles.extend(sub.tolist())
            else:
                mid = (a + b) // 2
                stack.append((mid, b))
                stack.append((a, mid))
        if singles:
            log.debug("%s: %d lines from line %d on examined one by one", self.name,
                      len(singles), lines.first + int(idx[0]))
        pieces.sort(key=lambda p: p[0])
        return [(t, s) for _, t, s in pieces], sorted(singles)

    # ------------------------------------------------------------------ vectorised path
    def _normalise(self, lines: Lines, sub: np.ndarray, raw: pa.Table,
                   extra: dict[str, list[pa.Table]]) -> tuple[pa.Table, list[Reject], int]:
        batch = cv.Batch(self.name, lines, sub)
        n = batch.n

        def col(name: str) -> pa.Array:
            return cv.as_array(raw.column(name))

        def pick(dotted: str) -> pa.Array:
            under = dotted.replace(".", "_")
            if under == dotted or under not in raw.column_names:
                return col(dotted)
            return pc.coalesce(col(dotted), col(under))

        kinds = _kinds(raw, n)
        batch.skip_rows(kinds != "conn")
        rejects: list[Reject] = []
        for table in zeek_records.FIELDS:
            mine = kinds == table
            if mine.any():
                rec = cv.Batch(self.name, lines, sub)
                rec.skip_rows(~mine)
                if self.nul_escape:
                    for name in ("uid", "query", "host", "uri", "user_agent", "referrer"):
                        cv.check_no_nul(rec, col(name), name)
                extra.setdefault(table, []).append(
                    cv.build_table(rec, zeek_records.json_columns(rec, pick, table), table))
                rejects += rec.rejects()
        skipped = int((kinds == "").sum())
        if self.nul_escape:
            # lines holding a NUL byte are rejected before parsing, but JSON can spell a NUL
            # as an escape: a value holding one is rejected too
            for name in ("id.orig_h", "id.resp_h"):
                cv.check_no_nul(batch, pick(name), name)
            for name in ("uid", "proto", "service", "conn_state", "history", *_LABELS):
                cv.check_no_nul(batch, col(name), name)

        out = zeek_records.json_time_and_ports(batch, col("ts"), pick)
        for zname, oname in (("duration", "duration"), ("orig_bytes", "src_bytes"),
                             ("resp_bytes", "dst_bytes"), ("orig_pkts", "src_pkts"),
                             ("resp_pkts", "dst_pkts")):
            arr = col(zname)
            out[oname] = cv.check_float(batch, arr, cv.number_text(arr), zname)
        out["src"] = cv.check_ip(batch, pick("id.orig_h"), "id.orig_h")
        out["dst"] = cv.check_ip(batch, pick("id.resp_h"), "id.resp_h")
        for zname in ("uid", "proto", "service", "conn_state", "history"):
            arr = cv.categorical(col(zname))
            out[zname] = cv.lower(arr) if zname == "proto" else arr
        for zname, oname in _LABELS.items():
            arr = col(zname)
            if oname not in out and pc.any(pc.is_valid(arr)).as_py():
                out[oname] = cv.categorical(arr)
        out["sensor"] = pc.coalesce(col("_node_name"), col("@system"))
        table = cv.build_table(batch, out)
        return table, batch.rejects() + rejects, skipped

    # ------------------------------------------------------------------ line by line
    def _singles(self, lines: Lines, idx: np.ndarray, extra: dict[str, list[pa.Table]]
                 ) -> tuple[pa.Table, list[Reject], int]:
        """Lines whose block failed to parse: find the reason, or the record's values."""
        rows: list[dict[str, Any]] = []
        kept: list[int] = []
        rejects: list[Reject] = []
        skipped = 0
        for li in idx.tolist():
            text = lines.content(li).decode("utf-8", errors="replace")
            result = _examine(text)
            if result is None:
                skipped += 1
            elif isinstance(result, str):
                rejects.append(Reject(self.name, lines.first + li, result, lines.text(li)))
            else:
                rows.append(result)
                kept.append(li)
        raw = pa.Table.from_pylist(rows, schema=schema(pa.float64())) if rows else \
            schema(pa.float64()).empty_table()
        table, rej, skip = self._normalise(lines, np.asarray(kept, dtype=np.int64), raw, extra)
        return table, rejects + rej, skipped + skip


def _has_nul_escape(lines: Lines) -> bool:
    """Whether the block holds the text `\\u0000` (a cheap vectorised test: backslashes are
    rare in conn logs; a false alarm only costs the exact check of the values)."""
    if len(lines) == 0:
        return False
    lo, hi = int(lines.starts[0]), int(lines.stops[-1])
    seg = lines.buf[lo:hi]
    at = np.flatnonzero(seg[: max(len(seg) - 5, 0)] == ord("\\"))
    if not len(at):
        return False
    hit = seg[at + 1] == ord("u")
    for k in range(2, 6):
        hit &= seg[at + k] == ord("0")
    return bool(hit.any())


def _show(value: Any) -> str:
    return cv.shown("" if value is None else value)


def _ts_value(ts: Any) -> float | None:
    """A JSON `ts` (epoch number or ISO 8601 text, UTC unless an offset is given) or None."""
    value: float | None = None
    if isinstance(ts, (int, float)) and not isinstance(ts, bool):
        value = float(ts)
    elif isinstance(ts, str):
        try:
            value = float(ts)
        except ValueError:
            try:
                dt = datetime.fromisoformat(ts)
            except ValueError:
                return None
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)
            value = dt.timestamp()
    if value is None or not math.isfinite(value) or value < 0:
        return None
    return value


def _examine(text: str) -> dict[str, Any] | str | None:
    """One JSON line: a row for the float-ts schema, a reject reason, or None (skipped)."""
    try:
        rec = json.loads(text)
    except ValueError as exc:
        msg = getattr(exc, "msg", str(exc))
        col = getattr(exc, "colno", None)
        return f"invalid JSON ({msg}{f' at column {col}' if col else ''})"
    if not isinstance(rec, dict):
        return "not a JSON object"
    if _table_of(rec) is None:
        return None
    row: dict[str, Any] = {}
    ts = rec.get("ts")
    value = _ts_value(ts)
    if value is None:
        return f"bad timestamp {_show(ts)} in ts"
    row["ts"] = value
    for k in _PORTS:
        v = rec.get(k)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 65535:
            return f"bad port {_show(v)} in {k.replace('_', '.', 1) if k.startswith('id_') else k}"
        row[k] = v
    for k in _NUMBERS:
        v = rec.get(k)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                or v < 0:
            return f"bad number {_show(v)} in {k}"
        row[k] = float(v)
    for k in _STRINGS:
        v = rec.get(k)
        if v is None:
            continue
        if isinstance(v, list) and all(isinstance(x, str) for x in v):
            v = ",".join(v)
        if not isinstance(v, str):
            return f"bad value {_show(json.dumps(v))} in {k} (expected a string)"
        row[k] = v
    for k in _LISTS:
        v = rec.get(k)
        if v is None:
            continue
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            return f"bad value {_show(json.dumps(v))} in {k} (expected strings)"
        row[k] = v
    for k in _BOOLS:
        v = rec.get(k)
        if v is None:
            continue
        if not isinstance(v, bool):
            return f"bad value {_show(json.dumps(v))} in {k} (expected true or false)"
        row[k] = v
    for k in _MARKS:
        if rec.get(k) is not None:
            row[k] = 1.0
    return row


def _kinds(raw: pa.Table, n: int) -> np.ndarray:
    """Per row, the table it goes to: "conn", "dns", "http", or "" (skipped)."""
    def valid(name: str) -> np.ndarray:
        return np.asarray(pc.is_valid(raw.column(name)).to_numpy(zero_copy_only=False),
                          dtype=bool)

    stream = pc.coalesce(raw.column("_path"), raw.column("@stream"))
    has_stream = np.asarray(pc.is_valid(stream).to_numpy(zero_copy_only=False), dtype=bool)
    named = np.asarray(stream.fill_null("").to_numpy(zero_copy_only=False), dtype=object)
    out = np.full(n, "", dtype=object)
    for t in TABLES:
        out[has_stream & (named == t)] = t
    free = ~has_stream
    conn = np.zeros(n, dtype=bool)
    for k in CONN_ONLY:
        conn |= valid(k)
    out[free & conn] = "conn"
    left = free & ~conn
    for table, marks in zeek_records.MARKERS.items():
        hit = np.zeros(n, dtype=bool)
        for k in marks:
            hit |= valid(k)
        out[left & hit] = table
        left &= ~hit
    return out


def read(path: Path, chunk_rows: int) -> Generator[Chunk, None, None]:
    yield from ZeekJsonReader(path, chunk_rows)


__all__ = ["read", "sniff"]
