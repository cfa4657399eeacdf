"""Zeek / Bro TSV conn logs: hand-written fixtures for each layout and quirk."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graphnet.errors import InputError
from graphnet.sources import Reject, detect, read

F21 = ("ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto service duration orig_bytes "
       "resp_bytes conn_state local_orig local_resp missed_bytes history orig_pkts "
       "orig_ip_bytes resp_pkts resp_ip_bytes tunnel_parents").split()
T21 = ("time string addr port addr port enum string interval count count string bool bool "
       "count string count count count count set[string]").split()
F20 = [f for f in F21 if f != "local_resp"]  # old Bro: no local_resp
F22 = ["_node_name", *F21]
F23 = [*F21, "label", "detailedlabel"]


def header(fields: list[str], path: str = "conn", sep: str = "\t", sep_escaped: str = "\\x09",
           unset: str = "-", empty: str = "(empty)") -> str:
    return "\n".join([
        f"#separator {sep_escaped}",
        f"#set_separator{sep},",
        f"#empty_field{sep}{empty}",
        f"#unset_field{sep}{unset}",
        f"#path{sep}{path}",
        f"#open{sep}2024-04-19-00-00-01",
        "#fields" + sep + sep.join(fields),
        "#types" + sep + sep.join(["string"] * len(fields)),
    ]) + "\n"


def rec(*values: object, sep: str = "\t") -> str:
    return sep.join(str(v) for v in values) + "\n"


# one 21-field record, hand-written
R1 = rec(1713484795.943239, "CYl7H53iN6mY9NyXJ8", "167.94.138.145", 25320, "64.225.56.201",
         6008, "tcp", "-", 0.000064, 0, 0, "REJ", "F", "T", 0, "Sr", 1, 60, 1, 40, "-")
R2 = rec(1713484799.565772, "CNXhaRVWJ4tds4JM3", "2001:db8::1", 1451, "2001:db8::2", 443,
         "tcp", "ssl,http", 12.5, 1030, 20275, "SF", "T", "T", 0, "ShADadFf", 18, 1974, 14,
         21011, "(empty)")


def write(tmp_path: Path, text: str | bytes, name: str = "conn.log") -> Path:
    p = tmp_path / name
    if isinstance(text, str):
        text = text.encode()
    if name.endswith(".gz"):
        text = gzip.compress(text)
    p.write_bytes(text)
    return p


def collect(path: Path, **kw: object) -> tuple[pd.DataFrame, list[Reject], int, list[bool]]:
    chunks = list(read(path, **kw))  # type: ignore[arg-type]
    frames = [c.frame for c in chunks]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    rejects = [r for c in chunks for r in c.rejects]
    return frame, rejects, sum(c.skipped for c in chunks), [c.relative_ts for c in chunks]


def test_21_fields_maps_every_column(tmp_path: Path) -> None:
    p = write(tmp_path, header(F21) + R1 + R2 + "#close\t2024-04-19-01-00-00\n")
    assert detect(p).format == "zeek"
    assert detect(p).is_conn
    df, rejects, skipped, rel = collect(p)
    assert rejects == [] and skipped == 0 and rel == [False]
    assert list(df.columns) == ["ts", "uid", "src", "sport", "dst", "dport", "proto", "service",
                                "duration", "src_bytes", "dst_bytes", "src_pkts", "dst_pkts",
                                "conn_state", "history", "line", "sensor"]
    assert df.sensor.isna().all()
    assert str(df.ts.dtype) == "float64" and str(df.sport.dtype) == "int32"
    assert str(df.dport.dtype) == "int32" and str(df.line.dtype) == "int64"
    assert str(df.src_bytes.dtype) == "float64"
    assert all(str(df[c].dtype) == "str" for c in ("uid", "src", "dst", "proto", "service",
                                                   "conn_state", "history"))
    first = df.iloc[0]
    assert first.ts == 1713484795.943239
    assert (first.uid, first.src, first.sport, first.dst, first.dport) == (
        "CYl7H53iN6mY9NyXJ8", "167.94.138.145", 25320, "64.225.56.201", 6008)
    assert (first.proto, first.service, first.conn_state, first.history) == (
        "tcp", "-", "REJ", "Sr")
    assert first.duration == 0.000064
    assert (first.src_bytes, first.dst_bytes, first.src_pkts, first.dst_pkts) == (0, 0, 1, 1)
    assert first.line == 9
    second = df.iloc[1]
    assert second.service == "ssl,http" and second.src == "2001:db8::1"
    assert (second.src_bytes, second.dst_bytes, second.src_pkts, second.dst_pkts) == (
        1030, 20275, 18, 14)
    assert second.line == 10


def test_20_field_old_bro_layout(tmp_path: Path) -> None:
    row = rec(1379288667.706265, "CoyZrY2g74UvMMgp4a", "192.168.33.10", 1032, "54.245.228.191",
              80, "tcp", "http", 0.447460, 601, 38393, "RSTO", "-", 0, "ShADadR", 22, 1489, 31,
              39641, "(empty)")
    text = header(F20).replace("set[string]", "table[string]") + row
    df, rejects, _, _ = collect(write(tmp_path, text))
    assert rejects == []
    assert df.iloc[0].conn_state == "RSTO" and df.iloc[0].dst_bytes == 38393


def test_22_fields_with_node_name(tmp_path: Path) -> None:
    row = "worker-eth0-1\t" + R1
    df, rejects, _, _ = collect(write(tmp_path, header(F22) + row, "conn.log.gz"))
    assert rejects == []
    assert df.iloc[0].uid == "CYl7H53iN6mY9NyXJ8" and df.iloc[0].sport == 25320


@pytest.mark.parametrize("name", ["detailedlabel", "detailed-label"])
def test_23_fields_with_labels(tmp_path: Path, name: str) -> None:
    fields = [*F21, "label", name]
    text = (header(fields) + R1.rstrip("\n") + "\tMalicious\tFrom_malicious-C&C\n"
            + R2.rstrip("\n") + "\tBenign\t-\n")
    df, rejects, _, _ = collect(write(tmp_path, text))
    assert rejects == []
    assert list(df.columns[-2:]) == ["label", "detailed_label"]
    assert df.label.tolist() == ["Malicious", "Benign"]
    assert df.detailed_label.tolist() == ["From_malicious-C&C", "-"]


def test_unset_and_empty_fields(tmp_path: Path) -> None:
    row = rec(1.7e9, "C1", "10.0.0.1", "-", "10.0.0.2", "-", "icmp", "(empty)", "-", "-", "-",
              "OTH", "-", "-", 0, "-", "-", "-", "-", "-", "(empty)")
    df, rejects, _, _ = collect(write(tmp_path, header(F21) + row))
    assert rejects == []
    r = df.iloc[0]
    assert (r.sport, r.dport) == (-1, -1)
    assert r.service == "-" and r.history == "-"
    assert np.isnan(r.duration) and np.isnan(r.src_bytes) and np.isnan(r.dst_pkts)


def test_custom_separator_and_unset(tmp_path: Path) -> None:
    text = header(F21, sep="|", sep_escaped="\\x7c", unset="NA", empty="EMPTY")
    text += R1.replace("\t", "|").replace("|-|", "|NA|", 1)
    text += R2.replace("\t", "|").replace("(empty)", "EMPTY")
    df, rejects, _, _ = collect(write(tmp_path, text))
    assert rejects == []
    assert df.service.tolist() == ["-", "ssl,http"]
    assert df.dst.tolist() == ["64.225.56.201", "2001:db8::2"]


def test_two_header_blocks_with_different_fields(tmp_path: Path) -> None:
    text = header(F21) + R1 + "#close\t2024\n" + header(F23) + R2.rstrip("\n") + "\tBenign\tx\n"
    df, rejects, _, _ = collect(write(tmp_path, text))
    assert rejects == []
    assert df.line.tolist() == [9, 19]
    assert df.label.tolist() == ["-", "Benign"]  # first block has no labels


def test_non_conn_path(tmp_path: Path) -> None:
    ssl = header(["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p",
                  "server_name"], path="ssl")
    p = write(tmp_path, ssl + rec(1.7e9, "C1", "10.0.0.1", 5353, "10.0.0.2", 443, "a.org"))
    found = detect(p)
    assert found.format == "zeek" and not found.is_conn and not found.readable
    assert found.reason == "Zeek TSV #path ssl (not a conn, dns or http log)"
    with pytest.raises(InputError, match="not a conn, dns or http log"):
        read(p)


def test_non_conn_block_inside_a_conn_file_is_skipped(tmp_path: Path) -> None:
    dns = header(["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "query"],
                 path="dns")
    text = header(F21) + R1 + dns + rec(1.7e9, "C1", "10.0.0.1", 53, "10.0.0.2", 53, "a.org")
    text += rec(1.7e9, "C2", "10.0.0.1", 53, "10.0.0.2", 53, "b.org")
    p = write(tmp_path, text)
    df, rejects, skipped, _ = collect(p)
    assert len(df) == 1 and rejects == [] and skipped == 0  # the dns records are kept
    dns_rows = pd.concat([c.tables["dns"] for c in read(p) if "dns" in c.tables])
    assert dns_rows["query"].tolist() == ["a.org", "b.org"]


def test_malformed_lines_are_rejected_with_exact_lines(tmp_path: Path) -> None:
    good = R1
    short = "\t".join(R1.rstrip("\n").split("\t")[:19]) + "\n"
    bad_port = R1.replace("\t6008\t", "\tabc\t")
    big_port = R1.replace("\t6008\t", "\t70000\t")
    bad_ts = R1.replace("1713484795.943239", "yesterday")
    bad_addr = R1.replace("167.94.138.145", "999.1.1.1")
    neg_bytes = R2.replace("\t1030\t", "\t-5\t")
    bad_utf8 = R1.replace("Sr", "S\xff").encode("latin-1")
    body = (good + short + bad_port + big_port + bad_ts + bad_addr + neg_bytes).encode()
    p = write(tmp_path, header(F21).encode() + body + bad_utf8 + R2.encode())
    df, rejects, _, _ = collect(p)
    assert df.line.tolist() == [9, 17]
    assert [(r.line, r.reason) for r in rejects] == [
        (10, "expected 21 fields, got 19"),
        (11, "bad port 'abc' in id.resp_p"),
        (12, "bad port '70000' in id.resp_p"),
        (13, "bad timestamp 'yesterday' in ts"),
        (14, "bad address '999.1.1.1' in id.orig_h"),
        (15, "bad number '-5' in orig_bytes"),
        (16, "invalid UTF-8"),
    ]
    assert all(r.path == str(p) for r in rejects)
    assert rejects[1].text == bad_port.rstrip("\n")
    assert "\ufffd" in rejects[-1].text  # decoded with errors="replace"


def test_reject_text_is_truncated(tmp_path: Path) -> None:
    long_line = R1.rstrip("\n") + "\t" + "x" * 500 + "\n"
    _, rejects, _, _ = collect(write(tmp_path, header(F21) + long_line))
    assert rejects[0].reason == "expected 21 fields, got 22"
    assert len(rejects[0].text) == 200


def test_relative_timestamps_are_flagged(tmp_path: Path) -> None:
    row = R1.replace("1713484795.943239", "13.184015")
    df, rejects, _, rel = collect(write(tmp_path, header(F21) + row))
    assert rejects == [] and rel == [True] and df.ts.tolist() == [13.184015]


def test_indented_header_crlf_and_blank_lines(tmp_path: Path) -> None:
    text = "\t" + header(F21) + "\n" + R1 + "   \n" + R2
    text = text.replace("\n", "\r\n")
    df, rejects, _, _ = collect(write(tmp_path, text))
    assert rejects == []
    assert df.line.tolist() == [10, 12]
    assert df.iloc[1].tolist()[0] == 1713484799.565772


def test_last_line_without_newline(tmp_path: Path) -> None:
    df, rejects, _, _ = collect(write(tmp_path, header(F21) + R1 + R2.rstrip("\n")))
    assert rejects == [] and len(df) == 2


def test_small_chunks_keep_exact_line_numbers(tmp_path: Path) -> None:
    rows = [R1.replace("CYl7H53iN6mY9NyXJ8", f"C{i}") for i in range(25)]
    rows[7] = rows[7].replace("\t6008\t", "\tnope\t")
    p = write(tmp_path, header(F21) + "".join(rows))
    chunks = list(read(p, chunk_rows=4))
    assert all(len(c.frame) + len(c.rejects) <= 4 for c in chunks)
    df = pd.concat([c.frame for c in chunks], ignore_index=True)
    assert len(df) == 24
    assert df.line.tolist() == [9 + i for i in range(25) if i != 7]
    assert df.uid.tolist() == [f"C{i}" for i in range(25) if i != 7]
    assert [r.line for c in chunks for r in c.rejects] == [16]


def test_records_before_a_header_are_an_input_error(tmp_path: Path) -> None:
    p = write(tmp_path, R1)
    with pytest.raises(InputError, match="expected a Zeek TSV header"):
        list(read(p, fmt="zeek"))


def test_fields_without_addresses_are_an_input_error(tmp_path: Path) -> None:
    p = write(tmp_path, header(["ts", "uid", "query"]) + rec(1.7e9, "C1", "x"))
    with pytest.raises(InputError, match=r"lacks id\.orig_h, id\.resp_h"):
        list(read(p, fmt="zeek"))


def test_truncated_gzip_raises_after_reading(tmp_path: Path) -> None:
    rows = "".join(R1.replace("CYl7H53iN6mY9NyXJ8", f"C{i}") for i in range(2000))
    data = gzip.compress((header(F21) + rows).encode())
    p = tmp_path / "conn.log.gz"
    p.write_bytes(data[: len(data) // 2])
    assert detect(p).format == "zeek"
    with pytest.raises(InputError, match="truncated or corrupt gzip"):
        for _ in read(p, chunk_rows=100):
            pass


def test_corrupt_gzip_raises(tmp_path: Path) -> None:
    data = bytearray(gzip.compress((header(F21) + R1 * 50).encode()))
    data[30:60] = b"\x00" * 30
    p = tmp_path / "conn.log.gz"
    p.write_bytes(bytes(data))
    with pytest.raises(InputError, match=str(p)):
        list(read(p, fmt="zeek"))


def test_small_truncated_gzip(tmp_path: Path) -> None:
    data = gzip.compress((header(F21) + R1 + R2).encode())
    p = tmp_path / "conn.log.gz"
    p.write_bytes(data[:-12])  # cut inside the trailer
    assert detect(p).format == "zeek"  # what was decompressed is enough to recognise it
    with pytest.raises(InputError, match="truncated or corrupt gzip"):
        list(read(p))


def test_records_before_fields_are_rejected(tmp_path: Path) -> None:
    text = "#separator \\x09\n#path\tconn\n" + R1 + header(F21) + R2
    df, rejects, _, _ = collect(write(tmp_path, text))
    assert [(r.line, r.reason) for r in rejects] == [(3, "record before any #fields header")]
    assert df.line.tolist() == [12]
