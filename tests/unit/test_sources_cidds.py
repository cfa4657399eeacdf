"""CIDDS-001 flow CSV: unit suffixes, non-IP host ids, padded protocol, flags, derived uids."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graphnet.errors import InputError
from graphnet.sources import Reject, detect, read

HEADER = ("Date first seen,Duration,Proto,Src IP Addr,Src Pt,Dst IP Addr,Dst Pt,Packets,Bytes,"
          "Flows,Flags,Tos,class,attackType,attackID,attackDescription")
ROWS = [
    "2017-03-15 00:01:16.632,0.000,TCP  ,192.168.100.5,445,192.168.220.16,58844.0,1,108,1,"
    ".AP...,0,normal,---,---,---",
    "2017-03-15 00:01:16.552,12.500,TCP  ,192.168.220.47,55101,192.168.100.11,445,1500,"
    "  1.2 M,1,.AP.SF,0,attacker,dos,12,---",
    "2017-03-15 00:01:17.019,0.000,UDP  ,DNS,53,192.168.210.5,137,1,78,1,......,0,normal,"
    "---,---,---",
    "2017-03-15 00:01:17.017,0.000,ICMP ,EXT_SERVER,0,ATTACKER1,3.3,1,  3.4 K,1,......,0,"
    "victim,pingScan,3,---",
    "2017-03-15 00:01:18.000,1.5,TCP  ,4711_8,443,OPENSTACK_NET,80,10,2000,1,....S.,0,"
    "suspicious,---,---,---",
]


def write(tmp_path: Path, rows: list[str], name: str = "cidds.csv", header: str = HEADER) -> Path:
    data = ("\n".join([header, *rows]) + "\n").encode()
    if name.endswith(".gz"):
        data = gzip.compress(data)
    p = tmp_path / name
    p.write_bytes(data)
    return p


def collect(path: Path, **kw: object) -> tuple[pd.DataFrame, list[Reject], int, list[bool]]:
    chunks = list(read(path, **kw))  # type: ignore[arg-type]
    frame = pd.concat([c.frame for c in chunks], ignore_index=True)
    rejects = [r for c in chunks for r in c.rejects]
    return frame, rejects, sum(c.skipped for c in chunks), [c.relative_ts for c in chunks]


def test_detect_and_map(tmp_path: Path) -> None:
    p = write(tmp_path, ROWS)
    assert detect(p).format == "cidds" and detect(p).is_conn
    df, rejects, skipped, rel = collect(p)
    assert rejects == [] and skipped == 0 and rel == [False]
    assert list(df.columns[-6:]) == ["line", "sensor", "label", "detailed_label", "attack_type",
                                     "attack_id"]
    r = df.iloc[0]
    assert r.ts == pytest.approx(1489536076.632)
    assert (r.src, r.sport, r.dst, r.dport, r.proto) == (
        "192.168.100.5", 445, "192.168.220.16", 58844, "tcp")
    assert (r.src_pkts, r.src_bytes) == (1, 108)
    assert np.isnan(r.dst_bytes) and np.isnan(r.dst_pkts)
    assert (r.history, r.conn_state, r.service) == ("AD", "-", "-")
    assert (r.label, r.attack_type, r.attack_id, r.detailed_label) == ("normal", "-", "-", "-")
    assert r.line == 2
    assert df.uid.str.match(r"^F[0-9a-f]{17}$").all()


def test_unit_suffixes(tmp_path: Path) -> None:
    df, _, _, _ = collect(write(tmp_path, ROWS))
    assert df.src_bytes.tolist() == [108, 1.2e6, 78, 3.4e3, 2000]
    assert df.iloc[1].src_pkts == 1500


def test_non_ip_host_ids_are_kept(tmp_path: Path) -> None:
    df, rejects, _, _ = collect(write(tmp_path, ROWS))
    assert rejects == []
    assert df.src.tolist()[2:] == ["DNS", "EXT_SERVER", "4711_8"]
    assert df.dst.tolist()[3:] == ["ATTACKER1", "OPENSTACK_NET"]


def test_padded_proto_flags_and_icmp_type_code(tmp_path: Path) -> None:
    df, _, _, _ = collect(write(tmp_path, ROWS))
    assert df.proto.tolist() == ["tcp", "tcp", "udp", "icmp", "tcp"]
    assert df.history.tolist() == ["AD", "SADF", "-", "-", "S"]
    icmp = df.iloc[3]
    assert (icmp.sport, icmp.dport) == (3, 3)
    assert (df.iloc[1].label, df.iloc[1].attack_type, df.iloc[1].attack_id) == (
        "attacker", "dos", "12")


def test_uids_are_stable_and_unique(tmp_path: Path) -> None:
    rows = [*ROWS, ROWS[0]]  # the same record twice: different lines, different uids
    p = write(tmp_path, rows)
    first, _, _, _ = collect(p)
    again, _, _, _ = collect(p)
    moved = tmp_path / "elsewhere.csv.gz"
    moved.write_bytes(gzip.compress(p.read_bytes()))
    third, _, _, _ = collect(moved, chunk_rows=2)
    assert first.uid.tolist() == again.uid.tolist() == third.uid.tolist()
    assert first.uid.is_unique


def test_malformed_lines(tmp_path: Path) -> None:
    rows = [
        ROWS[0],
        ROWS[1].replace("2017-03-15 00:01:16.552", "2017-02-30 00:01:16.552"),
        ROWS[2].replace(",DNS,", ",EXT SERVER,"),
        ROWS[3].replace("  3.4 K", "lots"),
        ROWS[4].replace(",443,", ",http,"),
        ROWS[0].replace(",0,normal,", ",normal,"),
        ROWS[4].replace("....S.", ".Z...."),
        ROWS[4],
    ]
    df, rejects, _, _ = collect(write(tmp_path, rows))
    assert df.line.tolist() == [2, 9]
    assert [(r.line, r.reason) for r in rejects] == [
        (3, "bad timestamp '2017-02-30 00:01:16.552' in Date first seen"),
        (4, "bad address 'EXT SERVER' in Src IP Addr"),
        (5, "bad number 'lots' in Bytes"),
        (6, "bad port 'http' in Src Pt"),
        (7, "expected 16 fields, got 15"),
        (8, "bad TCP flags '.Z....' in Flags"),
    ]


def test_wrong_header_is_an_input_error(tmp_path: Path) -> None:
    p = write(tmp_path, ROWS, header="Date first seen,Duration,Proto")
    with pytest.raises(InputError, match="expected a CIDDS-001 header"):
        list(read(p, fmt="cidds"))


def test_without_label_columns(tmp_path: Path) -> None:
    header = ",".join(HEADER.split(",")[:12])
    rows = [",".join(r.split(",")[:12]) for r in ROWS]
    df, rejects, _, _ = collect(write(tmp_path, rows, header=header))
    assert rejects == [] and "label" not in df.columns and len(df) == 5


def test_invalid_utf8_line(tmp_path: Path) -> None:
    data = ("\n".join([HEADER, ROWS[0], ROWS[2]]) + "\n").encode()
    data = data.replace(b"normal", b"n\xf6rmal", 1)
    p = tmp_path / "cidds.csv"
    p.write_bytes(data)
    df, rejects, _, _ = collect(p)
    assert [(r.line, r.reason) for r in rejects] == [(2, "invalid UTF-8")]
    assert rejects[0].text.startswith("2017-03-15 00:01:16.632") and "\ufffd" in rejects[0].text
    assert df.line.tolist() == [3]


def test_only_malformed_lines(tmp_path: Path) -> None:
    p = write(tmp_path, ["1,2", "a,b,c"])
    chunks = list(read(p))
    assert [len(c.frame) for c in chunks] == [0]
    assert list(chunks[0].frame.columns[:3]) == ["ts", "uid", "src"]
    assert [(r.line, r.reason) for r in chunks[0].rejects] == [
        (2, "expected 16 fields, got 2"), (3, "expected 16 fields, got 3")]


def test_host_ids_are_limited_to_1024_utf8_bytes(tmp_path: Path) -> None:
    # free-text ids are kept up to 1,024 bytes of UTF-8 (512 two-byte characters), longer ones
    # are bad lines: Neo4j cannot index a value of more than about 8 KB
    rows = [
        ROWS[2].replace(",DNS,", f",{'é' * 512},"),
        ROWS[2].replace(",DNS,", f",{'é' * 512}x,"),
        ROWS[3].replace(",ATTACKER1,", f",{'x' * 1025},"),
        ROWS[3].replace(",ATTACKER1,", f",{'A|B' * 5000},"),
        ROWS[4],
    ]
    df, rejects, _, _ = collect(write(tmp_path, rows))
    assert df.line.tolist() == [2, 6]
    assert df.src.tolist() == ["é" * 512, "4711_8"]
    assert [(r.line, r.reason) for r in rejects] == [
        (3, "host id too long in Src IP Addr: 1,025 bytes, at most 1,024"),
        (4, "host id too long in Dst IP Addr: 1,025 bytes, at most 1,024"),
        (5, "host id too long in Dst IP Addr: 15,000 bytes, at most 1,024"),
    ]
