"""Zeek (and old Bro) TSV conn logs.

Any `#fields` layout is accepted as long as it has `ts`, `id.orig_h` and `id.resp_h`; the other
mapped fields are optional (unknown when absent). Header lines (`#separator`, `#set_separator`,
`#empty_field`, `#unset_field`, `#path`, `#fields`, ...) may appear anywhere, several times: each
one applies to the lines after it. A header line indented by spaces/tabs is still a header.
Records under `#path dns` and `#path http` become rows of the `dns` and `http` tables
(`zeek_records`: read as text, then converted column by column); records under another `#path`
than these and `conn` are skipped and counted. `_node_name` (a Zeek cluster's node) is the
record's `sensor`. A line holding a NUL byte is
a reject (also under another `#path`, and a comment header line such as `#types` or `#close`);
a NUL byte in a header line that sets the layout (`#separator`, `#set_separator`,
`#empty_field`, `#unset_field`, `#path`, `#fields`) fails the file.

Parsing is vectorised: per block, numpy finds lines and header lines, pyarrow's CSV reader
parses the records with typed columns. Only when something is wrong does it dig deeper: lines
with a wrong field count are found by counting separators per line with numpy, invalid UTF-8 per
line when a block fails to decode, and when a typed conversion fails the run is re-read as text
and converted column by column to locate and word the bad values.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from graphnet.errors import InputError
from graphnet.sources import _convert as cv
from graphnet.sources import zeek_records
from graphnet.sources._io import Lines, parser_block, stream_lines
from graphnet.sources._model import Chunk, Detected, Reject

log = logging.getLogger(__name__)

CONN_PATHS = ("conn",)
#: paths whose records graphnet reads, -> their table
TABLE_OF_PATH = {"conn": "conn", "dns": "dns", "http": "http"}
REQUIRED = ("ts", "id.orig_h", "id.resp_h")

#: Zeek field -> normalised column
FIELD_MAP = {
    "ts": "ts",
    "uid": "uid",
    "id.orig_h": "src",
    "id.orig_p": "sport",
    "id.resp_h": "dst",
    "id.resp_p": "dport",
    "proto": "proto",
    "service": "service",
    "duration": "duration",
    "orig_bytes": "src_bytes",
    "resp_bytes": "dst_bytes",
    "orig_pkts": "src_pkts",
    "resp_pkts": "dst_pkts",
    "conn_state": "conn_state",
    "history": "history",
    "label": "label",
    "detailedlabel": "detailed_label",
    "detailed-label": "detailed_label",
    "detailed_label": "detailed_label",
    "_node_name": "sensor",
}
_FLOAT_FIELDS = ("ts", "duration")
_COUNT_FIELDS = ("orig_bytes", "resp_bytes", "orig_pkts", "resp_pkts")
_PORT_FIELDS = ("id.orig_p", "id.resp_p")
#: header lines that change how the following records are read
_LAYOUT_KEYS = (b"#separator", b"#set_separator", b"#empty_field", b"#unset_field", b"#path",
                b"#fields")


def unescape(value: str) -> bytes:
    """`\\x09` -> b'\\t' (Zeek header escapes)."""
    return value.encode("latin-1", errors="replace").decode("unicode_escape").encode("latin-1")


@dataclass
class Header:
    separator: bytes = b"\t"
    set_separator: str = ","
    empty: str = "(empty)"
    unset: str = "-"
    path: str | None = None
    fields: list[str] | None = None
    seen: bool = False
    used: list[str] = field(default_factory=list)

    def apply(self, text: str, where: str) -> None:
        """Update the state from one header line (`text` without leading blanks)."""
        self.seen = True
        if text.startswith("#separator"):
            value = text[len("#separator"):].strip(" \t")
            try:
                sep = unescape(value)
            except (UnicodeDecodeError, ValueError) as exc:
                raise InputError(f"{where}: bad #separator {value!r}") from exc
            if len(sep) != 1 or sep in (b"\n", b"\r"):
                raise InputError(
                    f"{where}: unsupported #separator {value!r} (expected one character)")
            self.separator = sep
            return
        parts = text.split(self.separator.decode("latin-1"))
        key = parts[0][1:]
        values = parts[1:]
        if key == "fields":
            names = [v.strip() for v in values]
            missing = [f for f in REQUIRED if f not in names]
            if missing:
                raise InputError(
                    f"{where}: #fields lacks {', '.join(missing)} (expected a Zeek conn log)")
            self.fields = names
            seen_out: set[str] = set()
            used = []
            for name in names:
                out = FIELD_MAP.get(name)
                if out and out not in seen_out:
                    seen_out.add(out)
                    used.append(name)
            self.used = used
        elif key == "set_separator" and values:
            self.set_separator = values[0]
        elif key == "empty_field" and values:
            self.empty = values[0]
        elif key == "unset_field" and values:
            self.unset = values[0]
        elif key == "path" and values:
            self.path = values[0].strip()
        # #types, #open, #close and other comment lines change nothing

    @property
    def is_conn(self) -> bool:
        return self.table == "conn"

    @property
    def table(self) -> str | None:
        """The table the records under this header go to (None: skipped)."""
        if self.path is not None:
            return TABLE_OF_PATH.get(self.path)
        return _table_of_fields(self.fields or [])

    def used_for(self, table: str) -> list[str]:
        if table == "conn":
            return self.used
        return zeek_records.used_fields(table, self.fields or [])


def _table_of_fields(fields: Sequence[str]) -> str:
    """A log without `#path`: a conn log unless its fields are those of dns or http."""
    if "conn_state" in fields or "history" in fields:
        return "conn"
    if "query" in fields or "qtype_name" in fields:
        return "dns"
    if "method" in fields or "status_code" in fields or "user_agent" in fields:
        return "http"
    return "conn"


def sniff(head: bytes) -> Detected | None:
    """Detected when `head` starts like a Zeek TSV log."""
    text = head.decode("utf-8-sig", errors="replace")
    lines = [ln.lstrip(" \t") for ln in text.split("\n")]
    lines = [ln.rstrip("\r") for ln in lines if ln.strip()]
    if not lines or not lines[0].startswith("#"):
        return None
    if not any(ln.startswith(("#separator", "#fields", "#path")) for ln in lines[:20]):
        return None
    sep = "\t"
    path = None
    fields: list[str] | None = None
    for ln in lines:
        if not ln.startswith("#"):
            break
        if ln.startswith("#separator"):
            try:
                sep = unescape(ln[len("#separator"):].strip(" \t")).decode("latin-1") or "\t"
            except (UnicodeDecodeError, ValueError):
                sep = "\t"
            continue
        parts = ln.split(sep)
        if parts[0] == "#path" and len(parts) > 1:
            path = parts[1].strip()
        elif parts[0] == "#fields":
            fields = [p.strip() for p in parts[1:]]
    if path is not None and path not in TABLE_OF_PATH:
        return Detected("zeek", False, f"Zeek TSV #path {path} (not a conn, dns or http log)")
    if fields is not None and any(f not in fields for f in REQUIRED):
        return Detected("zeek", False, "Zeek TSV without ts/id.orig_h/id.resp_h (not a conn log)")
    n = len(fields) if fields else 0
    table = TABLE_OF_PATH[path] if path is not None else (
        _table_of_fields(fields) if fields is not None else "conn")
    if path is None and fields is not None and table == "conn" and "conn_state" not in fields:
        return Detected("zeek", False, "Zeek TSV without #path and conn_state (not a conn log)")
    if table != "conn":
        return Detected("zeek", False, f"Zeek TSV #path {path or '?'} ({table} records), "
                                       f"{n} fields", (table,))
    return Detected("zeek", True, f"Zeek TSV #path {path or '?'}, {n} fields", ("conn",))


class ZeekTsvReader:
    def __init__(self, path: Path, chunk_rows: int) -> None:
        self.path = path
        self.name = str(path)
        self.chunk_rows = chunk_rows
        self.header = Header()

    def __iter__(self) -> Iterator[Chunk]:
        lines_iter = stream_lines(self.path, self.chunk_rows)
        try:
            for lines in lines_iter:
                chunk = self._block(lines)
                if chunk is not None:
                    yield chunk
        finally:
            lines_iter.close()

    # ------------------------------------------------------------------ per block
    def _block(self, lines: Lines) -> Chunk | None:
        n = len(lines)
        blank = lines.blank()
        first = lines.first_bytes()
        is_hdr = first == ord("#")
        indented = np.flatnonzero(~blank & ((first == ord(" ")) | (first == ord("\t"))))
        for i in indented:  # rare: headers indented by blanks
            if lines.content(int(i)).lstrip(b" \t").startswith(b"#"):
                is_hdr[i] = True
        header_idx = np.flatnonzero(is_hdr)
        tables: list[pa.Table] = []
        extra: dict[str, list[pa.Table]] = {}
        rejects: list[Reject] = []
        skipped = 0
        bad_utf: np.ndarray | None = None
        has_nul = lines.has_nul()
        pos = 0
        for h in [*header_idx.tolist(), n]:
            if h > pos:
                idx = np.arange(pos, h, dtype=np.int64)
                idx = idx[~blank[pos:h]]
                if len(idx):
                    if not self.header.seen:
                        raise InputError(
                            f"{self.name}:{lines.first + int(idx[0])}: expected a Zeek TSV "
                            "header (#separator / #fields) before the first record")
                    nul_rejects, idx = cv.split_nul(self.name, lines, idx, has_nul)
                    rejects += nul_rejects
                if len(idx):
                    if self.header.fields is None:
                        rejects += cv.line_rejects(self.name, lines, idx,
                                                   "record before any #fields header")
                    elif (kind := self.header.table) is None:
                        skipped += len(idx)
                    else:
                        if bad_utf is None:
                            bad_utf = lines.bad_utf8()
                        table, rej = self._run(lines, idx, bad_utf[idx], kind)
                        if table is not None:
                            (tables if kind == "conn" else extra.setdefault(kind, [])
                             ).append(table)
                        rejects += rej
            if h < n:
                where = f"{self.name}:{lines.first + int(h)}"
                raw = lines.content(int(h)).lstrip(b" \t")
                if has_nul[h]:
                    key = raw.split(self.header.separator, 1)[0]
                    if raw.startswith(_LAYOUT_KEYS) or b"\x00" in key:
                        raise InputError(f"{where}: NUL byte in a header line",
                                         hint="this header line decides how the records after "
                                              "it are read: the file is left out")
                    # a comment line (#open, #close, #types, ...): rejected like a record
                    rejects += cv.line_rejects(self.name, lines, np.array([h]), cv.NUL_REASON)
                else:
                    text = raw.decode("utf-8", errors="replace")
                    self.header.apply(text, where)
            pos = h + 1
        return cv.finish(tables, rejects, skipped, extra)

    # ------------------------------------------------------------------ one layout run
    def _run(self, lines: Lines, idx: np.ndarray, bad_utf: np.ndarray, kind: str = "conn"
             ) -> tuple[pa.Table | None, list[Reject]]:
        hdr = self.header
        assert hdr.fields is not None
        nf = len(hdr.fields)
        rejects: list[Reject] = []
        if bad_utf.any():
            rejects += cv.line_rejects(self.name, lines, idx[bad_utf], "invalid UTF-8")
        good = idx[~bad_utf]
        if not len(good):
            return None, rejects
        data = lines.gather(good)
        block = parser_block(lines, good)
        used = hdr.used_for(kind)
        typed = kind == "conn"  # the record tables are read as text, then converted
        raw, invalid = self._parse(data, block, typed, used)
        if raw is None:
            log.debug("%s: a typed conversion failed near line %d; re-reading as text",
                      self.name, lines.first + int(good[0]))
            typed = False
            raw, invalid = self._parse(data, block, False, used)
        if invalid:
            # some lines have the wrong number of fields: count separators to find them
            seps = lines.count_byte(hdr.separator[0])[good]
            wrong = seps != nf - 1
            got = dict(zip(good[wrong].tolist(), (seps[wrong] + 1).tolist(), strict=True))
            rejects += cv.line_rejects(self.name, lines, good[wrong],
                                       lambda li: f"expected {nf} fields, got {got[li]}")
            good = good[~wrong]
            if not len(good):
                return None, rejects
            data = lines.gather(good)
            raw, invalid = self._parse(data, block, typed, used)
            if raw is None:
                typed = False
                raw, invalid = self._parse(data, block, False, used)
        if raw is None or invalid or raw.num_rows != len(good):
            raise InputError(f"{self.name}: cannot split the records near line "
                             f"{lines.first + int(good[0])} into fields")
        batch = cv.Batch(self.name, lines, good)
        if kind == "conn":
            cols = self._normalise(batch, raw, typed)
        else:
            cols = zeek_records.tsv_columns(batch, raw, kind, unset=hdr.unset, empty=hdr.empty,
                                            set_separator=hdr.set_separator)
        table = cv.build_table(batch, cols, kind)
        return table, rejects + batch.rejects()

    def _parse(self, data: pa.Buffer, block: int, typed: bool, used: list[str]
               ) -> tuple[pa.Table | None, int]:
        """Parse lines with pyarrow. Returns (table or None when a typed conversion failed,
        number of lines with a wrong field count, which are left out)."""
        hdr = self.header
        assert hdr.fields is not None
        names = _unique_names(hdr.fields)
        types: dict[str, pa.DataType] = {}
        for name in used:
            key = names[hdr.fields.index(name)]
            if not typed:
                types[key] = pa.string()
            elif name in _FLOAT_FIELDS:
                types[key] = pa.float64()
            elif name in _PORT_FIELDS:
                types[key] = pa.uint16()
            elif name in _COUNT_FIELDS:
                types[key] = pa.uint64()
            else:
                types[key] = pa.string()
        invalid = [0]

        def on_invalid(row: Any) -> str:
            invalid[0] += 1
            return "skip"

        try:
            table = pcsv.read_csv(
                pa.BufferReader(data),
                read_options=pcsv.ReadOptions(column_names=names,
                                              block_size=block, use_threads=len(data) > block),
                parse_options=pcsv.ParseOptions(
                    delimiter=hdr.separator.decode("latin-1"), quote_char=False,
                    double_quote=False, escape_char=False, newlines_in_values=False,
                    ignore_empty_lines=False, invalid_row_handler=on_invalid),
                convert_options=pcsv.ConvertOptions(
                    column_types=types, include_columns=list(types),
                    null_values=[hdr.unset, hdr.empty] if typed else [],
                    strings_can_be_null=False, quoted_strings_can_be_null=False,
                    check_utf8=False),
            )
        except pa.ArrowInvalid:
            if typed:
                return None, invalid[0]
            raise
        by_key = {names[hdr.fields.index(u)]: u for u in used}
        return table.rename_columns([by_key[c] for c in table.column_names]), invalid[0]

    def _normalise(self, batch: cv.Batch, raw: pa.Table, typed: bool) -> dict[str, Any]:
        hdr = self.header
        unset = (hdr.unset, hdr.empty)
        cat_unset = tuple(dict.fromkeys((hdr.unset, hdr.empty, "", "-")))  # no repeats
        n = batch.n
        have = set(raw.column_names)

        def col(name: str) -> pa.Array:
            return cv.as_array(raw.column(name))

        out: dict[str, Any] = {}
        # ts
        if typed:
            ts_arr = col("ts")
            ts = np.asarray(ts_arr.to_numpy(zero_copy_only=False), dtype=np.float64)
            out["ts"] = cv.check_ts(batch, ts, _num_text(ts_arr, hdr.unset), "ts")
        else:
            ts = cv.parse_float(batch, col("ts"), "ts", unset=(), what="timestamp")
            out["ts"] = ts
        # ports
        for zname, oname in (("id.orig_p", "sport"), ("id.resp_p", "dport")):
            if zname not in have:
                out[oname] = np.full(n, -1, dtype=np.int64)
            elif typed:
                out[oname] = np.asarray(col(zname).cast(pa.int32()).fill_null(-1)
                                        .to_numpy(zero_copy_only=False))
            else:
                out[oname], _ = cv.parse_port(batch, col(zname), zname, unset=unset)
        # numbers
        for zname, oname in (("duration", "duration"), ("orig_bytes", "src_bytes"),
                             ("resp_bytes", "dst_bytes"), ("orig_pkts", "src_pkts"),
                             ("resp_pkts", "dst_pkts")):
            if zname not in have:
                out[oname] = np.full(n, np.nan)
            elif typed:
                arr = col(zname)
                out[oname] = cv.check_float(batch, arr.cast(pa.float64()),
                                            _num_text(arr, hdr.unset), zname)
            else:
                out[oname] = cv.parse_float(batch, col(zname), zname, unset=unset)
        # addresses
        out["src"] = cv.check_ip(batch, col("id.orig_h"), "id.orig_h")
        out["dst"] = cv.check_ip(batch, col("id.resp_h"), "id.resp_h")
        # categorical strings
        for zname, oname in (("uid", "uid"), ("proto", "proto"), ("service", "service"),
                             ("conn_state", "conn_state"), ("history", "history")):
            if zname not in have:
                out[oname] = cv.UNSET
                continue
            arr = cv.categorical(col(zname), cat_unset)
            out[oname] = cv.lower(arr) if oname == "proto" else arr
        for zname in ("label", "detailedlabel", "detailed-label", "detailed_label"):
            if zname in have:
                out[FIELD_MAP[zname]] = cv.categorical(col(zname), cat_unset)
        if "_node_name" in have:
            out["sensor"] = zeek_records.nullable_text(col("_node_name"), hdr.unset, hdr.empty)
        return out


def _unique_names(fields: list[str]) -> list[str]:
    """Column names for pyarrow (duplicated #fields names made unique)."""
    seen: dict[str, int] = {}
    out = []
    for f in fields:
        k = seen.get(f, 0)
        seen[f] = k + 1
        out.append(f if k == 0 else f"{f}#{k}")
    return out


def _num_text(arr: pa.Array, unset: str) -> Callable[[int], str]:
    """Row -> a parsed number as text for a reject reason (`unset` when missing)."""
    shown = cv.number_text(arr)

    def text(i: int) -> str:
        return shown(i) if arr[i].is_valid else unset
    return text


def read(path: Path, chunk_rows: int) -> Generator[Chunk, None, None]:
    yield from ZeekTsvReader(path, chunk_rows)


__all__ = ["read", "sniff"]
