"""The public API of graphnet.sources: detection, file walking, errors, chunking."""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

import pandas as pd
import pytest

from graphnet.errors import InputError
from graphnet.sources import FORMATS, Chunk, Detected, Reject, detect, iter_log_files, read

ZEEK = ("#separator \\x09\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\t"
        "id.resp_p\tproto\tconn_state\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\t"
        "string\n")
ZEEK_ROW = "1700000000.5\tC1\t10.0.0.1\t1234\t10.0.0.2\t80\ttcp\tSF\n"
JSON = ('{"ts":1700000000.5,"uid":"C1","id.orig_h":"10.0.0.1","id.resp_h":"10.0.0.2",'
        '"conn_state":"SF"}\n')
CIDDS = ("Date first seen,Duration,Proto,Src IP Addr,Src Pt,Dst IP Addr,Dst Pt,Packets,Bytes,"
         "Flows,Flags,Tos,class,attackType,attackID,attackDescription\n"
         "2017-03-15 00:01:16.632,0.000,TCP  ,DNS,53,192.168.1.1,53,1,60,1,......,0,normal,"
         "---,---,---\n")
BINETFLOW = ("StartTime\tDur\tProto\tSrcAddr\tSport\tDir\tDstAddr\tDport\tState\tsTos\tdTos\t"
             "TotPkts\tTotBytes\tSrcBytes\tLabel\n"
             "2019/04/04 16:23:00.325010\t0.1\tudp\t10.0.0.1\t5353\t  <->\t10.0.0.2\t53\tCON"
             "\t0\t0\t2\t142\t63\t\n")
NFDUMP = ("ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt\n"
          "2016-12-07 09:14:56,2016-12-07 09:14:56,0.000,10.0.0.1,10.0.0.2,1,2,UDP,......,0,0,"
          "1,60,0,0\n"
          "Summary\nflows,bytes,packets,avg_bps,avg_pps,avg_bpp\n1,60,1,0,0,60\n")
SAMPLES = {"zeek": ZEEK + ZEEK_ROW, "zeek-json": JSON, "cidds": CIDDS, "binetflow": BINETFLOW,
           "nfdump": NFDUMP}


def test_formats_and_types() -> None:
    assert FORMATS == ("zeek", "zeek-json", "cidds", "binetflow", "nfdump")
    r = Reject("a.log", 3, "invalid UTF-8", "x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.line = 4  # type: ignore[misc]
    assert Detected("zeek", True, "ok") == Detected("zeek", True, "ok")
    assert [f.name for f in dataclasses.fields(Chunk)] == ["frame", "rejects", "relative_ts",
                                                           "skipped", "tables"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("gz", [False, True])
def test_detect_and_read_every_format(tmp_path: Path, fmt: str, gz: bool) -> None:
    data = SAMPLES[fmt].encode()
    p = tmp_path / ("log.gz" if gz else "log")
    p.write_bytes(gzip.compress(data) if gz else data)
    found = detect(p)
    assert (found.format, found.is_conn) == (fmt, True)
    chunks = list(read(p))
    assert [len(c.frame) for c in chunks] == [1]
    assert chunks[0].rejects == [] and not chunks[0].relative_ts
    forced = list(read(p, fmt=fmt))
    assert forced[0].frame.equals(chunks[0].frame)


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "empty file"),
    (b"\n\n  \n", "empty file"),
    (b"\x00\x01\x02binary", "binary data, not a text log"),
    (b"hello,world\n1,2\n", "unrecognised content, first line 'hello,world'"),
    (b'{"a": 1}\n', "JSON without Zeek fields (ts, uid, id.orig_h)"),
])
def test_unknown_files(tmp_path: Path, content: bytes, reason: str) -> None:
    p = tmp_path / "x.log"
    p.write_bytes(content)
    assert detect(p) == Detected(None, False, reason)
    with pytest.raises(InputError, match="not a supported log") as info:
        read(p)
    assert str(p) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "nope.log"
    assert detect(p).format is None
    assert "cannot open" in detect(p).reason
    with pytest.raises(InputError, match=r"nope\.log"):
        read(p)
    with pytest.raises(InputError, match="no such file"):
        read(p, fmt="zeek")


def test_unknown_format_name(tmp_path: Path) -> None:
    p = tmp_path / "x.log"
    p.write_text(ZEEK + ZEEK_ROW)
    with pytest.raises(InputError, match="unknown format 'csv'"):
        read(p, fmt="csv")


def test_forcing_the_wrong_format(tmp_path: Path) -> None:
    p = tmp_path / "x.log"
    p.write_text(ZEEK + ZEEK_ROW)
    for fmt, message in (("cidds", "expected a CIDDS-001 header"),
                         ("binetflow", "expected a binetflow header"),
                         ("nfdump", "expected an nfdump CSV header"),
                         ("zeek-json", "expected Zeek JSON")):
        with pytest.raises(InputError, match=message):
            list(read(p, fmt=fmt))


def test_chunks_are_bounded_by_chunk_rows(tmp_path: Path) -> None:
    p = tmp_path / "conn.log"
    p.write_text(ZEEK + ZEEK_ROW * 1000)
    chunks = list(read(p, chunk_rows=64))
    assert max(len(c.frame) for c in chunks) <= 64
    assert sum(len(c.frame) for c in chunks) == 1000
    lines = [n for c in chunks for n in c.frame.line.tolist()]
    assert lines == list(range(5, 1005))
    with pytest.raises(ValueError, match="chunk_rows"):
        read(p, chunk_rows=0)


def test_utf8_bom_is_ignored(tmp_path: Path) -> None:
    p = tmp_path / "cidds.csv"
    p.write_bytes(b"\xef\xbb\xbf" + CIDDS.encode())
    assert detect(p).format == "cidds"
    assert len(next(iter(read(p))).frame) == 1


def test_iter_log_files(tmp_path: Path) -> None:
    (tmp_path / "b" / "deep").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    for name in ("b/deep/conn.log.gz", "a.binetflow", "b/conn.log", "README.md", "LICENSE",
                 "report.pdf", "notes.txt", ".hidden/conn.log", ".conn.log", "README",
                 "b/labels.config", "Readme.txt"):
        (tmp_path / name).write_text("x")
    explicit = tmp_path / "notes.txt"
    found = iter_log_files([tmp_path, explicit, tmp_path / "b" / "conn.log"])
    assert found == [tmp_path / "a.binetflow", tmp_path / "b" / "conn.log",
                     tmp_path / "b" / "deep" / "conn.log.gz", explicit]
    with pytest.raises(InputError, match="no such file or directory"):
        iter_log_files([tmp_path / "missing"])


def test_abandoning_a_gzip_read_stops_its_helper_thread(tmp_path: Path) -> None:
    import threading

    p = tmp_path / "conn.log.gz"
    p.write_bytes(gzip.compress((ZEEK + ZEEK_ROW * 200_000).encode()))
    chunks = read(p, chunk_rows=1000)
    first = next(iter(chunks))
    assert len(first.frame) > 0
    chunks.close()  # type: ignore[attr-defined]
    assert not [t for t in threading.enumerate() if t.name.startswith("gunzip")]


#: an IPv6 address with a zone id: an address the IP formats accept, of any length
LONG_ZONE = "fe80::1%"


@pytest.mark.parametrize("fmt", FORMATS)
def test_host_ids_over_1024_bytes_are_rejected_in_every_format(tmp_path: Path, fmt: str) -> None:
    # Neo4j cannot index a property value of more than about 8 KB: one such id used to fail the
    # whole command. Ids up to 1,024 UTF-8 bytes are kept, longer ones are bad lines.
    original = "DNS" if fmt == "cidds" else "10.0.0.1"
    lines = SAMPLES[fmt].splitlines(keepends=True)
    row = next(i for i, ln in enumerate(lines) if original in ln and not ln.startswith("#"))

    def long_id(n: int) -> str:
        return "h" * n if fmt == "cidds" else LONG_ZONE + "z" * (n - len(LONG_ZONE))

    at_limit = lines[row].replace(original, long_id(1024))
    over = lines[row].replace(original, long_id(40_000))
    lines[row + 1 : row + 1] = [at_limit, over]
    p = tmp_path / "log"
    p.write_text("".join(lines))
    chunks = list(read(p, fmt=fmt))
    frame = pd.concat([c.frame for c in chunks], ignore_index=True)
    rejects = [r for c in chunks for r in c.rejects]
    assert frame.line.tolist() == [row + 1, row + 2]
    assert frame.src.tolist() == [original, long_id(1024)]
    field = {"zeek": "id.orig_h", "zeek-json": "id.orig_h", "cidds": "Src IP Addr",
             "binetflow": "SrcAddr", "nfdump": "sa"}[fmt]
    assert [(r.line, r.reason) for r in rejects] == [
        (row + 3, f"host id too long in {field}: 40,000 bytes, at most 1,024")]
    assert len(rejects[0].text) <= 200
