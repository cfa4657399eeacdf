"""nfdump CSV output (`nfdump -o csv`, 1.6 layout) with its trailing Summary block."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from graphnet.errors import InputError
from graphnet.sources import Reject, detect, read

HEADER = ("ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,"
          "dir,nh,nhb,svln,dvln,ismc,odmc,idmc,osmc,mpls1,mpls2,mpls3,mpls4,mpls5,mpls6,mpls7,"
          "mpls8,mpls9,mpls10,cl,sl,al,ra,eng,exid,tr")
TAIL = (",0,0,0,0,0,0,0,0,0.0.0.0,0.0.0.0,0,0,00:00:00:00:00:00,00:00:00:00:00:00,"
        "00:00:00:00:00:00,00:00:00:00:00:00,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,"
        "0-0-0,0-0-0,    0.000,    0.000,    0.000,10.0.0.254,0/0,0,2016-12-07 09:15:01.000")


def row(ts: str, td: str, sa: str, da: str, sp: int, dp: object, pr: str, flg: str,
        ipkt: int, ibyt: int, opkt: int = 0, obyt: int = 0) -> str:
    te = ts
    return f"{ts},{te},{td},{sa},{da},{sp},{dp},{pr},{flg},0,0,{ipkt},{ibyt},{opkt},{obyt}" + TAIL


ROWS = [
    row("2016-12-07 09:14:56", "0.512", "192.168.1.10", "93.184.216.34", 51514, 443, "TCP",
        ".AP.SF", 12, 1500, 10, 64000),
    row("2016-12-07 09:14:57", "0.000", "192.168.1.10", "192.168.1.1", 41232, 53, "UDP",
        "......", 1, 60),
    row("2016-12-07 09:14:58.250", "0.000", "192.168.1.10", "8.8.8.8", 0, 2048, "ICMP",
        "......", 1, 84),
    row("2016-12-07 09:14:59", "1.000", "2001:db8::1", "2001:db8::2", 0, "3.3", "ICMP6",
        "......", 1, 120),
    row("2016-12-07 09:15:00", "0.001", "192.168.1.10", "192.168.1.20", 40000, 22, "6",
        "....S.", 1, 60),
]
SUMMARY = ["Summary", "flows,bytes,packets,avg_bps,avg_pps,avg_bpp", "5,1804,16,0,0,112"]


def write(tmp_path: Path, lines: list[str]) -> Path:
    p = tmp_path / "flows.csv"
    p.write_text("\n".join(lines) + "\n")
    return p


def collect(path: Path, **kw: object) -> tuple[pd.DataFrame, list[Reject], int]:
    chunks = list(read(path, **kw))  # type: ignore[arg-type]
    frame = pd.concat([c.frame for c in chunks], ignore_index=True)
    return frame, [r for c in chunks for r in c.rejects], sum(c.skipped for c in chunks)


def test_rows_and_summary_block(tmp_path: Path) -> None:
    p = write(tmp_path, [HEADER, *ROWS, *SUMMARY])
    assert detect(p).format == "nfdump" and detect(p).is_conn
    df, rejects, skipped = collect(p)
    assert rejects == [] and skipped == 0 and len(df) == 5
    r = df.iloc[0]
    assert r.ts == 1481102096.0 and r.duration == 0.512
    assert (r.src, r.sport, r.dst, r.dport, r.proto) == (
        "192.168.1.10", 51514, "93.184.216.34", 443, "tcp")
    assert (r.src_pkts, r.src_bytes, r.dst_pkts, r.dst_bytes) == (12, 1500, 10, 64000)
    assert (r.history, r.conn_state) == ("SADF", "-")
    assert df.proto.tolist() == ["tcp", "udp", "icmp", "icmp6", "tcp"]
    assert df.history.tolist() == ["SADF", "-", "-", "-", "S"]
    assert df.iloc[2].ts == 1481102098.25
    assert df.uid.str.match(r"^F[0-9a-f]{17}$").all()


def test_icmp_type_and_code(tmp_path: Path) -> None:
    df, _, _ = collect(write(tmp_path, [HEADER, *ROWS]))
    assert (df.iloc[2].sport, df.iloc[2].dport) == (8, 0)  # 2048 = 8 * 256 + 0
    assert (df.iloc[3].sport, df.iloc[3].dport) == (3, 3)  # written as type.code


def test_lines_after_summary_are_not_records(tmp_path: Path) -> None:
    p = write(tmp_path, [HEADER, ROWS[0], "garbage", ROWS[1], *SUMMARY, "more garbage"])
    df, rejects, _ = collect(p, chunk_rows=2)
    assert len(df) == 2
    assert [(r.line, r.reason) for r in rejects] == [(3, "expected 48 fields, got 1")]


def test_malformed_lines(tmp_path: Path) -> None:
    rows = [
        ROWS[0].replace("93.184.216.34", "example.org"),
        ROWS[1].replace(",41232,", ",-1,"),
        ROWS[1].replace(",1,60,", ",one,60,"),
        ROWS[4].replace("....S.", "0x12"),  # hex flags: SYN + ACK
    ]
    df, rejects, _ = collect(write(tmp_path, [HEADER, *rows]))
    assert [(r.line, r.reason) for r in rejects] == [
        (2, "bad address 'example.org' in da"),
        (3, "bad port '-1' in sp"),
        (4, "bad number 'one' in ipkt"),
    ]
    assert df.history.tolist() == ["SA"]


def test_wrong_header_is_an_input_error(tmp_path: Path) -> None:
    p = write(tmp_path, ["ts,te,td,sa,da,sp,dp,pr", *ROWS])
    with pytest.raises(InputError, match="expected an nfdump CSV header"):
        list(read(p, fmt="nfdump"))
