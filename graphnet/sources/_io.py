"""Byte-level input shared by every reader.

`open_binary` opens a file (transparently gunzipping it); `iter_lines` streams it as
newline-aligned blocks of raw bytes with a vectorised line index (`Lines`), so the readers never
loop over lines in Python. Decompression errors (truncated or corrupt gzip) and I/O errors become
`InputError` naming the file, whenever they happen.

gzip is inflated with ISA-L (`isal.igzip`, a drop-in `gzip.GzipFile` that is 2-3x faster than
zlib and releases the GIL): same multi-member and zero-padding handling, same exception types
(plus `isal_zlib.error` for corrupt deflate data).
"""

from __future__ import annotations

import gzip
import queue
import threading
import zlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

import numpy as np
import pyarrow as pa
from isal import igzip, isal_zlib

from graphnet.errors import InputError

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
TEXT_LIMIT = 200  # characters of a rejected line kept in Reject.text

#: what a corrupt or truncated gzip stream raises (isal_zlib.error is not a zlib.error)
_GZIP_ERRORS: tuple[type[BaseException], ...] = (
    EOFError, zlib.error, gzip.BadGzipFile, cast("type[BaseException]", isal_zlib.error))
_DEFLATE_ERRORS: tuple[type[BaseException], ...] = (
    zlib.error, cast("type[BaseException]", isal_zlib.error))

_NL = 10
_CR = 13
_SPACE = 32
_TAB = 9


def open_binary(path: Path) -> BinaryIO:
    """Open `path` for reading bytes; a gzip file (by magic number) is decompressed on the fly."""
    try:
        raw = open(path, "rb")  # closed by the caller
    except OSError as exc:
        raise InputError(
            f"{path}: cannot open ({exc.strerror or exc})",
            hint="check the path and its permissions",
        ) from exc
    try:
        magic = raw.peek(2)[:2]
    except OSError as exc:
        raw.close()
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if magic != GZIP_MAGIC:
        return raw
    raw.close()
    try:
        return igzip.open(path, "rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot open ({exc.strerror or exc})") from exc


def read_some(stream: BinaryIO, size: int, path: Path) -> bytes:
    """`stream.read(size)` with decompression / I/O failures mapped to InputError."""
    try:
        return stream.read(size)
    except _GZIP_ERRORS as exc:
        raise InputError(
            f"{path}: truncated or corrupt gzip data ({exc})",
            hint="re-copy or re-compress the file; the records read from it so far are discarded",
        ) from exc
    except OSError as exc:
        raise InputError(f"{path}: read error ({exc.strerror or exc})") from exc


def head_bytes(path: Path, size: int = 1 << 16) -> bytes:
    """The first `size` (decompressed) bytes of a file; InputError when unreadable.

    A truncated or corrupt gzip still gives the bytes decompressed before the damage (reading
    the whole file fails later, in `read`)."""
    try:
        raw = open(path, "rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot open ({exc.strerror or exc})") from exc
    try:
        first = raw.read(size)
        if first[:2] != GZIP_MAGIC:
            return first
        out = bytearray()
        inflater = isal_zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
        pending = first
        while len(out) < size:
            if not pending:
                pending = raw.read(1 << 16)
                if not pending:
                    break
            try:
                out += inflater.decompress(pending, size - len(out))
            except _DEFLATE_ERRORS as exc:
                if out:
                    break
                raise InputError(f"{path}: corrupt gzip data ({exc})") from exc
            pending = inflater.unconsumed_tail
            if inflater.eof:  # next gzip member, if any
                pending = inflater.unused_data + pending
                inflater = isal_zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
        return bytes(out)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    finally:
        raw.close()


@dataclass
class Lines:
    """A newline-aligned block of a file with its line index.

    `buf` holds whole physical lines; line i spans bytes `starts[i]:stops[i]` (terminator
    included) and its content `starts[i]:ends[i]` (without `\\n` / `\\r\\n`). `first` is the
    1-based line number of line 0 in the file.
    """

    mem: memoryview
    buf: np.ndarray
    starts: np.ndarray
    stops: np.ndarray
    ends: np.ndarray
    first: int

    def __len__(self) -> int:
        return len(self.starts)

    def sub(self, a: int, b: int) -> Lines:
        return Lines(self.mem, self.buf, self.starts[a:b], self.stops[a:b], self.ends[a:b],
                     self.first + a)

    def numbers(self, idx: np.ndarray) -> np.ndarray:
        """1-based file line numbers of line indices `idx`."""
        return (self.first + np.asarray(idx, dtype=np.int64)).astype(np.int64)

    def content(self, i: int) -> bytes:
        return bytes(self.mem[int(self.starts[i]) : int(self.ends[i])])

    def text(self, i: int) -> str:
        """The raw line for a Reject: decoded with errors="replace", at most TEXT_LIMIT chars."""
        raw = bytes(self.mem[int(self.starts[i]) : min(int(self.ends[i]),
                                                       int(self.starts[i]) + 4 * TEXT_LIMIT)])
        return raw.decode("utf-8", errors="replace")[:TEXT_LIMIT]

    def lengths(self) -> np.ndarray:
        return self.ends - self.starts

    def first_bytes(self) -> np.ndarray:
        """First byte of each line's content (0 for an empty line)."""
        out = np.zeros(len(self), dtype=np.uint8)
        nonempty = self.ends > self.starts
        out[nonempty] = self.buf[self.starts[nonempty]]
        return out

    def count_byte(self, byte: int) -> np.ndarray:
        """Occurrences of `byte` in each line (terminator excluded unless it is that byte)."""
        if byte in (_NL, _CR):
            raise ValueError("cannot count line terminators")
        if len(self) == 0:
            return np.zeros(0, dtype=np.int32)
        lo, hi = int(self.starts[0]), int(self.stops[-1])
        mask = (self.buf[lo:hi] == byte).view(np.uint8)
        return np.add.reduceat(mask, self.starts - lo, dtype=np.int32)

    def blank(self) -> np.ndarray:
        """Lines holding nothing but spaces and tabs (or nothing at all)."""
        out = self.ends <= self.starts
        first = self.first_bytes()
        maybe = np.flatnonzero(~out & ((first == _SPACE) | (first == _TAB)))
        for i in maybe:  # rare: lines starting with a blank
            out[i] = not self.content(int(i)).strip(b" \t")
        return out

    def has_nul(self) -> np.ndarray:
        """Lines holding a NUL byte (one vectorised pass over the block; per line only when the
        block holds one)."""
        if len(self) == 0:
            return np.zeros(0, dtype=bool)
        lo, hi = int(self.starts[0]), int(self.stops[-1])
        seg = self.buf[lo:hi]
        if seg.size == 0 or int(seg.min()) != 0:
            return np.zeros(len(self), dtype=bool)
        return np.add.reduceat((seg == 0).view(np.uint8), self.starts - lo, dtype=np.int64) > 0

    def bad_utf8(self) -> np.ndarray:
        """Lines that are not valid UTF-8 (checked per block, per line only when a block fails)."""
        bad = np.zeros(len(self), dtype=bool)
        if len(self) == 0:
            return bad
        lo, hi = int(self.starts[0]), int(self.stops[-1])
        seg = self.buf[lo:hi]
        if seg.size == 0 or int(seg.max()) < 0x80:
            return bad
        try:
            bytes(self.mem[lo:hi]).decode("utf-8")
            return bad
        except UnicodeDecodeError:
            pass
        high = np.add.reduceat((seg >= 0x80).view(np.uint8), self.starts - lo, dtype=np.int64)
        for i in np.flatnonzero(high):  # only lines holding non-ASCII bytes
            try:
                self.content(int(i)).decode("utf-8")
            except UnicodeDecodeError:
                bad[i] = True
        return bad

    def gather(self, idx: np.ndarray) -> pa.Buffer:
        """The physical lines `idx` (sorted) concatenated; zero-copy when they are contiguous."""
        idx = np.asarray(idx, dtype=np.int64)
        if len(idx) == 0:
            return pa.py_buffer(b"")
        s, e = self.starts[idx], self.stops[idx]
        if len(idx) == 1 or bool(np.all(s[1:] == e[:-1])):
            return pa.py_buffer(self.mem[int(s[0]) : int(e[-1])])
        lens = e - s
        total = int(lens.sum())
        out_start = np.cumsum(lens) - lens
        pos = np.arange(total, dtype=np.int64) + np.repeat(s - out_start, lens)
        return pa.py_buffer(self.buf[pos].tobytes())

    def raw_lines(self, idx: np.ndarray) -> pa.Array:
        """Physical lines `idx` (terminators included) as an Arrow binary array."""
        idx = np.asarray(idx, dtype=np.int64)
        if len(idx) == 0:
            return pa.array([], type=pa.large_binary())
        lo, hi = int(idx[0]), int(idx[-1])
        offsets = np.empty(hi - lo + 2, dtype=np.int64)
        offsets[:-1] = self.starts[lo : hi + 1]
        offsets[-1] = self.stops[hi]
        arr = pa.LargeBinaryArray.from_buffers(
            pa.large_binary(), hi - lo + 1, [None, pa.py_buffer(offsets), pa.py_buffer(self.mem)])
        if len(idx) != hi - lo + 1:
            arr = arr.take(pa.array(idx - lo))
        return arr


def index_lines(mem: memoryview, first: int, skip_bom: bool) -> Lines:
    """Index a block that ends with a newline."""
    buf = np.frombuffer(mem, dtype=np.uint8)
    nl = np.flatnonzero(buf == _NL).astype(np.int64)
    stops = nl + 1
    starts = np.empty_like(stops)
    if len(stops):
        starts[0] = 0
        starts[1:] = stops[:-1]
    ends = nl.copy()
    if len(ends):
        has_cr = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == _CR)
        ends[has_cr] -= 1
    if skip_bom and len(starts) and bytes(mem[:3]) == UTF8_BOM:
        starts[0] = min(3, int(ends[0]))
    return Lines(mem, buf, starts, stops, ends, first)


def parser_block(lines: Lines, idx: np.ndarray) -> int:
    """Block size for pyarrow's CSV / JSON readers given lines `idx`: 4 MiB, or more when a
    line is longer (a record may not straddle two parser blocks)."""
    idx = np.asarray(idx, dtype=np.int64)
    longest = int((lines.stops[idx] - lines.starts[idx]).max()) if len(idx) else 0
    return max(4 << 20, 2 * longest)


def block_size_for(chunk_rows: int) -> int:
    """Bytes read at a time: enough for `chunk_rows` typical lines, between 64 KiB and 32 MiB."""
    return int(min(max(chunk_rows * 256, 1 << 16), 32 << 20))


def _blocks(stream: BinaryIO, path: Path, size: int) -> Generator[bytes, None, None]:
    """Raw blocks of `size` bytes (the last one shorter).

    A gzip stream longer than one block is decompressed one block ahead in a helper thread
    (ISA-L releases the GIL), so parsing and inflating overlap. The first block is read here:
    a file that fits in one block (the common case for hourly logs) costs no thread start and
    no hand-over between threads."""
    data = read_some(stream, size, path)
    yield data
    if len(data) < size:
        return
    if not isinstance(stream, gzip.GzipFile):
        while True:
            data = read_some(stream, size, path)
            yield data
            if len(data) < size:
                return
    results: queue.Queue[tuple[bytes, BaseException | None]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            try:
                data, err = read_some(stream, size, path), None
            except BaseException as exc:  # handed to the consumer
                data, err = b"", exc
            while not stop.is_set():
                try:
                    results.put((data, err), timeout=0.05)
                    break
                except queue.Full:
                    continue
            if err is not None or len(data) < size:
                return

    worker = threading.Thread(target=work, name=f"gunzip {path.name}", daemon=True)
    worker.start()
    try:
        while True:
            data, err = results.get()
            if err is not None:
                raise err
            yield data
            if len(data) < size:
                return
    finally:
        stop.set()
        worker.join()


def iter_lines(stream: BinaryIO, path: Path, chunk_rows: int) -> Iterator[Lines]:
    """Stream a file as `Lines` blocks of at most `chunk_rows` lines each.

    A last line without a terminating newline gets one. Memory stays bounded by the block size
    (plus the longest line).
    """
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be >= 1")
    size = block_size_for(chunk_rows)
    rest = b""
    line_no = 1
    blocks: Generator[bytes, None, None] = _blocks(stream, path, size)
    try:
        for data in blocks:
            eof = len(data) < size
            mem_bytes = rest + data if rest else data
            if not mem_bytes:
                break
            if eof:
                if not mem_bytes.endswith(b"\n"):
                    mem_bytes += b"\n"
                cut = len(mem_bytes)
            else:
                cut = mem_bytes.rfind(b"\n") + 1
                if cut == 0:  # one very long line: keep reading
                    rest = mem_bytes
                    continue
            mem = memoryview(mem_bytes)[:cut]
            rest = bytes(memoryview(mem_bytes)[cut:])
            lines = index_lines(mem, line_no, skip_bom=line_no == 1)
            line_no += len(lines)
            for a in range(0, len(lines), chunk_rows):
                yield lines.sub(a, min(a + chunk_rows, len(lines)))
    finally:
        blocks.close()


def stream_lines(path: Path, chunk_rows: int) -> Generator[Lines, None, None]:
    """Open `path` (gzip-aware) and stream it as `Lines`; closes everything when done."""
    stream = open_binary(path)
    try:
        yield from iter_lines(stream, path, chunk_rows)
    finally:
        stream.close()


def decode_header(raw: bytes) -> str:
    """A header line as text (BOM dropped, undecodable bytes replaced)."""
    return raw.decode("utf-8-sig", errors="replace")


__all__ = [
    "GZIP_MAGIC",
    "TEXT_LIMIT",
    "Lines",
    "block_size_for",
    "decode_header",
    "head_bytes",
    "index_lines",
    "iter_lines",
    "open_binary",
    "parser_block",
    "read_some",
    "stream_lines",
]
