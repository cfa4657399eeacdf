"""CIDDS-001 flow CSV (unidirectional NetFlow exported by nfdump, then labelled).

Header: `Date first seen,Duration,Proto,Src IP Addr,Src Pt,Dst IP Addr,Dst Pt,Packets,Bytes,
Flows,Flags,Tos,class,attackType,attackID,attackDescription` (the label columns are optional).

Mapping:
- `Date first seen` (`2017-03-15 00:01:16.632`) -> ts, read as UTC;
- `Proto` is space-padded (`TCP  `) -> lower case;
- hosts are kept as logged: IP addresses or CIDDS identifiers (`DNS`, `EXT_SERVER`,
  `OPENSTACK_NET`, `ATTACKER1`, anonymised `4711_8`); they must be non-empty without blanks;
- ports may be written as floats (`58844.0`); ICMP rows carry `type.code` in `Dst Pt`
  (`3.3`): it becomes sport = type, dport = code (Zeek's convention);
- `Packets` -> src_pkts, `Bytes` -> src_bytes; nfdump's unit suffixes are expanded
  (`1.2 M` = 1.2e6, K/M/G powers of 1000, so such values are rounded); the flows are
  unidirectional: dst_bytes / dst_pkts are NaN;
- `Flags` (`.AP.S.`) -> history, originator letters in the order S A D U F R with
  PSH -> `D` (payload), SYN -> `S`, ACK -> `A`, URG -> `U`, FIN -> `F`, RST -> `R`
  (ECE/CWR dropped); `-` for non-TCP records or no flag;
- conn_state is `-`: one unidirectional flow says nothing about the reply, which is a separate
  record (no pairing is done here);
- `class` (or `label` in some re-published files) -> label, `attackType` -> attack_type,
  `attackID` -> attack_id, `attackDescription` -> detailed_label; CIDDS's `---` (not set)
  becomes `-`;
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
from graphnet.sources._model import Chunk, Detected

HEADER_START = "Date first seen,"
REQUIRED = ("Date first seen", "Duration", "Proto", "Src IP Addr", "Src Pt", "Dst IP Addr",
            "Dst Pt", "Packets", "Bytes", "Flags")
LABELS = {"label": "label", "class": "label", "attackType": "attack_type",
          "attackID": "attack_id", "attackDescription": "detailed_label"}
LABEL_UNSET = ("---", "-", "")


def sniff(head: bytes) -> Detected | None:
    text = head.decode("utf-8-sig", errors="replace").lstrip()
    if text.startswith(HEADER_START):
        return Detected("cidds", True, "CIDDS-001 flow CSV")
    return None


class CiddsReader(DelimitedReader):
    title = "CIDDS-001 CSV"

    def read_header(self, text: str, where: str) -> list[str]:
        names = [c.strip() for c in text.strip().split(",")]
        missing = [c for c in REQUIRED if c not in names]
        if missing or not text.lstrip().startswith(HEADER_START):
            raise InputError(
                f"{where}: expected a CIDDS-001 header ({','.join(REQUIRED)},...), "
                f"found {text.strip()[:80]!r}")
        return names

    def normalise(self, batch: cv.Batch, raw: pa.Table) -> dict[str, Any]:
        def col(name: str) -> pa.Array:
            return cv.trimmed(raw.column(name))

        out: dict[str, Any] = {}
        out["ts"] = cv.parse_datetime(batch, col("Date first seen"), "Date first seen")
        out["duration"] = cv.parse_float(batch, col("Duration"), "Duration", unset=("", "-"))
        proto = cv.lower(cv.categorical(col("Proto")))
        out["proto"] = proto
        out["src"] = cv.check_host_id(batch, col("Src IP Addr"), "Src IP Addr")
        out["dst"] = cv.check_host_id(batch, col("Dst IP Addr"), "Dst IP Addr")
        icmp = np.asarray(pc.is_in(proto, value_set=pa.array(["icmp", "icmp6", "ipv6-icmp"]))
                          .to_numpy(zero_copy_only=False), dtype=bool)
        sport, dport = icmp_ports(batch, col("Src Pt"), col("Dst Pt"), icmp,
                                  ("Src Pt", "Dst Pt"))
        out["sport"], out["dport"] = sport, dport
        out["src_pkts"] = cv.parse_scaled(batch, col("Packets"), "Packets")
        out["src_bytes"] = cv.parse_scaled(batch, col("Bytes"), "Bytes")
        out["dst_pkts"] = np.full(batch.n, np.nan)
        out["dst_bytes"] = np.full(batch.n, np.nan)
        tcp = np.asarray(pc.equal(proto, "tcp").to_numpy(zero_copy_only=False), dtype=bool)
        out["history"] = cv.history_from_flags(batch, col("Flags"), "Flags", tcp)
        out["conn_state"] = cv.UNSET
        out["service"] = cv.UNSET
        for name, oname in LABELS.items():
            if name in raw.column_names:
                out[oname] = cv.categorical(col(name), LABEL_UNSET)
        out["uid"] = cv.derive_uid(batch.lines, batch.idx)
        return out


def icmp_ports(batch: cv.Batch, sp: pa.Array, dp: pa.Array, icmp: np.ndarray,
               names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Ports; ICMP rows with `type.code` in the destination port become (type, code)."""
    parts = pc.extract_regex(dp, r"^(?P<t>[0-9]{1,3})\.(?P<c>[0-9]{1,3})$")
    tc = icmp & np.asarray(pc.is_valid(parts).to_numpy(zero_copy_only=False), dtype=bool)
    sport, _ = cv.parse_port(batch, sp, names[0], allow_float=True)
    dp_rest = pc.if_else(pa.array(tc), pa.scalar(""), dp)
    dport, _ = cv.parse_port(batch, dp_rest, names[1], allow_float=True)
    if tc.any():
        sub = pc.filter(parts, pa.array(tc))
        t, c = cv.int_field(sub, "t"), cv.int_field(sub, "c")
        bad = np.zeros(batch.n, dtype=bool)
        bad[tc] = (t > 255) | (c > 255)
        if bad.any():
            batch.reject(bad, lambda i: f"bad port {cv.shown(dp[i].as_py())} in {names[1]}")
        sport[tc] = t
        dport[tc] = c
    return sport, dport


def read(path: Path, chunk_rows: int) -> Generator[Chunk, None, None]:
    yield from CiddsReader(path, chunk_rows)


__all__ = ["read", "sniff"]
