"""Readers: a network log file -> chunks of the normalised connection table (and of the `dns`
and `http` tables, from Zeek dns.log / http.log records).

Formats (`FORMATS`): Zeek / Bro TSV conn logs (`zeek`), Zeek JSON logs (`zeek-json`), CIDDS-001
flow CSV (`cidds`), CTU / Argus binetflow (`binetflow`) and nfdump CSV output (`nfdump`), each
possibly gzip-compressed. `detect` recognises a file from its first bytes; `read` streams it as
`Chunk`s of at most `chunk_rows` lines, whatever the file size. The table's columns and dtypes
are documented in docs/architecture.md ("Normalised connection table"); each format's mapping
is documented in its module (`zeek_tsv`, `zeek_json`, `cidds`, `binetflow`, `nfdump`).

Every non-blank line of a file ends up in exactly one of three places:
- a row of `Chunk.frame` (with its 1-based line number in `line`);
- a `Reject` (path, line, reason, raw text) when it is malformed: wrong field count, invalid
  UTF-8 or JSON, a bad timestamp / port / number / address, a host id longer than
  `MAX_HOST_ID_BYTES` (1,024 bytes of UTF-8), a NUL byte anywhere in the line ("NUL byte in
  the line", in every format, wherever the line is; in Zeek JSON also a value spelling a NUL
  as `\\u0000`), ...; nothing is dropped silently;
- a row of `Chunk.tables["dns"]` / `Chunk.tables["http"]` for a Zeek dns / http record (TSV
  `#path dns` / `http`, JSON `_path` / `@stream` naming them or, without those keys, the
  fields of such a record; `zeek_records` documents the columns), rejected by the same rules;
- `Chunk.skipped`, a count of valid records that are not IP connections, by these rules:
  * Zeek TSV: records under a `#path` other than `conn`, `dns` and `http`;
  * Zeek JSON: records whose `_path` / `@stream` is not `conn`, `dns` or `http`, and records
    without those keys that have none of the conn-only fields (conn_state, history, orig/resp
    bytes and packets, missed_bytes) nor those of dns or http records;
  * binetflow: protocols `arp`, `rarp`, `llc` and `man` (Argus management records), and records
    between two MAC addresses.
Header and comment lines (Zeek `#...`, CSV headers, nfdump's trailing `Summary` block) and
blank lines are not records.

Timestamps are epoch seconds UTC. A chunk whose timestamps are all below 1e8 (1973) is flagged
`relative_ts=True`: such captures count from epoch 0 (e.g. replayed pcaps) and are accepted as
they are. Text timestamps without a zone (CIDDS, binetflow, nfdump) are read as UTC.

NetFlow-style records have no Zeek uid: they get a stable derived one, `F` + 17 hex digits of a
hash of the line number and the raw line, the same on every run.

Every chunk's connection frame also has a `sensor` column (after the base columns, before the
labels): Zeek's `_node_name`, OTRF's `@system`, else null (`graphnet ingest --sensor` names the
sensor of files without one).

Errors: `read` raises `graphnet.errors.InputError` naming the file when it cannot be opened,
is not a supported format (or none of a connection, dns or http log), its header is not what
the format expects (a header line holding a NUL byte included: Zeek `#separator`, `#fields`,
`#path`, ..., the CSV header line), or its gzip stream is truncated or corrupt; the last two may
happen after chunks were already yielded, in which case the caller discards the file's work. A
file no
format recognises is reported as "binary data, not a text log" when its first 4 KiB hold a NUL
byte or are mostly undecodable / control bytes (`detect`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path

from graphnet.errors import InputError
from graphnet.sources import binetflow, cidds, nfdump, zeek_json, zeek_tsv
from graphnet.sources._io import head_bytes
from graphnet.sources._model import (
    ARROW_TYPES,
    BASE_COLUMNS,
    DNS_COLUMNS,
    FORMATS,
    HTTP_COLUMNS,
    MAX_HOST_ID_BYTES,
    RECORD_TABLES,
    SENSOR_COLUMN,
    TABLE_COLUMNS,
    Chunk,
    Detected,
    Reject,
)

log = logging.getLogger(__name__)

__all__ = [
    "ARROW_TYPES", "BASE_COLUMNS", "DNS_COLUMNS", "FORMATS", "HTTP_COLUMNS", "MAX_HOST_ID_BYTES",
    "RECORD_TABLES", "SENSOR_COLUMN", "TABLE_COLUMNS", "Chunk", "Detected", "Reject",
    "detect", "iter_log_files", "read",
]

_READERS: dict[str, Callable[[Path, int], Generator[Chunk, None, None]]] = {
    "zeek": zeek_tsv.read,
    "zeek-json": zeek_json.read,
    "cidds": cidds.read,
    "binetflow": binetflow.read,
    "nfdump": nfdump.read,
}
_SNIFFERS: tuple[Callable[[bytes], Detected | None], ...] = (
    zeek_tsv.sniff, cidds.sniff, binetflow.sniff, nfdump.sniff,
)
_HEAD = 1 << 16
_JSON_HEAD = 1 << 20
_EXPECTED = ("Zeek TSV or JSON conn, dns or http log, CIDDS-001 CSV, Argus binetflow or "
             "nfdump CSV")


def detect(path: Path) -> Detected:
    """Recognise a file from its first bytes (gzip-aware). Never raises: an unreadable or
    unknown file gives `format=None` with the reason."""
    path = Path(path)
    try:
        head = head_bytes(path, _HEAD)
    except InputError as exc:
        return Detected(None, False, str(exc).removeprefix(f"{path}: "))
    if not head.strip():
        return Detected(None, False, "empty file")
    for sniff in _SNIFFERS:
        found = sniff(head)
        if found is not None:
            return found
    # JSON has no header: its first records are what is recognised; lines holding a NUL byte
    # are not records (they are rejects when the file is read), so they are left out here
    if _without_nul_lines(head).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        try:
            more = head_bytes(path, _JSON_HEAD) if len(head) == _HEAD else head
        except InputError:
            more = head
        found = zeek_json.sniff(_without_nul_lines(more))
        if found is not None:
            return found
        if not _looks_binary(head):
            return Detected(None, False, "JSON without Zeek fields (ts, uid, id.orig_h)")
    if _looks_binary(head):
        return Detected(None, False, "binary data, not a text log")
    first = head.decode("utf-8", errors="replace").lstrip().split("\n", 1)[0].strip()
    return Detected(None, False, f"unrecognised content, first line {first[:60]!r}")


def _without_nul_lines(head: bytes) -> bytes:
    if b"\x00" not in head:
        return head
    return b"\n".join(ln for ln in head.split(b"\n") if b"\x00" not in ln)


_TEXT_CONTROLS = frozenset("\t\n\r\f\v\x1b")


def _looks_binary(head: bytes) -> bool:
    """A file no format recognised is called binary (rather than unrecognised text) when its
    first 4 KiB hold a NUL byte, or when over a tenth of their characters are invalid UTF-8
    or control characters other than blanks and ESC. A NUL further on, or in a file a format
    recognises, only makes its line a reject."""
    sample = head[:4096]
    if b"\x00" in sample:
        return True
    text = sample.decode("utf-8", errors="replace")
    if len(sample) == 4096:
        text = text[:-3]  # a character may be cut at the end of the sample
    odd = sum(1 for ch in text if ch == "\ufffd" or (ch < " " and ch not in _TEXT_CONTROLS))
    return odd * 10 > len(text)


def read(path: Path, fmt: str | None = None, chunk_rows: int = 1_000_000) -> Iterator[Chunk]:
    """Stream `path` as chunks of the normalised connection table.

    `fmt` forces a format (one of FORMATS); by default (None or "") it is detected. Raises
    InputError (see the module docstring) now for an unknown format, or while iterating for
    later problems.
    """
    path = Path(path)
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be >= 1")
    if not fmt:
        found = detect(path)
        if found.format is None:
            raise InputError(f"{path}: not a supported log ({found.reason})",
                             hint=f"expected a {_EXPECTED}")
        if not found.readable:
            raise InputError(f"{path}: {found.reason}",
                             hint="graphnet reads connection, dns and http logs")
        fmt = found.format
    elif fmt not in _READERS:
        raise InputError(f"unknown format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    elif not path.is_file():
        raise InputError(f"{path}: no such file")
    return _logged(path, fmt, _READERS[fmt](path, chunk_rows))


def _logged(path: Path, fmt: str, chunks: Generator[Chunk, None, None]
            ) -> Generator[Chunk, None, None]:
    rows = rejects = skipped = 0
    try:
        for chunk in chunks:
            rows += len(chunk.frame) + sum(len(f) for f in chunk.tables.values())
            rejects += len(chunk.rejects)
            skipped += chunk.skipped
            yield chunk
    finally:
        chunks.close()  # stops a gzip helper thread and closes the file at once
    log.debug("%s (%s): %d records, %d rejects, %d skipped", path, fmt, rows, rejects, skipped)


#: files a directory walk leaves out (documentation, licences, captures, archives, code)
SKIP_SUFFIXES = frozenset((
    ".pdf", ".md", ".rst", ".txt", ".html", ".htm", ".png", ".jpg", ".jpeg", ".gif", ".svg",
    ".pcap", ".pcapng", ".cap", ".py", ".sh", ".yml", ".yaml", ".toml", ".ini", ".cfg",
    ".conf", ".config", ".xml", ".doc", ".docx", ".xls", ".xlsx", ".zip", ".tar", ".7z",
    ".pyc", ".exe", ".so", ".sha256", ".sha1", ".md5", ".sig", ".asc",
))
SKIP_NAMES = ("license", "licence", "copying", "readme", "notice", "changelog", "authors")


def _is_log_candidate(p: Path) -> bool:
    name = p.name.lower()
    if name.startswith(SKIP_NAMES):
        return False
    suffixes = [s.lower() for s in p.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return not (suffixes and suffixes[-1] in SKIP_SUFFIXES)


def iter_log_files(paths: Sequence[Path]) -> list[Path]:
    """The files to read: files as given; directories walked recursively and sorted, leaving
    out hidden files / folders and obvious non-logs (README*, LICENSE*, .pdf, .md, .txt, ...)."""
    out: list[Path] = []
    seen: set[Path] = set()
    for given in paths:
        p = Path(given)
        if p.is_dir():
            found = []
            for f in p.rglob("*"):
                rel = f.relative_to(p)
                if any(part.startswith(".") for part in rel.parts):
                    continue
                if f.is_file() and _is_log_candidate(f):
                    found.append(f)
            candidates = sorted(found)
        elif p.is_file():
            candidates = [p]
        else:
            raise InputError(f"{p}: no such file or directory")
        for f in candidates:
            if f not in seen:
                seen.add(f)
                out.append(f)
    return out
