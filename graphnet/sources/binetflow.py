"""CTU / Argus bidirectional flows (`.binetflow`), comma or TAB separated.

Header: `StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,TotPkts,TotBytes,
SrcBytes,[SrcPkts,]Label` (columns are found by name; `SrcPkts`, `Label`, `sTos`, `dTos` are
optional).

Skipped records (valid Argus records that are not IP connections; counted in Chunk.skipped):
protocol `arp`, `rarp`, `llc` or `man` (Argus management records, addresses `0`), and any
record between two MAC addresses (other layer-2 protocols).

Mapping:
- `StartTime` (`2019/04/04 16:24:47.672448`, or epoch seconds) -> ts, read as UTC (Argus prints
  the capturing host's local time; the CTU files do not say which zone it was);
- `Proto` lower case, `ipv6-icmp` -> `icmp6`;
- ports are decimal or hex (`0x0303`); for ICMP Argus writes the type and code in a hex
  `Sport` (low byte type, high byte code: `0x0303` port unreachable, `0x0403` need-to-fragment)
  and an ICMP id in `Dport`: such records get sport = type, dport = code (Zeek's convention);
  an empty port is -1;
- `Dir` must be an Argus direction (`->`, `<-`, `<->`, `<?>`, `?>`, `<?`, `who`, ...,
  space-padded); it is not otherwise used;
- src_bytes = SrcBytes, dst_bytes = TotBytes - SrcBytes; with `SrcPkts`: src_pkts = SrcPkts,
  dst_pkts = TotPkts - SrcPkts, else both NaN; a negative difference is a reject;
- `State` -> conn_state (history is `-`):
  * a Zeek conn_state name (some test files already hold them) is kept;
  * TCP `<src flags>_<dst flags>` (Argus's flags seen from each side, e.g. `FSPA_FSRPA`)
    follows Zeek's precedence: R from dst -> `REJ` if src sent only SYN, `RSTRH` if src sent
    nothing, else `RSTR`; R from src -> `RSTOS0` (SYN, no reply) / `RSTOH` / `RSTO`;
    F both ways -> `SF`; F from src only -> `SH` (no reply) / `S2`; F from dst only -> `SHR` /
    `S3`; S without reply -> `S0`; S both ways -> `S1`; otherwise (mid-stream) `OTH`;
  * TCP without flags: `REQ` -> `S0`, `CON` -> `S1`, `CLO` / `FIN` -> `SF`;
  * UDP: `CON` -> `SF` (both directions), `INT` / `REQ` -> `S0` (one direction);
  * ICMP: `OTH` (as Zeek); anything else `-`;
- `Label` -> label (`-` when empty);
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

REQUIRED = ("StartTime", "Dur", "Proto", "SrcAddr", "Sport", "Dir", "DstAddr", "Dport", "State",
            "TotPkts", "TotBytes", "SrcBytes")
SKIP_PROTOS = ("arp", "rarp", "llc", "man")
DIR_RE = r"^(?:<?[-?|]+>?|<[-?|]*|who|is-at)?$"
ZEEK_STATES = frozenset(
    ("S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "RSTOH", "SH",
     "SHR", "OTH"))
_TCP_LETTERS = frozenset("FSRPAUEC")
_TCP_WORDS = {"REQ": "S0", "CON": "S1", "CLO": "SF", "FIN": "SF"}
_UDP_WORDS = {"CON": "SF", "INT": "S0", "REQ": "S0"}


def tcp_state(src: str, dst: str) -> str:
    """Zeek-like conn_state from the TCP flags seen from each side (Zeek's precedence)."""
    s, d = set(src), set(dst)
    if "R" in d:
        if not s:
            return "RSTRH"
        return "REJ" if s <= {"S"} else "RSTR"
    if "R" in s:
        if not d:
            return "RSTOS0" if "S" in s else "RSTOH"
        return "RSTO"
    if "F" in s and "F" in d:
        return "SF"
    if "F" in s:
        return "S2" if d else "SH"
    if "F" in d:
        return "S3" if s else "SHR"
    if "S" in s:
        return "S1" if "S" in d else "S0"
    return "OTH"


def conn_state(proto: str, state: str) -> str:
    st = state.strip()
    if st in ZEEK_STATES:
        return st
    if proto == "tcp":
        if "_" in st:
            src, _, dst = st.partition("_")
            if set(src) <= _TCP_LETTERS and set(dst) <= _TCP_LETTERS:
                return tcp_state(src, dst)
            return cv.UNSET
        return _TCP_WORDS.get(st, cv.UNSET)
    if proto == "udp":
        return _UDP_WORDS.get(st, cv.UNSET)
    if proto in ("icmp", "icmp6"):
        return "OTH"
    return cv.UNSET


def sniff(head: bytes) -> Detected | None:
    text = head.decode("utf-8-sig", errors="replace").lstrip()
    first = text.split("\n", 1)[0].rstrip("\r")
    if not first.startswith("StartTime"):
        return None
    names = [c.strip() for c in first.replace("\t", ",").split(",")]
    if "SrcAddr" not in names or "DstAddr" not in names:
        return None
    sep = "tab-separated" if "\t" in first else "comma-separated"
    pkts = "with SrcPkts" if "SrcPkts" in names else "without SrcPkts"
    return Detected("binetflow", True, f"Argus binetflow ({sep}, {pkts})")


class BinetflowReader(DelimitedReader):
    title = "binetflow"

    def read_header(self, text: str, where: str) -> list[str]:
        line = text.strip("\r\n")
        self.delimiter = "\t" if "\t" in line else ","
        names = [c.strip() for c in line.split(self.delimiter)]
        missing = [c for c in REQUIRED if c not in names]
        if missing:
            raise InputError(
                f"{where}: expected a binetflow header ({','.join(REQUIRED)},...), "
                f"found {line[:80]!r}")
        return names

    def normalise(self, batch: cv.Batch, raw: pa.Table) -> dict[str, Any]:
        have = set(raw.column_names)

        def col(name: str) -> pa.Array:
            return cv.trimmed(raw.column(name))

        proto = cv.lower(cv.categorical(col("Proto")))
        proto = pc.if_else(pc.equal(proto, "ipv6-icmp"), pa.scalar("icmp6"), proto)
        src_txt, dst_txt = col("SrcAddr"), col("DstAddr")
        skip = np.asarray(pc.is_in(proto, value_set=pa.array(list(SKIP_PROTOS)))
                          .to_numpy(zero_copy_only=False), dtype=bool)
        skip |= cv.is_mac(src_txt) & cv.is_mac(dst_txt)
        batch.skip_rows(skip)

        out: dict[str, Any] = {"proto": proto}
        out["ts"] = cv.parse_datetime(batch, col("StartTime"), "StartTime", allow_epoch=True)
        out["duration"] = cv.parse_float(batch, col("Dur"), "Dur", unset=("", "-"))
        out["src"] = cv.check_ip(batch, src_txt, "SrcAddr")
        out["dst"] = cv.check_ip(batch, dst_txt, "DstAddr")
        direction = col("Dir")
        dir_ok = np.asarray(pc.match_substring_regex(direction, DIR_RE)
                            .to_numpy(zero_copy_only=False), dtype=bool)
        if not dir_ok.all():
            raw_dir = cv.as_array(raw.column("Dir"))
            batch.reject(~dir_ok, lambda i: f"bad direction {cv.shown(raw_dir[i].as_py())} in Dir")

        icmp = np.asarray(pc.is_in(proto, value_set=pa.array(["icmp", "icmp6"]))
                          .to_numpy(zero_copy_only=False), dtype=bool)
        sport, hexed = cv.parse_port(batch, col("Sport"), "Sport", allow_hex=True)
        icmp_hex = icmp & hexed & (sport >= 0)
        dport_txt = pc.if_else(pa.array(icmp_hex), pa.scalar(""), col("Dport"))
        dport, _ = cv.parse_port(batch, dport_txt, "Dport", allow_hex=True)
        if icmp_hex.any():
            value = sport[icmp_hex]
            sport[icmp_hex] = value & 0xFF
            dport[icmp_hex] = value >> 8
        out["sport"], out["dport"] = sport, dport

        tot_pkts = cv.parse_float(batch, col("TotPkts"), "TotPkts", unset=("", "-"))
        tot_bytes = cv.parse_float(batch, col("TotBytes"), "TotBytes", unset=("", "-"))
        src_bytes = cv.parse_float(batch, col("SrcBytes"), "SrcBytes", unset=("", "-"))
        dst_bytes = tot_bytes - src_bytes
        with np.errstate(invalid="ignore"):
            neg = dst_bytes < 0
        if neg.any():
            batch.reject(neg, lambda i: f"bad counters: SrcBytes {src_bytes[i]:.0f} > "
                                        f"TotBytes {tot_bytes[i]:.0f}")
        out["src_bytes"], out["dst_bytes"] = src_bytes, dst_bytes
        if "SrcPkts" in have:
            src_pkts = cv.parse_float(batch, col("SrcPkts"), "SrcPkts", unset=("", "-"))
            dst_pkts = tot_pkts - src_pkts
            with np.errstate(invalid="ignore"):
                neg = dst_pkts < 0
            if neg.any():
                batch.reject(neg, lambda i: f"bad counters: SrcPkts {src_pkts[i]:.0f} > "
                                            f"TotPkts {tot_pkts[i]:.0f}")
            out["src_pkts"], out["dst_pkts"] = src_pkts, dst_pkts
        else:
            out["src_pkts"] = np.full(batch.n, np.nan)
            out["dst_pkts"] = np.full(batch.n, np.nan)

        key = pc.binary_join_element_wise(proto, col("State"), "\t")
        out["conn_state"] = cv.map_distinct(
            key, lambda k: conn_state(*(k or "\t").split("\t", 1)), pa.string())
        out["history"] = cv.UNSET
        out["service"] = cv.UNSET
        if "Label" in have:
            out["label"] = cv.categorical(col("Label"), ("", "-"))
        out["uid"] = cv.derive_uid(batch.lines, batch.idx)
        return out


def read(path: Path, chunk_rows: int) -> Generator[Chunk, None, None]:
    yield from BinetflowReader(path, chunk_rows)


__all__ = ["conn_state", "read", "sniff", "tcp_state"]
