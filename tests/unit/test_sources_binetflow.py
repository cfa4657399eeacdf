"""CTU / Argus binetflow: comma and TAB separated, padded Dir, optional SrcPkts, L2 records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graphnet.errors import InputError
from graphnet.sources import Reject, detect, read
from graphnet.sources.binetflow import conn_state

HEADER = ("StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,TotPkts,TotBytes,"
          "SrcBytes,SrcPkts,Label")
ROWS = [
    "2019/04/04 16:23:00.325010,0.027947,udp,10.8.0.69,48427,  <->,8.8.8.8,53,CON,0,0,2,142,63,1,",
    "2019/04/04 16:24:47.672448,63.822830,tcp,10.8.0.69,56101,   ->,14.1.11.113,999,S_RA,0,0,"
    "31,8764,1887,15,flow=From-Botnet",
    "2019/04/04 16:30:10.234728,1.262451,icmp,10.8.0.69,0x0008,   ->,110.128.128.128,0x7208,"
    "ECO,0,,2,144,144,2,",
    "2019/04/04 23:47:52.316080,2721.680176,icmp,10.8.0.1,0x0403,   ->,10.8.0.69,0x0000,URF,192,"
    ",16,9216,9216,16,",
    "2018/12/18 14:00:00.595719,0.000181,tcp,2001:718:2::f0,47428,   ->,2a00:1450:400c:c00::bd,"
    "443,SPA_SPA,114,63,2,376,135,1,",
    "2019/04/04 16:25:28.874773,891.366760,igmp,10.8.0.69,,   ->,0.0.0.1,,INT,192,,15,600,600,15,",
]
# test5-mixed style: TAB separated, L2 / management records, 1970 (relative) times
TAB_HEADER = HEADER.replace(",", "\t")
TAB_ROWS = [
    "2018/05/10 10:52:47.283479\t0.045010\tman\t0\t0\t\t0\t0\tSTA\t\t\t0\t0\t0\t0\t",
    "1970/01/01 01:00:00.000000\t0.000000\tllc\t00:00:00:00:00:00\t0\t   ->\t00:00:00:00:00:00\t0"
    "\tINT\t\t\t1\t60\t60\t1\tflow=Background",
    "1970/01/01 01:00:08.140073\t0.000000\tudp\t0.0.0.0\t68\t   ->\t255.255.255.255\t67\tINT\t0"
    "\t\t1\t344\t344\t1\tflow=Background-UDP-Attempt",
    "1970/01/01 01:00:08.156845\t3554.205811\tarp\t10.0.2.15\t\t  who\t10.0.2.2\t\tCON\t\t\t22"
    "\t924\t462\t11\tflow=Background-ARP",
    "1970/01/01 01:00:08.511685\t0.000000\tipv6-icmp\t::\t135\t   ->\tff02::1:ffdd:53e7\t0\tNNS"
    "\t0\t\t1\t78\t78\t1\tflow=Background",
]


def write(tmp_path: Path, header: str, rows: list[str], name: str = "x.binetflow") -> Path:
    p = tmp_path / name
    p.write_text("\n".join([header, *rows]) + "\n")
    return p


def collect(path: Path, **kw: object) -> tuple[pd.DataFrame, list[Reject], int, list[bool]]:
    chunks = list(read(path, **kw))  # type: ignore[arg-type]
    frame = pd.concat([c.frame for c in chunks], ignore_index=True)
    rejects = [r for c in chunks for r in c.rejects]
    return frame, rejects, sum(c.skipped for c in chunks), [c.relative_ts for c in chunks]


def test_comma_separated_with_srcpkts(tmp_path: Path) -> None:
    p = write(tmp_path, HEADER, ROWS)
    found = detect(p)
    assert found.format == "binetflow" and found.is_conn
    assert found.reason == "Argus binetflow (comma-separated, with SrcPkts)"
    df, rejects, skipped, rel = collect(p)
    assert rejects == [] and skipped == 0 and rel == [False]
    r = df.iloc[0]
    assert r.ts == pytest.approx(1554394980.325010)
    assert (r.src, r.sport, r.dst, r.dport, r.proto) == ("10.8.0.69", 48427, "8.8.8.8", 53, "udp")
    assert (r.src_bytes, r.dst_bytes, r.src_pkts, r.dst_pkts) == (63, 79, 1, 1)
    assert (r.conn_state, r.history, r.service, r.label) == ("SF", "-", "-", "-")
    assert df.iloc[1].label == "flow=From-Botnet"
    assert df.conn_state.tolist() == ["SF", "REJ", "OTH", "OTH", "S1", "-"]
    assert df.uid.str.match(r"^F[0-9a-f]{17}$").all() and df.uid.is_unique


def test_icmp_hex_ports_become_type_and_code(tmp_path: Path) -> None:
    df, _, _, _ = collect(write(tmp_path, HEADER, ROWS))
    assert (df.iloc[2].sport, df.iloc[2].dport) == (8, 0)    # echo request
    assert (df.iloc[3].sport, df.iloc[3].dport) == (3, 4)    # unreachable, need to fragment
    assert (df.iloc[5].sport, df.iloc[5].dport) == (-1, -1)  # igmp: empty ports


def test_without_srcpkts(tmp_path: Path) -> None:
    header = HEADER.replace("SrcBytes,SrcPkts,", "SrcBytes,")
    rows = [",".join(r.split(",")[:14] + r.split(",")[15:]) for r in ROWS[:2]]
    p = write(tmp_path, header, rows)
    assert detect(p).reason == "Argus binetflow (comma-separated, without SrcPkts)"
    df, rejects, _, _ = collect(p)
    assert rejects == []
    assert np.isnan(df.src_pkts).all() and np.isnan(df.dst_pkts).all()
    assert df.dst_bytes.tolist() == [79, 6877]


def test_tab_separated_with_l2_and_management_records(tmp_path: Path) -> None:
    p = write(tmp_path, TAB_HEADER, TAB_ROWS)
    assert detect(p).reason.startswith("Argus binetflow (tab-separated")
    df, rejects, skipped, rel = collect(p)
    assert rejects == []
    assert skipped == 3  # man, llc, arp
    assert df.line.tolist() == [4, 6]
    assert rel == [True]  # 1970 start times
    assert df.ts.tolist() == pytest.approx([3608.140073, 3608.511685])
    assert df.proto.tolist() == ["udp", "icmp6"]
    assert (df.iloc[1].sport, df.iloc[1].dport) == (135, 0)
    assert df.label.tolist() == ["flow=Background-UDP-Attempt", "flow=Background"]


def test_malformed_lines(tmp_path: Path) -> None:
    rows = [
        ROWS[0],
        ROWS[1].replace("   ->", " get_message  ->"),
        ROWS[1].replace("10.8.0.69", "10.8.0.690"),
        ROWS[1].replace(",56101,", ",0x1ffff,"),
        ROWS[1].replace(",8764,1887,", ",1000,1887,"),
        ROWS[1].replace("2019/04/04 16:24:47.672448", "04/04/2019 16:24"),
        ROWS[1].replace(",flow=From-Botnet", ""),
        ROWS[1],
    ]
    df, rejects, _, _ = collect(write(tmp_path, HEADER, rows))
    assert df.line.tolist() == [2, 9]
    assert [(r.line, r.reason) for r in rejects] == [
        (3, "bad direction ' get_message  ->' in Dir"),
        (4, "bad address '10.8.0.690' in SrcAddr"),
        (5, "bad port '0x1ffff' in Sport"),
        (6, "bad counters: SrcBytes 1887 > TotBytes 1000"),
        (7, "bad timestamp '04/04/2019 16:24' in StartTime"),
        (8, "expected 16 fields, got 15"),
    ]


def test_wrong_header_is_an_input_error(tmp_path: Path) -> None:
    p = write(tmp_path, "StartTime,Dur,Proto,SrcAddr,DstAddr", ROWS)
    with pytest.raises(InputError, match="expected a binetflow header"):
        list(read(p))


@pytest.mark.parametrize(("proto", "state", "expected"), [
    ("tcp", "S_", "S0"),
    ("tcp", "S_RA", "REJ"),
    ("tcp", "S_R", "REJ"),
    ("tcp", "SR_SA", "RSTO"),
    ("tcp", "SRPA_", "RSTOS0"),
    ("tcp", "FSPA_FSPA", "SF"),
    ("tcp", "FSRPA_FSPA", "RSTO"),
    ("tcp", "FSPA_FSRPA", "RSTR"),
    ("tcp", "FSRPA_FSRPA", "RSTR"),
    ("tcp", "SPA_SPA", "S1"),
    ("tcp", "FSA_", "SH"),
    ("tcp", "FSPA_SPA", "S2"),
    ("tcp", "SPA_FSPA", "S3"),
    ("tcp", "PA_PA", "OTH"),
    ("tcp", "_RA", "RSTRH"),
    ("tcp", "REQ", "S0"),
    ("tcp", "CON", "S1"),
    ("tcp", "RST", "-"),
    ("tcp", "S0", "S0"),
    ("udp", "CON", "SF"),
    ("udp", "INT", "S0"),
    ("udp", "REQ", "S0"),
    ("udp", "TIM", "-"),
    ("icmp", "ECO", "OTH"),
    ("icmp6", "NNS", "OTH"),
    ("igmp", "INT", "-"),
])
def test_state_mapping(proto: str, state: str, expected: str) -> None:
    assert conn_state(proto, state) == expected
