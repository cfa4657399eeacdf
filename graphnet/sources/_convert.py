"""Vectorised conversions shared by the readers.

Every converter works on whole Arrow / numpy columns. Invalid values are reported through a
`Batch`, which keeps the first reason per row; the only Python loops are over distinct values
(address dictionaries, flag strings) or over the rows already found bad (to word their reasons).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from graphnet.sources._io import Lines
from graphnet.sources._model import (
    ARROW_TYPES,
    BASE_COLUMNS,
    LABEL_COLUMNS,
    MAX_HOST_ID_BYTES,
    NULLABLE_STRINGS,
    RELATIVE_TS_LIMIT,
    SENSOR_COLUMN,
    TABLE_COLUMNS,
    Chunk,
    Reject,
    empty_frame,
)

UNSET = "-"
IPV4_RE = (
    r"^(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
    r"(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$"
)
MAC_RE = r"^[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}$"
NUMBER_RE = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
DATETIME_RE = (
    r"^(?P<y>[0-9]{4})[-/](?P<mo>[0-9]{1,2})[-/](?P<d>[0-9]{1,2})[ T]"
    r"(?P<h>[0-9]{1,2}):(?P<mi>[0-9]{2}):(?P<s>[0-9]{2})(?P<f>\.[0-9]{1,9})?"
    r"(?P<tz>Z|[+-][0-9]{2}:?[0-9]{2})?$"
)
_VALUE_LIMIT = 60
_THREADED_ROWS = 200_000

# siphash key for derived uids (any fixed 16 characters; changing it changes every uid)
_UID_KEY = "graphnet-uid-k01"
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def shown(value: object) -> str:
    """A field value as quoted in a reject reason."""
    text = "" if value is None else str(value)
    if len(text) > _VALUE_LIMIT:
        text = text[: _VALUE_LIMIT - 3] + "..."
    return f"'{text}'"


class Batch:
    """Rows of one parse run: their line indices and, per row, the first reject reason."""

    def __init__(self, path: str, lines: Lines, idx: np.ndarray) -> None:
        self.path = path
        self.lines = lines
        self.idx = np.asarray(idx, dtype=np.int64)
        self.n = len(self.idx)
        self.reason = np.full(self.n, None, dtype=object)
        self.skip = np.zeros(self.n, dtype=bool)

    def reject(self, mask: np.ndarray, reason: str | Callable[[int], str]) -> None:
        """Mark rows (positions in this batch) bad, unless already bad or skipped."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        free = mask & ~self.skip & pd.isna(self.reason)
        for i in np.flatnonzero(free):  # bad rows only
            self.reason[i] = reason(int(i)) if callable(reason) else reason

    def skip_rows(self, mask: np.ndarray) -> None:
        """Leave rows out by rule (counted as skipped, never rejected)."""
        self.skip |= np.asarray(mask, dtype=bool) & pd.isna(self.reason)

    def keep(self) -> np.ndarray:
        return pd.isna(self.reason) & ~self.skip

    @property
    def skipped(self) -> int:
        return int(self.skip.sum())

    def line_numbers(self) -> np.ndarray:
        return self.lines.numbers(self.idx)

    def rejects(self) -> list[Reject]:
        out = []
        for i in np.flatnonzero(~pd.isna(self.reason)):
            li = int(self.idx[i])
            out.append(Reject(self.path, int(self.lines.first + li), str(self.reason[i]),
                              self.lines.text(li)))
        return out


def line_rejects(path: str, lines: Lines, idx: np.ndarray, reason: str | Callable[[int], str]
                 ) -> list[Reject]:
    """Rejects for whole lines (`idx` are line indices in `lines`)."""
    out = []
    for li in np.asarray(idx, dtype=np.int64):
        text = reason(int(li)) if callable(reason) else reason
        out.append(Reject(path, int(lines.first + li), text, lines.text(int(li))))
    return out


#: reject reason of a line holding a NUL byte, in every format (such a line is never a record)
NUL_REASON = "NUL byte in the line"


def split_nul(path: str, lines: Lines, idx: np.ndarray, has_nul: np.ndarray | None = None
              ) -> tuple[list[Reject], np.ndarray]:
    """Rejects for the lines `idx` that hold a NUL byte, and the other lines of `idx`
    (`has_nul`: `lines.has_nul()` when already computed)."""
    nul = (lines.has_nul() if has_nul is None else has_nul)[idx]
    if not nul.any():
        return [], idx
    return line_rejects(path, lines, idx[nul], NUL_REASON), idx[~nul]


def check_no_nul(batch: Batch, arr: Any, name: str) -> None:
    """Rows whose value holds a NUL character (decoded from an escape, e.g. JSON `\\u0000`)
    are rejects."""
    arr = as_string(arr)
    hit = pc.match_substring(arr, "\x00")
    if pc.any(hit).as_py():
        batch.reject(np.asarray(hit.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool),
                     f"NUL character (\\u0000) in {name}")


# --------------------------------------------------------------------------- strings

def as_array(arr: Any) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        return arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    return arr


def as_string(arr: Any) -> pa.Array:
    arr = as_array(arr)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if arr.type != pa.string():
        arr = arr.cast(pa.string())
    return arr


def trimmed(arr: Any) -> pa.Array:
    return pc.utf8_trim_whitespace(as_string(arr))


def _equal_any(arr: pa.Array, values: Sequence[str]) -> pa.Array:
    """Boolean array: value in `values` (a few literal comparisons: faster than is_in)."""
    mask: pa.Array | None = None
    for v in values:
        eq = pc.equal(arr, pa.scalar(v, pa.string()))
        mask = eq if mask is None else pc.or_(mask, eq)
    assert mask is not None
    return mask


def is_unset(arr: pa.Array, unset: Sequence[str]) -> np.ndarray:
    mask = pc.is_null(arr)
    if unset:
        mask = pc.or_kleene(mask, _equal_any(arr, unset))
    return np.asarray(mask.fill_null(True).to_numpy(zero_copy_only=False), dtype=bool)


def categorical(arr: Any, unset: Sequence[str] = ("-", "", "(empty)")) -> pa.Array:
    """A categorical string column: unset / empty values (and nulls) become '-'."""
    arr = as_string(arr)
    if unset:
        hit = _equal_any(arr, unset)
        if pc.any(hit).as_py():
            arr = pc.if_else(hit, pa.scalar(UNSET), arr)
    return arr.fill_null(UNSET)


def lower(arr: pa.Array) -> pa.Array:
    return pc.utf8_lower(arr)


def map_distinct(arr: pa.Array, fn: Callable[[str | None], Any], out_type: pa.DataType
                 ) -> pa.Array:
    """Apply `fn` to each distinct value (a loop over distinct values, not rows)."""
    enc = pc.dictionary_encode(as_array(arr))
    mapped = pa.array([fn(v) for v in enc.dictionary.to_pylist()], type=out_type)
    return mapped.take(enc.indices)


# --------------------------------------------------------------------------- numbers

def values_text(arr: pa.Array) -> Callable[[int], Any]:
    """Row -> the column's value (to word a reject reason)."""
    return lambda i: arr[i].as_py()


def number_text(arr: pa.Array) -> Callable[[int], str]:
    """Row -> a parsed number as text for a reject reason (`-1`, `0.5`, `inf`)."""
    def text(i: int) -> str:
        value = arr[i].as_py()
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)
    return text


def int_field(struct: pa.Array, name: str) -> np.ndarray:
    """An integer-text field of an extract_regex struct as int64 numpy."""
    return np.asarray(pc.cast(pc.struct_field(struct, name), pa.int64())
                      .to_numpy(zero_copy_only=False))


def parse_float(batch: Batch, arr: Any, name: str, *, unset: Sequence[str] = ("-",),
                nonneg: bool = True, what: str = "number", allow_nan: bool = False
                ) -> np.ndarray:
    """Text column -> float64 (NaN when unset); bad values are rejects."""
    arr = as_string(arr)
    unset_mask = is_unset(arr, unset)
    vals = pc.if_else(pa.array(unset_mask), pa.scalar(None, pa.string()), arr)
    try:
        num = pc.cast(vals, pa.float64())
        bad_text = np.zeros(len(arr), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        ok = np.asarray(pc.match_substring_regex(vals, NUMBER_RE).fill_null(True)
                        .to_numpy(zero_copy_only=False), dtype=bool)
        bad_text = ~ok
        num = pc.cast(pc.if_else(pa.array(ok), vals, pa.scalar(None, pa.string())), pa.float64())
    out = np.array(num.to_numpy(zero_copy_only=False), dtype=np.float64)
    bad = bad_text.copy()
    with np.errstate(invalid="ignore"):
        if not allow_nan:
            bad |= ~unset_mask & ~np.isfinite(out)
        if nonneg:
            bad |= out < 0
    if bad.any():
        txt = values_text(arr)
        batch.reject(bad, lambda i: f"bad {what} {shown(txt(i))} in {name}")
        out[bad] = np.nan
    out[unset_mask] = np.nan
    return out


_SCALE = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


def parse_scaled(batch: Batch, arr: Any, name: str, *, unset: Sequence[str] = ("", "-")
                 ) -> np.ndarray:
    """nfdump-style counts with an optional unit suffix: `1234`, `1.2 M` (= 1.2e6; K, M, G, T
    are powers of 1000 as nfdump prints them) -> float64, NaN when unset."""
    arr = trimmed(arr)
    unset_mask = is_unset(arr, unset)
    parts = pc.extract_regex(arr, r"^(?P<n>[0-9]+(?:\.[0-9]+)?)\s*(?P<u>[KMGTkmgt]?)$")
    ok = np.asarray(pc.is_valid(parts).to_numpy(zero_copy_only=False), dtype=bool)
    out = np.full(len(arr), np.nan)
    if ok.any():
        sub = pc.filter(parts, pa.array(ok))
        num = np.asarray(pc.cast(pc.struct_field(sub, "n"), pa.float64())
                         .to_numpy(zero_copy_only=False))
        unit = pc.utf8_upper(pc.struct_field(sub, "u"))
        scale = np.asarray(map_distinct(unit, lambda u: _SCALE[u or ""], pa.float64())
                           .to_numpy(zero_copy_only=False))
        out[ok] = num * scale
    bad = ~ok & ~unset_mask
    if bad.any():
        txt = values_text(arr)
        batch.reject(bad, lambda i: f"bad number {shown(txt(i))} in {name}")
    return out


def check_float(batch: Batch, values: Any, raw: Callable[[int], Any], name: str, *,
                nonneg: bool = True, what: str = "number") -> np.ndarray:
    """Checks on an already numeric column (nulls = unset): finite and, if asked, >= 0."""
    out = np.array(as_array(values).to_numpy(zero_copy_only=False), dtype=np.float64) \
        if isinstance(values, (pa.Array, pa.ChunkedArray)) else np.array(values, np.float64)
    null = np.asarray(pc.is_null(as_array(values)).to_numpy(zero_copy_only=False), dtype=bool) \
        if isinstance(values, (pa.Array, pa.ChunkedArray)) else np.isnan(out)
    with np.errstate(invalid="ignore"):
        bad = ~null & ~np.isfinite(out)
        if nonneg:
            bad |= out < 0
    if bad.any():
        batch.reject(bad, lambda i: f"bad {what} {shown(raw(i))} in {name}")
        out[bad] = np.nan
    return out


def parse_port(batch: Batch, arr: Any, name: str, *, unset: Sequence[str] = ("-", ""),
               allow_hex: bool = False, allow_float: bool = False
               ) -> tuple[np.ndarray, np.ndarray]:
    """Text column -> int64 port (-1 when unset). Also returns which values were hex."""
    arr = as_string(arr)
    n = len(arr)
    unset_mask = is_unset(arr, unset)
    hexed = np.zeros(n, dtype=bool)
    vals = pc.if_else(pa.array(unset_mask), pa.scalar(None, pa.string()), arr)
    try:
        out = np.array(pc.cast(vals, pa.int64()).fill_null(-1)
                       .to_numpy(zero_copy_only=False), dtype=np.int64)
        if allow_hex:
            hexed = np.asarray(pc.starts_with(vals, "0x").fill_null(False)
                               .to_numpy(zero_copy_only=False), dtype=bool)
        elif pc.any(pc.starts_with(vals, "0x")).as_py():
            raise pa.ArrowInvalid("hex")
        bad = np.zeros(n, dtype=bool)
    except pa.ArrowInvalid:
        dec = np.asarray(pc.match_substring_regex(vals, r"^[0-9]{1,10}$").fill_null(False)
                         .to_numpy(zero_copy_only=False), dtype=bool)
        out = np.full(n, -1, dtype=np.int64)
        if dec.any():
            out[dec] = np.asarray(pc.cast(pc.filter(vals, pa.array(dec)), pa.int64())
                                  .to_numpy(zero_copy_only=False))
        ok = dec.copy()
        if allow_hex:
            hx = np.asarray(pc.match_substring_regex(vals, r"^0[xX][0-9A-Fa-f]{1,8}$")
                            .fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
            if hx.any():
                digits = pc.utf8_slice_codeunits(pc.filter(vals, pa.array(hx)), 2)
                out[hx] = np.asarray(map_distinct(digits, lambda v: int(v or "0", 16), pa.int64())
                                     .to_numpy(zero_copy_only=False))
            hexed = hx
            ok |= hx
        if allow_float:
            fl = np.asarray(pc.match_substring_regex(vals, r"^[0-9]{1,10}\.0*$")
                            .fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
            if fl.any():
                out[fl] = np.asarray(pc.cast(pc.cast(pc.filter(vals, pa.array(fl)), pa.float64()),
                                             pa.int64()).to_numpy(zero_copy_only=False))
            ok |= fl
        bad = ~ok & ~unset_mask
    bad |= ~unset_mask & ((out < 0) | (out > 65535))
    if bad.any():
        txt = values_text(arr)
        batch.reject(bad, lambda i: f"bad port {shown(txt(i))} in {name}")
        out[bad] = -1
    out[unset_mask] = -1
    return out, hexed


def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = np.where(m > 2, m - 3, m + 9)
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


_MDAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _tz_offset(text: str | None) -> float:
    if not text or text == "Z":
        return 0.0
    sign = -1.0 if text[0] == "-" else 1.0
    digits = text[1:].replace(":", "")
    return sign * (int(digits[:2]) * 3600 + int(digits[2:4]) * 60)


def parse_datetime(batch: Batch, arr: Any, name: str, *, allow_epoch: bool = False
                   ) -> np.ndarray:
    """`YYYY-MM-DD HH:MM:SS[.fff]` (also `/` date separators, `T`, `Z` or `+hh:mm`), taken as
    UTC unless an offset is given -> epoch seconds. `allow_epoch` also accepts plain numbers."""
    arr = trimmed(arr)
    n = len(arr)
    out = np.full(n, np.nan)
    parts = pc.extract_regex(arr, DATETIME_RE)
    matched = np.asarray(pc.is_valid(parts).to_numpy(zero_copy_only=False), dtype=bool)
    if matched.any():
        sub = pc.filter(parts, pa.array(matched))

        def ints(field: str) -> np.ndarray:
            col = pc.struct_field(sub, field)
            return np.asarray(pc.cast(col, pa.int64()).to_numpy(zero_copy_only=False))

        y, mo, d = ints("y"), ints("mo"), ints("d")
        h, mi, s = ints("h"), ints("mi"), ints("s")
        frac_txt = pc.struct_field(sub, "f")
        frac_txt = pc.if_else(pc.equal(frac_txt, ""), pa.scalar("0"), frac_txt)
        frac = np.asarray(pc.cast(frac_txt, pa.float64()).to_numpy(zero_copy_only=False))
        leap = ((y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))).astype(np.int64)
        mo_ok = (mo >= 1) & (mo <= 12)
        mdays = _MDAYS[np.clip(mo, 0, 12)] + np.where(mo == 2, leap, 0)
        valid = mo_ok & (d >= 1) & (d <= mdays) & (h < 24) & (mi < 60) & (s <= 60)
        secs = (_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s).astype(np.float64)
        vals = secs + frac
        tz = pc.struct_field(sub, "tz")
        if pc.any(pc.not_equal(tz, "")).as_py():
            vals = vals - np.asarray(map_distinct(tz, _tz_offset, pa.float64())
                                     .to_numpy(zero_copy_only=False))
        vals[~valid] = np.nan
        out[matched] = vals
    if allow_epoch and not matched.all():
        rest = ~matched
        num = pc.if_else(
            pc.match_substring_regex(arr, NUMBER_RE).fill_null(False), arr,
            pa.scalar(None, pa.string()))
        epoch = np.asarray(pc.cast(num, pa.float64()).to_numpy(zero_copy_only=False))
        out[rest] = epoch[rest]
    bad = ~np.isfinite(out)
    if bad.any():
        txt = values_text(arr)
        batch.reject(bad, lambda i: f"bad timestamp {shown(txt(i))} in {name}")
    return out


def check_ts(batch: Batch, ts: np.ndarray, raw: Callable[[int], Any], name: str) -> np.ndarray:
    """Epoch seconds must be present, finite and >= 0."""
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(ts) | (ts < 0)
    if bad.any():
        batch.reject(bad, lambda i: f"bad timestamp {shown(raw(i))} in {name}")
    return ts


# --------------------------------------------------------------------------- addresses

def _ip_ok(value: str | None) -> bool:
    if value is None or ":" not in value:
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def valid_ip(arr: Any) -> np.ndarray:
    """Which values are IPv4 / IPv6 addresses (checked once per distinct value)."""
    arr = as_string(arr)
    if len(arr) == 0:
        return np.zeros(0, dtype=bool)
    enc = pc.dictionary_encode(arr)
    dic = enc.dictionary
    ok = np.asarray(pc.match_substring_regex(dic, IPV4_RE).to_numpy(zero_copy_only=False),
                    dtype=bool)
    for j in np.flatnonzero(~ok):  # distinct non-IPv4 values (IPv6 or bad)
        ok[j] = _ip_ok(dic[int(j)].as_py())
    ind = enc.indices
    result = np.zeros(len(arr), dtype=bool)
    valid = np.asarray(pc.is_valid(ind).to_numpy(zero_copy_only=False), dtype=bool)
    result[valid] = ok[np.asarray(ind.filter(pc.is_valid(ind)).to_numpy(zero_copy_only=False))]
    return result


def check_id_length(batch: Batch, arr: pa.Array, name: str) -> None:
    """Host ids longer than MAX_HOST_ID_BYTES (UTF-8) are rejects, in every format."""
    size = np.asarray(pc.binary_length(arr).fill_null(0).to_numpy(zero_copy_only=False))
    long = size > MAX_HOST_ID_BYTES
    if long.any():
        batch.reject(long, lambda i: f"host id too long in {name}: {int(size[i]):,} bytes, "
                                     f"at most {MAX_HOST_ID_BYTES:,}")


def check_ip(batch: Batch, arr: Any, name: str) -> pa.Array:
    arr = as_string(arr)
    check_id_length(batch, arr, name)
    bad = ~valid_ip(arr)
    if bad.any():
        txt = values_text(arr)
        batch.reject(bad, lambda i: f"bad address {shown(txt(i))} in {name}")
    return arr.fill_null(UNSET)


def check_host_id(batch: Batch, arr: Any, name: str) -> pa.Array:
    """Loose host identifiers (CIDDS: IPs, `DNS`, `EXT_SERVER`, `4711_8`): non-empty, no
    whitespace, at most MAX_HOST_ID_BYTES."""
    arr = as_string(arr)
    check_id_length(batch, arr, name)
    ok = pc.match_substring_regex(arr, r"^[^\s]+$").fill_null(False)
    bad = ~np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool)
    if bad.any():
        txt = values_text(arr)
        batch.reject(bad, lambda i: f"bad address {shown(txt(i))} in {name}")
    return arr.fill_null(UNSET)


def is_mac(arr: Any) -> np.ndarray:
    return np.asarray(pc.match_substring_regex(as_string(arr), MAC_RE).fill_null(False)
                      .to_numpy(zero_copy_only=False), dtype=bool)


# --------------------------------------------------------------------------- derived values

#: TCP flag letter -> originator history letter (Zeek's letters; PSH marks payload = 'D')
FLAG_LETTERS = {"S": "S", "A": "A", "P": "D", "U": "U", "F": "F", "R": "R"}
HISTORY_ORDER = "SADUFR"
_FLAG_BITS = {"F": 1, "S": 2, "R": 4, "P": 8, "A": 16, "U": 32, "E": 64, "C": 128}


def flags_history(flags: str | None) -> str | None:
    """nfdump / CIDDS TCP flags (`.AP.S.`, `...A..SF`, or hex `0x1b`) -> history letters.

    Returns '-' when no flag is set, None when the text is not a flags field.
    """
    if flags is None:
        return UNSET
    text = flags.strip()
    if text in ("", "-"):
        return UNSET
    seen: set[str] = set()
    if text.lower().startswith("0x"):
        try:
            bits = int(text, 16)
        except ValueError:
            return None
        seen = {letter for letter, bit in _FLAG_BITS.items() if bits & bit}
    else:
        for ch in text:
            if ch == ".":
                continue
            if ch.upper() not in _FLAG_BITS:
                return None
            seen.add(ch.upper())
    letters = {FLAG_LETTERS[c] for c in seen if c in FLAG_LETTERS}
    out = "".join(c for c in HISTORY_ORDER if c in letters)
    return out or UNSET


def history_from_flags(batch: Batch, arr: Any, name: str, tcp: np.ndarray) -> pa.Array:
    """History column from a flags column; '-' for non-TCP records."""
    arr = trimmed(arr)
    hist = map_distinct(arr, flags_history, pa.string())
    bad = np.asarray(pc.is_null(hist).to_numpy(zero_copy_only=False), dtype=bool)
    if bad.any():
        txt = values_text(arr)
        batch.reject(bad, lambda i: f"bad TCP flags {shown(txt(i))} in {name}")
    hist = hist.fill_null(UNSET)
    return pc.if_else(pa.array(tcp), hist, pa.scalar(UNSET))


def _splitmix64(x: np.ndarray) -> np.ndarray:
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def derive_uid(lines: Lines, idx: np.ndarray) -> pa.Array:
    """Stable uid for a NetFlow record: 'F' + 17 hex digits derived from the raw line text and
    its line number: h1 = siphash-2-4 of the text (pandas' hash_array, fixed key),
    h2 = splitmix64(h1 xor splitmix64(line)); the digits are h2 (16) then h1's first. The same
    line at the same place gives the same uid on every run; equal lines elsewhere differ."""
    n = len(idx)
    if n == 0:
        return pa.array([], type=pa.string())
    text = pc.utf8_rtrim(lines.raw_lines(idx).cast(pa.large_string()), characters="\r\n")
    h1 = pd.util.hash_array(text.to_numpy(zero_copy_only=False), hash_key=_UID_KEY,
                            categorize=False).astype(np.uint64)
    h2 = _splitmix64(h1 ^ _splitmix64(lines.numbers(idx).astype(np.uint64)))
    both = np.stack([h2.astype(">u8"), h1.astype(">u8")], axis=1).view(np.uint8).reshape(n, 16)
    nib = np.empty((n, 32), dtype=np.uint8)
    nib[:, 0::2] = _HEX[both >> 4]
    nib[:, 1::2] = _HEX[both & 15]
    out = np.empty((n, 18), dtype=np.uint8)
    out[:, 0] = ord("F")
    out[:, 1:] = nib[:, :17]
    offsets = np.arange(0, 18 * (n + 1), 18, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(out.tobytes()))


# --------------------------------------------------------------------------- assembly

def _column(value: Any, name: str, n: int) -> pa.Array:
    typ = ARROW_TYPES[name]
    if value is None:  # a field the layout lacks: unknown
        if pa.types.is_string(typ) and name not in NULLABLE_STRINGS:
            return pa.array(np.full(n, UNSET, dtype=object), type=typ)
        if name in ("sport", "dport", "status_code"):
            return pa.array(np.full(n, -1), type=typ)
        if pa.types.is_floating(typ):
            return pa.array(np.full(n, np.nan), type=typ)
        return pa.nulls(n, type=typ)
    if isinstance(value, str):
        return pa.array(np.full(n, value, dtype=object), type=typ)
    if isinstance(value, (pa.Array, pa.ChunkedArray)):
        arr = as_array(value)
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        if arr.type != typ:
            arr = arr.cast(typ)
        if pa.types.is_string(typ) and name not in NULLABLE_STRINGS:
            arr = arr.fill_null(UNSET)
        return arr
    data = np.asarray(value)
    if pa.types.is_integer(typ):
        data = data.astype(typ.to_pandas_dtype())
    return pa.array(data, type=typ)


def build_table(batch: Batch, cols: dict[str, Any], table: str = "conn") -> pa.Table:
    """The kept rows of a batch as a table with the canonical columns (plus label columns
    present in `cols`); `table` names a record table (`dns`, `http`) instead of connections.
    `line` is filled from the batch; a column missing from `cols` is null (`sensor`, the
    free-text columns of the record tables) or unknown."""
    n = batch.n
    cols = dict(cols)
    cols["line"] = batch.line_numbers()
    if table == "conn":
        names = [*BASE_COLUMNS, SENSOR_COLUMN, *(c for c in LABEL_COLUMNS if c in cols)]
    else:
        names = list(TABLE_COLUMNS[table])
    arrays = [_column(cols.get(c), c, n) for c in names]
    out = pa.Table.from_arrays(arrays, names=names)
    keep = batch.keep()
    if not keep.all():
        out = out.filter(pa.array(keep))
    return out


def _record_frames(extra: dict[str, list[pa.Table]] | None) -> dict[str, pd.DataFrame]:
    frames: dict[str, pd.DataFrame] = {}
    for name, parts in (extra or {}).items():
        parts = [t for t in parts if t.num_rows]
        if not parts:
            continue
        table = parts[0] if len(parts) == 1 else pa.concat_tables(parts).sort_by("line")
        frames[name] = table.to_pandas(use_threads=table.num_rows >= _THREADED_ROWS)
    return frames


def finish(tables: list[pa.Table], rejects: list[Reject], skipped: int,
           extra: dict[str, list[pa.Table]] | None = None) -> Chunk | None:
    """One Chunk from the tables of its runs (connections in `tables`, the record tables'
    runs by name in `extra`); None when there is nothing to report."""
    tables = [t for t in tables if t.num_rows]
    records = _record_frames(extra)
    if not tables and not rejects and not skipped and not records:
        return None
    labels = tuple(c for c in LABEL_COLUMNS if any(c in t.column_names for t in tables))
    ts: np.ndarray
    if not tables:
        frame = empty_frame(labels, sensor=True)
        ts = np.concatenate([f["ts"].to_numpy(dtype=np.float64) for f in records.values()]) \
            if records else frame["ts"].to_numpy()
    else:
        unified = []
        for t in tables:
            for c in labels:
                if c not in t.column_names:
                    t = t.append_column(c, pa.array(np.full(t.num_rows, UNSET, dtype=object),
                                                    type=pa.string()))
            unified.append(t.select([*BASE_COLUMNS, SENSOR_COLUMN, *labels]))
        table = unified[0] if len(unified) == 1 else pa.concat_tables(unified)
        if len(unified) > 1:
            table = table.sort_by("line")
        ts = table.column("ts").to_numpy()
        # threads pay off only on big chunks (fixed cost per call otherwise)
        frame = table.to_pandas(use_threads=table.num_rows >= _THREADED_ROWS)
    relative = bool(len(ts)) and float(np.nanmax(ts)) < RELATIVE_TS_LIMIT
    rejects.sort(key=lambda r: r.line)
    return Chunk(frame=frame, rejects=rejects, relative_ts=relative, skipped=skipped,
                 tables=records)
