"""nfdump CSV output (`nfdump -r FILE -o csv`, nfdump 1.6 layout).

Header `ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,...` (columns found by
name; ts, td, sa, da, sp, dp, pr, flg, ipkt, ibyt are required, opkt / obyt optional). The
`Summary` block nfdump prints at the end (a `Summary` line, then totals) is not records: reading
stops at the `Summary` line.

Mapping:
- `ts` (`2016-12-07 09:14:56[.123]`) -> ts, read as UTC (nfdump prints the local time of the
  host that ran it); `td` -> duration;
- `sa` / `da` -> src / dst (IP addresses);
- `pr` lower case (`TCP` -> `tcp`; numbers 1/6/17/58 -> icmp/tcp/udp/icmp6);
- ICMP: nfdump keeps type and code in the destination port (`type * 256 + code`, or `type.code`
  as text): they become sport = type, dport = code (Zeek's convention);
- `ipkt` / `ibyt` -> src_pkts / src_bytes, `opkt` / `obyt` -> dst_pkts / dst_bytes as logged
  (exporters without out counters write 0 there);
- `flg` (`.AP.SF`, `...A..SF` or hex) -> history as for CIDDS (S A D U F R, PSH -> D), `-` for
  non-TCP; conn_state `-` (a NetFlow record does not say how the connection went);
- uid: derived, see `graphnet.sources._convert.derive_uid`.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphnet.errors import InputError
from graphnet.sources import _convert as cv
from graphnet.sources._delimited import DelimitedReader
from graphnet.sources._io import Lines
from graphnet.sources._model import Chunk, Detected

HEADER_START = "ts,te,td,sa,da,sp,dp,pr"
REQUIRED = ("ts", "td", "sa", "da", "sp", "dp", "pr", "flg", "ipkt", "ibyt")
PROTO_NUMBERS = {"1": "icmp", "6": "tcp", "17": "udp", "58": "icmp6"}


def sniff(head: bytes) -> Detected | None:
    text = head.decode("utf-8-sig", errors="replace").lstrip()
    if text.startswith(HEADER_START):
        return Detected("nfdump", True, "nfdump CSV output")
    return None


class NfdumpReader(DelimitedReader):
    title = "nfdump CSV"

    def read_header(self, text: str, where: str) -> list[str]:
        names = [c.strip() for c in text.strip().split(",")]
        missing = [c for c in REQUIRED if c not in names]
        if missing or not text.lstrip().startswith(HEADER_START):
            raise InputError(f"{where}: expected an nfdump CSV header ({HEADER_START},...), "
                             f"found {text.strip()[:80]!r}")
        return names

    def stop_rows(self, lines: Lines, idx: np.ndarray) -> int | None:
        first = lines.first_bytes()[idx]
        for pos in np.flatnonzero(first == ord("S")):  # data lines start with a digit
            if lines.content(int(idx[pos])).strip() == b"Summary":
                return int(pos)
        return None

    def normalise(self, batch: cv.Batch, raw: pa.Table) -> dict[str, Any]:
        have = set(raw.column_names)

        def col(name: str) -> pa.Array:
            return cv.trimmed(raw.column(name))

        out: dict[str, Any] = {}
        out["ts"] = cv.parse_datetime(batch, col("ts"), "ts", allow_epoch=True)
        out["duration"] = cv.parse_float(batch, col("td"), "td", unset=("", "-"))
        out["src"] = cv.check_ip(batch, col("sa"), "sa")
        out["dst"] = cv.check_ip(batch, col("da"), "da")
        proto = cv.lower(cv.categorical(col("pr")))
        proto = cv.map_distinct(proto, lambda p: PROTO_NUMBERS.get(p or "", p), pa.string())
        out["proto"] = proto
        icmp = np.asarray(pc.is_in(proto, value_set=pa.array(["icmp", "icmp6"]))
                          .to_numpy(zero_copy_only=False), dtype=bool)
        dp = col("dp")
        parts = pc.extract_regex(dp, r"^(?P<t>[0-9]{1,3})\.(?P<c>[0-9]{1,3})$")
        dotted = icmp & np.asarray(pc.is_valid(parts).to_numpy(zero_copy_only=False), dtype=bool)
        sport, _ = cv.parse_port(batch, col("sp"), "sp")
        dport, _ = cv.parse_port(batch, pc.if_else(pa.array(dotted), pa.scalar(""), dp), "dp")
        numeric = icmp & ~dotted & (dport >= 0)
        if numeric.any():
            value = dport[numeric]
            sport[numeric] = value >> 8
            dport[numeric] = value & 0xFF
        if dotted.any():
            sub = pc.filter(parts, pa.array(dotted))
            sport[dotted] = cv.int_field(sub, "t")
            dport[dotted] = cv.int_field(sub, "c")
        out["sport"], out["dport"] = sport, dport
        out["src_pkts"] = cv.parse_scaled(batch, col("ipkt"), "ipkt")
        out["src_bytes"] = cv.parse_scaled(batch, col("ibyt"), "ibyt")
        for name, oname in (("opkt", "dst_pkts"), ("obyt", "dst_bytes")):
            out[oname] = cv.parse_scaled(batch, col(name), name) if name in have \
                else np.full(batch.n, np.nan)
        tcp = np.asarray(pc.equal(proto, "tcp").to_numpy(zero_copy_only=False), dtype=bool)
        out["history"] = cv.history_from_flags(batch, col("flg"), "flg", tcp)
        out["conn_state"] = cv.UNSET
        out["service"] = cv.UNSET
        out["uid"] = cv.derive_uid(batch.lines, batch.idx)
        return out


def read(path: Path, chunk_rows: int) -> Generator[Chunk, None, None]:
    yield from NfdumpReader(path, chunk_rows)


__all__ = ["read", "sniff"]
