"""Text renderings of :class:`Conns` (Zeek TSV, Zeek JSON, CIDDS-001 CSV) and Zeek-like uids.

All formatting is vectorised with pyarrow compute kernels: each column becomes a string array,
the columns are joined element-wise, and the joined array's data buffer *is* the file body
(one record per line). Output is a pure function of its input (no clocks, no dict order).
"""

from __future__ import annotations

import datetime as dt
import importlib
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphnet.generate import conns as C
from graphnet.generate.conns import Conns

US = 1_000_000

# gzip: ISA-L's deflate (package `isal`) when installed, about 4x faster than zlib at level 1;
# otherwise zlib. Both write standard gzip members (mtime 0, no file name); the bytes differ
# between the two (and between zlib builds), so the compressor is recorded in truth.json.
_deflate: Any
try:
    _deflate = importlib.import_module("isal.isal_zlib")
    COMPRESSOR = f"isal {importlib.import_module('isal').__version__}"
except ImportError:
    _deflate = zlib
    COMPRESSOR = f"zlib {zlib.ZLIB_RUNTIME_VERSION}"
_B62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                     dtype=np.uint8)
_M64 = (1 << 64) - 1

ZEEK_FIELDS = ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto",
               "service", "duration", "orig_bytes", "resp_bytes", "conn_state", "local_orig",
               "local_resp", "missed_bytes", "history", "orig_pkts", "orig_ip_bytes",
               "resp_pkts", "resp_ip_bytes", "tunnel_parents")
ZEEK_TYPES = ("time", "string", "addr", "port", "addr", "port", "enum", "string", "interval",
              "count", "count", "string", "bool", "bool", "count", "string", "count", "count",
              "count", "count", "set[string]")
CIDDS_HEADER = ("Date first seen,Duration,Proto,Src IP Addr,Src Pt,Dst IP Addr,Dst Pt,Packets,"
                "Bytes,Flows,Flags,Tos,class,attackType,attackID,attackDescription\n")


# ------------------------------------------------------------------------------------ uids
def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a bijection on uint64 (wrapping arithmetic on arrays)."""
    z = z ^ (z >> np.uint64(30))
    z = z * np.uint64(0xBF58476D1CE4E5B9)
    z = z ^ (z >> np.uint64(27))
    z = z * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def uids(seed: int, block: int, n: int) -> np.ndarray:
    """`n` Zeek-style uids (``C`` + 17 base-62 characters) for records 0..n-1 of a block.

    Unique within a run: the first 11 characters encode a keyed bijection of
    (block << 32 | index); the other 6 come from a second hash.
    """
    key = (seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & _M64
    ctr = (np.uint64(block) << np.uint64(32)) | np.arange(n, dtype=np.uint64)
    z = _mix(ctr ^ np.uint64(key))
    z2 = _mix(z ^ np.uint64(0xD1B54A32D192ED03))
    out = np.empty((n, 18), dtype=np.uint8)
    out[:, 0] = ord("C")
    b62 = np.uint64(62)
    v = z.copy()
    for i in range(11):
        out[:, 1 + i] = _B62[(v % b62).astype(np.intp)]
        v //= b62
    v = z2
    for i in range(6):
        out[:, 12 + i] = _B62[(v % b62).astype(np.intp)]
        v //= b62
    return out.view("S18").ravel()


# ------------------------------------------------------------------------------- addresses
def _bij24(x: np.ndarray, key: int) -> np.ndarray:
    m = np.int64(0xFFFFFF)
    x = (x.astype(np.int64) ^ np.int64(key & 0xFFFFFF)) & m
    for mul, sh in ((0x2C1B3C6D, 12), (0x297A2D39, 11), (0x1B873593, 13)):
        x = (x * np.int64(mul | 1)) & m
        x = x ^ (x >> np.int64(sh))
    return x


class Addresses:
    """IPv4 numbers -> host ids as written: dotted quads; in CIDDS style, public addresses are
    anonymised like CIDDS-001 does (a random number for the /24 and the real last byte)."""

    def __init__(self, internal: Callable[[np.ndarray], np.ndarray], cidds: bool, seed: int):
        self.internal = internal
        self.cidds = cidds
        self.key = (seed * 2654435761 + 12345) & 0xFFFFFF

    def strings(self, ips: np.ndarray) -> pa.Array:
        """Host ids of distinct addresses (vectorised)."""
        ips = ips.astype(np.uint32)
        octets = [_s((ips >> np.uint32(s)) & np.uint32(255)) for s in (24, 16, 8, 0)]
        out = pc.binary_join_element_wise(*octets, ".")
        if self.cidds:
            ext = ~self.internal(ips) & (ips < np.uint32(224 << 24))
            if ext.any():
                pre = _s(_bij24(ips >> np.uint32(8), self.key) + 10000)
                anon = pc.binary_join_element_wise(pre, octets[3], "_")
                out = pc.if_else(pa.array(ext), anon, out)
        return out

    def arrays(self, *cols: np.ndarray) -> list[pa.Array]:
        """Host id strings for each address column, formatting each distinct address once."""
        uniq, inv = np.unique(np.concatenate(cols), return_inverse=True)
        table = self.strings(uniq)
        out, start = [], 0
        for c in cols:
            out.append(table.take(pa.array(inv[start:start + c.shape[0]].astype(np.int64))))
            start += c.shape[0]
        return out

    def array(self, ips: np.ndarray) -> pa.Array:
        return self.arrays(ips)[0]

    def texts(self, ips: np.ndarray) -> list[str]:
        return [str(x) for x in self.strings(ips).to_pylist()]

    def text(self, ip: int) -> str:
        return self.texts(np.array([ip], dtype=np.uint32))[0]


# ------------------------------------------------------------------------------- helpers
def _s(x: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(x), pa.string())


def _fixed(us: np.ndarray, digits: int) -> pa.Array:
    """Non-negative integer microseconds -> 'S.ffffff' (digits = 6) or 'S.fff' (digits = 3)."""
    div = 10 ** (6 - digits)
    v = us // div
    unit = 10 ** digits
    return pc.binary_join_element_wise(_s(v // unit), pc.utf8_lpad(_s(v % unit), digits, "0"), ".")


_TWO_COLON = pa.array([f"{i:02d}:" for i in range(60)], type=pa.string())
_TWO_DOT = pa.array([f"{i:02d}." for i in range(60)], type=pa.string())
_THREE = pa.array([f"{i:03d}" for i in range(1000)], type=pa.string())


def _datetime_ms(ms: np.ndarray) -> pa.Array:
    """Epoch milliseconds -> 'YYYY-MM-DD HH:MM:SS.mmm' (UTC), without strftime."""
    day = ms // 86_400_000
    tod = ms - day * 86_400_000
    udays, inv = np.unique(day, return_inverse=True)
    epoch = dt.date(1970, 1, 1)
    dates = pa.array([(epoch + dt.timedelta(days=int(d))).isoformat() + " " for d in udays],
                     type=pa.string()).take(pa.array(inv.astype(np.int64)))

    def tab(table: pa.Array, v: np.ndarray) -> pa.Array:
        return table.take(pa.array(v.astype(np.int32)))

    return pc.binary_join_element_wise(
        dates, tab(_TWO_COLON, tod // 3_600_000), tab(_TWO_COLON, (tod // 60_000) % 60),
        tab(_TWO_DOT, (tod // 1000) % 60), tab(_THREE, tod % 1000), "")


def _or_dash(mask_unset: np.ndarray, strings: pa.Array) -> pa.Array:
    if not mask_unset.any():
        return strings
    return pc.if_else(pa.array(mask_unset), pa.scalar("-"), strings)


def _cat(table: tuple[str, ...], codes: np.ndarray) -> pa.Array:
    return pa.array(table, type=pa.string()).take(pa.array(codes.astype(np.int32)))


def _body(arr: pa.Array) -> memoryview:
    """The concatenated data of a string array (no separators), without copying it (the view
    keeps the Arrow buffer alive)."""
    if len(arr) == 0:
        return memoryview(b"")
    off = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=len(arr) + 1,
                        offset=arr.offset * 4)
    data = arr.buffers()[2]
    assert data is not None
    return memoryview(data)[int(off[0]):int(off[-1])]


def _offsets(arr: pa.Array) -> np.ndarray:
    off = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=len(arr) + 1,
                        offset=arr.offset * 4).astype(np.int64)
    return off - off[0]


# ------------------------------------------------------------------------------- zeek
def zeek_lines(c: Conns, uid: np.ndarray, addr: Addresses,
               local: Callable[[np.ndarray], np.ndarray], json: bool
               ) -> tuple[memoryview, np.ndarray]:
    """Render records; returns (body, line start offsets with a final end offset)."""
    n = len(c)
    if n == 0:
        return memoryview(b""), np.zeros(1, dtype=np.int64)
    ts = _fixed(c.ts, 6)
    uid_a = pa.array(uid).cast(pa.string())
    src, dst = addr.arrays(c.src, c.dst)
    sp, dp = _s(c.sport), _s(c.dport)
    proto = _cat(C.PROTOS, c.proto)
    svc = _cat(C.SERVICES, c.service)
    dur_unset = c.duration < 0
    dur = _fixed(np.maximum(c.duration, 0), 6)
    ob_unset = c.orig_bytes < 0
    rb_unset = c.resp_bytes < 0
    ob, rb = _s(np.maximum(c.orig_bytes, 0)), _s(np.maximum(c.resp_bytes, 0))
    state = _cat(C.STATES, c.state)
    hist = _cat(C.HISTORIES, c.history)
    lo, lr = local(c.src), local(c.dst)
    op, oib, rp, rib = _s(c.orig_pkts), _s(c.orig_ip_bytes), _s(c.resp_pkts), _s(c.resp_ip_bytes)
    if not json:
        tf = pa.array(["F", "T"], type=pa.string())
        cols = [ts, uid_a, src, sp, dst, dp, proto, svc, _or_dash(dur_unset, dur),
                _or_dash(ob_unset, ob), _or_dash(rb_unset, rb), state,
                tf.take(pa.array(lo.astype(np.int8))), tf.take(pa.array(lr.astype(np.int8))),
                pa.scalar("0"), hist, op, oib, rp, rib, pa.scalar("-\n")]
        line = pc.binary_join_element_wise(*cols, "\t")
    else:
        tf = pa.array(["false", "true"], type=pa.string())
        empty = pa.scalar("")

        def opt(unset: np.ndarray, *parts: pa.Array | pa.Scalar | str) -> pa.Array:
            p = [pa.scalar(x) if isinstance(x, str) else x for x in parts]
            frag = pc.binary_join_element_wise(*p, "")
            if not unset.any():
                return frag
            return pc.if_else(pa.array(unset), empty, frag)

        svc_unset = c.service == 0
        hist_unset = c.history == 0
        cols = [
            pa.scalar('{"ts":'), ts, pa.scalar(',"uid":"'), uid_a, pa.scalar('","id.orig_h":"'),
            src, pa.scalar('","id.orig_p":'), sp, pa.scalar(',"id.resp_h":"'), dst,
            pa.scalar('","id.resp_p":'), dp, pa.scalar(',"proto":"'), proto, pa.scalar('"'),
            opt(svc_unset, ',"service":"', svc, '"'),
            opt(dur_unset, ',"duration":', dur),
            opt(ob_unset, ',"orig_bytes":', ob),
            opt(rb_unset, ',"resp_bytes":', rb),
            pa.scalar(',"conn_state":"'), state, pa.scalar('","local_orig":'),
            tf.take(pa.array(lo.astype(np.int8))), pa.scalar(',"local_resp":'),
            tf.take(pa.array(lr.astype(np.int8))), pa.scalar(',"missed_bytes":0'),
            opt(hist_unset, ',"history":"', hist, '"'),
            pa.scalar(',"orig_pkts":'), op, pa.scalar(',"orig_ip_bytes":'), oib,
            pa.scalar(',"resp_pkts":'), rp, pa.scalar(',"resp_ip_bytes":'), rib,
            pa.scalar("}\n"),
        ]
        line = pc.binary_join_element_wise(*cols, "")
    return _body(line), _offsets(line)


def zeek_time(us: int) -> str:
    return dt.datetime.fromtimestamp(us // US, tz=dt.UTC).strftime("%Y-%m-%d-%H-%M-%S")


def zeek_header(open_us: int) -> bytes:
    lines = [
        "#separator \\x09",
        "#set_separator\t,",
        "#empty_field\t(empty)",
        "#unset_field\t-",
        "#path\tconn",
        f"#open\t{zeek_time(open_us)}",
        "#fields\t" + "\t".join(ZEEK_FIELDS),
        "#types\t" + "\t".join(ZEEK_TYPES),
    ]
    return ("\n".join(lines) + "\n").encode()


def zeek_footer(close_us: int) -> bytes:
    return f"#close\t{zeek_time(close_us)}\n".encode()


def gzip_bytes(*chunks: bytes | memoryview) -> bytes:
    """Deterministic gzip member: mtime 0, no file name, fast level 1."""
    z = _deflate.compressobj(1, _deflate.DEFLATED, 31)
    out = [z.compress(ch) for ch in chunks]
    out.append(z.flush())
    return b"".join(out)


# ------------------------------------------------------------------------------- cidds
def _flag_tables() -> tuple[tuple[str, ...], tuple[str, ...]]:
    fwd, rev = [], []
    for h in C.HISTORIES:
        hs = "" if h == "-" else h
        o = {"A": any(ch in hs for ch in "ADF") or ("R" in hs and "h" in hs),
             "P": "D" in hs, "R": "R" in hs, "S": "S" in hs, "F": "F" in hs}
        r = {"A": any(ch in hs for ch in "hadfr"), "P": "d" in hs, "R": "r" in hs,
             "S": "h" in hs, "F": "f" in hs}
        fwd.append("." + "".join(k if o[k] else "." for k in "APRSF"))
        rev.append("." + "".join(k if r[k] else "." for k in "APRSF"))
    return tuple(fwd), tuple(rev)


FLAGS_FWD, FLAGS_REV = _flag_tables()
_CIDDS_PROTO = ("TCP  ", "UDP  ", "ICMP ")


def _nf_bytes(b: np.ndarray) -> pa.Array:
    """nfdump-style byte counts: plain below one million, else '  1.2 M' / '  3.4 G'."""
    plain = _s(b)
    big = b >= 1_000_000
    if not big.any():
        return plain
    giga = b >= 1_000_000_000
    unit = np.where(giga, 100_000_000, 100_000)
    tenths = (b + unit // 2) // unit
    num = pc.binary_join_element_wise(_s(tenths // 10), _s(tenths % 10), ".")
    num = pc.utf8_lpad(num, 5, " ")
    scaled = pc.binary_join_element_wise(num, pc.if_else(pa.array(giga), pa.scalar(" G"),
                                                         pa.scalar(" M")), "")
    return pc.if_else(pa.array(big), scaled, plain)


def cidds_rows(c: Conns, addr: Addresses, attack_ids: np.ndarray, descriptions: tuple[str, ...]
               ) -> tuple[memoryview, np.ndarray, int]:
    """Unidirectional flows (one row per direction that carried packets), sorted by time.

    Returns (body, sorted ms timestamps of rows, number of rows). `attack_ids` maps a
    scenario tag to its attackID, `descriptions` a tag to its attackDescription.
    """
    n = len(c)
    if n == 0:
        return memoryview(b""), np.zeros(0, np.int64), 0
    has_rev = c.resp_pkts > 0
    ri = np.flatnonzero(has_rev)
    dur = np.maximum(c.duration, 0)
    lag = np.minimum(dur[ri], np.maximum(dur[ri] // 50, 80))
    t_us = np.concatenate([c.ts, c.ts[ri] + lag])
    d_us = np.concatenate([dur, dur[ri] - lag])
    src = np.concatenate([c.src, c.dst[ri]])
    dst = np.concatenate([c.dst, c.src[ri]])
    icmp = np.concatenate([c.proto == C.ICMP, c.proto[ri] == C.ICMP])
    sport = np.concatenate([c.sport, c.dport[ri]])
    dport = np.concatenate([c.dport, c.sport[ri]])
    # ICMP in NetFlow: source port 0, destination port type.code (echo 8.0, reply 0.0)
    icmp_dst = np.concatenate([np.full(n, 8), np.zeros(ri.shape[0], np.int64)])
    pk = np.concatenate([c.orig_pkts, c.resp_pkts[ri]])
    by = np.concatenate([c.orig_ip_bytes, c.resp_ip_bytes[ri]])
    proto = np.concatenate([c.proto, c.proto[ri]])
    tcp = proto == C.TCP
    flags_code = np.concatenate([c.history, c.history[ri]]).astype(np.int32)
    is_rev = np.concatenate([np.zeros(n, bool), np.ones(ri.shape[0], bool)])
    tag = np.concatenate([c.tag, c.tag[ri]])
    atype = np.concatenate([c.atype, c.atype[ri]])
    t_ms = t_us // 1000
    o = np.lexsort((is_rev, t_ms))
    t_ms, d_us, src, dst, icmp = t_ms[o], d_us[o], src[o], dst[o], icmp[o]
    sport, dport, icmp_dst, pk, by = sport[o], dport[o], icmp_dst[o], pk[o], by[o]
    proto, tcp, flags_code, is_rev = proto[o], tcp[o], flags_code[o], is_rev[o]
    tag, atype = tag[o], atype[o]
    m = t_ms.shape[0]

    date = _datetime_ms(t_ms)
    duration = _fixed(d_us, 3)
    sp = _s(np.where(icmp, 0, sport))
    dp_num = _s(np.where(icmp, icmp_dst, dport))
    dp = pc.binary_join_element_wise(dp_num, pa.scalar("0"), ".")
    fwd = pa.array(FLAGS_FWD, type=pa.string()).take(pa.array(flags_code))
    rev = pa.array(FLAGS_REV, type=pa.string()).take(pa.array(flags_code))
    flags = pc.if_else(pa.array(is_rev), rev, fwd)
    flags = pc.if_else(pa.array(tcp), flags, pa.scalar("......"))
    attack = tag >= 0
    cls = pc.if_else(pa.array(attack),
                     pc.if_else(pa.array(is_rev), pa.scalar("victim"), pa.scalar("attacker")),
                     pa.scalar("normal"))
    atype_s = _cat(C.ATTACK_TYPES, atype)
    if attack.any():
        safe_tag = np.maximum(tag, 0)
        aid = pc.if_else(pa.array(attack), _s(attack_ids[safe_tag]), pa.scalar("---"))
        desc = pc.if_else(pa.array(attack), _cat(descriptions, safe_tag), pa.scalar("---"))
    else:
        aid = pa.scalar("---")
        desc = pa.scalar("---")
    src_s, dst_s = addr.arrays(src, dst)
    cols = [date, duration, _cat(_CIDDS_PROTO, proto), src_s, sp, dst_s, dp,
            _s(pk), _nf_bytes(by), pa.scalar("1"), flags, pa.scalar("0"), cls, atype_s, aid,
            desc]
    line = pc.binary_join_element_wise(*cols, ",")
    line = pc.binary_join_element_wise(line, pa.scalar("\n"), "")
    return _body(line), t_ms, m
