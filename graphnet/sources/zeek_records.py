"""Zeek dns.log and http.log records -> the `dns` and `http` tables (shared by the TSV and the
JSON reader).

Columns (`_model.DNS_COLUMNS`, `_model.HTTP_COLUMNS`; documented in docs/architecture.md):
`ts`, `uid`, `src`, `sport`, `dst`, `dport` as in the connection table; dns: `proto`, `query`,
`qtype_name`, `rcode_name`, `answers`, `rejected`; http: `method`, `host`, `uri`, `referrer`,
`user_agent`, `request_body_len`, `response_body_len`, `status_code`, `resp_mime_types`; both:
`sensor` (Zeek `_node_name`, OTRF `@system`), `line`.

Values: categorical strings (`uid`, `proto`, `qtype_name`, `rcode_name`, `method`) are `-` when
unset or empty, as in the connection table; free text (`host`, `uri`, `referrer`, `user_agent`,
`resp_mime_types`) is kept as logged (Zeek's `\\xNN` escapes included), `-` when unset and `""`
when logged empty (`(empty)`, `[]`); `query`, `answers` and `sensor` likewise but null when
unset; sets and vectors (`answers`, `resp_mime_types`, old Bro's `mime_type`) are joined with
`,` whatever the `#set_separator`; `rejected` is a nullable bool (TSV `T` / `F`); body lengths
are float64, NaN when unset; `status_code` is int32, -1 when unset, like the ports.
Rejected like connection records: a bad timestamp, address, port or number, a `rejected` that
is not `T`/`F`, a status code that is not a whole number below 2^31.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphnet.sources import _convert as cv

#: Zeek field -> column, per table (aliases of older Bro versions map to the same column;
#: the first present wins)
FIELDS: dict[str, dict[str, str]] = {
    "dns": {
        "ts": "ts", "uid": "uid", "id.orig_h": "src", "id.orig_p": "sport", "id.resp_h": "dst",
        "id.resp_p": "dport", "proto": "proto", "query": "query", "qtype_name": "qtype_name",
        "rcode_name": "rcode_name", "answers": "answers", "rejected": "rejected",
        "_node_name": "sensor",
    },
    "http": {
        "ts": "ts", "uid": "uid", "id.orig_h": "src", "id.orig_p": "sport", "id.resp_h": "dst",
        "id.resp_p": "dport", "method": "method", "host": "host", "uri": "uri",
        "referrer": "referrer", "user_agent": "user_agent",
        "request_body_len": "request_body_len", "response_body_len": "response_body_len",
        "status_code": "status_code", "resp_mime_types": "resp_mime_types",
        "mime_type": "resp_mime_types", "_node_name": "sensor",
    },
}
CATEGORICAL = ("uid", "proto", "qtype_name", "rcode_name", "method")
TEXT = ("query", "host", "uri", "referrer", "user_agent", "sensor")
LISTS = ("answers", "resp_mime_types")
NUMBERS = ("request_body_len", "response_body_len")
#: fields that mark a record without `_path` / `@stream` as dns or http (JSON)
MARKERS: dict[str, tuple[str, ...]] = {
    "dns": ("query", "qtype_name", "qtype", "rcode_name", "trans_id", "answers"),
    "http": ("method", "uri", "status_code", "user_agent", "trans_depth", "resp_mime_types"),
}
_INT32_MAX = 2**31 - 1


def used_fields(table: str, fields: Sequence[str]) -> list[str]:
    """The fields of a `#fields` line read for `table` (one per column, the first alias)."""
    mapping = FIELDS[table]
    seen: set[str] = set()
    used = []
    for name in fields:
        out = mapping.get(name)
        if out and out not in seen:
            seen.add(out)
            used.append(name)
    return used


def nullable_text(arr: pa.Array, unset: str, empty: str) -> pa.Array:
    """TSV free text: the unset marker -> null, the empty marker -> ''."""
    arr = cv.as_string(arr)
    arr = pc.if_else(pc.equal(arr, unset).fill_null(False), pa.scalar(None, pa.string()), arr)
    return pc.if_else(pc.equal(arr, empty).fill_null(False), pa.scalar("", pa.string()), arr)


def _status(batch: cv.Batch, values: np.ndarray, raw: Callable[[int], Any]) -> np.ndarray:
    """Float status codes (NaN unset) -> int32 values, -1 when unset; non-integral or too
    large values are rejects."""
    with np.errstate(invalid="ignore"):
        bad = np.isfinite(values) & ((values != np.floor(values)) | (values > _INT32_MAX))
    if bad.any():
        batch.reject(bad, lambda i: f"bad status code {cv.shown(raw(i))} in status_code")
    out = np.where(np.isfinite(values) & ~bad, values, -1)
    return out.astype(np.int32)


def tsv_columns(batch: cv.Batch, raw: pa.Table, table: str, *, unset: str, empty: str,
                set_separator: str) -> dict[str, Any]:
    """The columns of `table` from a TSV run read as text (`raw`: Zeek field names)."""
    mapping = FIELDS[table]
    cols: dict[str, pa.Array] = {}
    for name in raw.column_names:
        cols.setdefault(mapping[name], cv.as_array(raw.column(name)))
    markers = tuple(dict.fromkeys((unset, empty)))
    cat_unset = tuple(dict.fromkeys((unset, empty, "", "-")))
    out: dict[str, Any] = {}
    out["ts"] = cv.parse_float(batch, cols["ts"], "ts", unset=(), what="timestamp")
    for oname, zname in (("sport", "id.orig_p"), ("dport", "id.resp_p")):
        if oname in cols:
            out[oname], _ = cv.parse_port(batch, cols[oname], zname, unset=markers)
        else:
            out[oname] = np.full(batch.n, -1, dtype=np.int64)
    out["src"] = cv.check_ip(batch, cols["src"], "id.orig_h")
    out["dst"] = cv.check_ip(batch, cols["dst"], "id.resp_h")
    for c in CATEGORICAL:
        if c in cols:
            arr = cv.categorical(cols[c], cat_unset)
            out[c] = cv.lower(arr) if c == "proto" else arr
        elif c in ("uid", "proto") or c in _columns(table):
            out[c] = cv.UNSET
    for c in TEXT:
        if c in cols:
            out[c] = nullable_text(cols[c], unset, empty)
    for c in LISTS:
        if c in cols:
            arr = nullable_text(cols[c], unset, empty)
            if set_separator != ",":
                arr = pc.replace_substring(arr, set_separator, ",")
            out[c] = arr
    for c in NUMBERS:
        if c in cols:
            out[c] = cv.parse_float(batch, cols[c], c, unset=markers)
    if "status_code" in cols:
        arr = cols["status_code"]
        vals = cv.parse_float(batch, arr, "status_code", unset=markers)
        out["status_code"] = _status(batch, vals, cv.values_text(arr))
    elif table == "http":
        out["status_code"] = np.full(batch.n, -1, dtype=np.int32)
    if "rejected" in cols:
        arr = cv.as_string(cols["rejected"])
        is_t = np.asarray(pc.equal(arr, "T").fill_null(False).to_numpy(zero_copy_only=False))
        is_f = np.asarray(pc.equal(arr, "F").fill_null(False).to_numpy(zero_copy_only=False))
        unset_mask = cv.is_unset(arr, markers)
        bad = ~(is_t | is_f | unset_mask)
        if bad.any():
            txt = cv.values_text(arr)
            batch.reject(bad, lambda i: f"bad boolean {cv.shown(txt(i))} in rejected")
        out["rejected"] = pa.array(is_t, mask=~(is_t | is_f), type=pa.bool_())
    for c in NUMBERS:
        if c not in out and table == "http":
            out[c] = np.full(batch.n, np.nan)
    return out


def _port_reason(port: pa.Array, name: str) -> Callable[[int], str]:
    return lambda i: f"bad port {cv.shown(port[i].as_py())} in {name}"


def json_time_and_ports(
    batch: cv.Batch, ts_col: pa.Array, pick: Callable[[str], pa.Array]
) -> dict[str, Any]:
    """`ts`, `sport` and `dport` of a JSON run (connections and records alike): `ts` as an
    epoch number or ISO 8601 text, ports 0-65535 (another value rejects its line; a missing
    one is -1)."""
    out: dict[str, Any] = {}
    if pa.types.is_string(ts_col.type):
        out["ts"] = cv.parse_datetime(batch, ts_col.fill_null(""), "ts", allow_epoch=True)
    else:
        ts = np.asarray(ts_col.to_numpy(zero_copy_only=False), dtype=np.float64)
        out["ts"] = cv.check_ts(batch, ts, cv.number_text(ts_col), "ts")
    for dotted, oname in (("id.orig_p", "sport"), ("id.resp_p", "dport")):
        port = pick(dotted)
        vals = np.array(port.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
        null = np.asarray(pc.is_null(port).to_numpy(zero_copy_only=False), dtype=bool)
        bad = ~null & ((vals < 0) | (vals > 65535))
        if bad.any():
            batch.reject(bad, _port_reason(port, dotted))
            vals[bad] = -1
        out[oname] = vals
    return out


def _columns(table: str) -> set[str]:
    return set(FIELDS[table].values())


def json_columns(batch: cv.Batch, pick: Callable[[str], pa.Array], table: str
                 ) -> dict[str, Any]:
    """The columns of `table` from a JSON run parsed against the reader's schema (`pick`
    gives a field by its dotted name, coalescing the underscore spelling)."""
    have = _columns(table)
    out = json_time_and_ports(batch, pick("ts"), pick)
    out["src"] = cv.check_ip(batch, pick("id.orig_h"), "id.orig_h")
    out["dst"] = cv.check_ip(batch, pick("id.resp_h"), "id.resp_h")
    for c in CATEGORICAL:
        if c in have or c == "uid":
            arr = cv.categorical(pick(c))
            out[c] = cv.lower(arr) if c == "proto" else arr
    for c in TEXT:
        if c in have and c != "sensor":
            out[c] = cv.as_string(pick(c))
    out["sensor"] = pc.coalesce(cv.as_string(pick("_node_name")),
                                cv.as_string(pick("@system")))
    for c in LISTS:
        if c in have:
            arr = pick(c)
            out[c] = pc.binary_join(arr, ",")
    if "mime_type" in FIELDS[table] and "resp_mime_types" in out:
        out["resp_mime_types"] = pc.coalesce(out["resp_mime_types"], cv.as_string(
            pick("mime_type")))
    for c in NUMBERS:
        if c in have:
            arr = pick(c)
            out[c] = cv.check_float(batch, arr, cv.number_text(arr), c)
    if "status_code" in have:
        arr = pick("status_code")
        vals = np.asarray(arr.cast(pa.float64()).to_numpy(zero_copy_only=False),
                          dtype=np.float64)
        with np.errstate(invalid="ignore"):
            neg = np.isfinite(vals) & (vals < 0)
        if neg.any():
            txt = cv.number_text(arr)
            batch.reject(neg, lambda i: f"bad status code {cv.shown(txt(i))} in status_code")
            vals[neg] = np.nan
        out["status_code"] = _status(batch, vals, cv.number_text(arr))
    if "rejected" in have:
        out["rejected"] = pick("rejected")
    return out
