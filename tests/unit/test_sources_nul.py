"""NUL bytes: a record line holding one is rejected (`file:line`, "NUL byte"), whatever the
format, its position in the file, or compression; a file that is really binary still fails as
"not a text log"; a header line holding one fails the file (it decides how the rest is read)."""

from __future__ import annotations

import gzip
import random
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphnet.errors import InputError
from graphnet.sources import FORMATS, Reject, detect, read

NUL_REASON = "NUL byte in the line"


def zeek_row(i: int, uid: str = "") -> str:
    return (f"{1700000000 + i}.5\t{uid or f'C{i}'}\t10.0.{i % 250}.1\t{1024 + i % 5000}"
            f"\t10.1.0.{i % 9 + 1}\t80\ttcp\tSF")


def json_row(i: int, uid: str = "") -> str:
    return (f'{{"ts":{1700000000 + i}.5,"uid":"{uid or f"C{i}"}","id.orig_h":"10.0.{i % 250}.1",'
            f'"id.orig_p":{1024 + i % 5000},"id.resp_h":"10.1.0.{i % 9 + 1}","id.resp_p":80,'
            f'"proto":"tcp","conn_state":"SF"}}')


def cidds_row(i: int, src: str = "") -> str:
    return (f"2017-03-15 00:{i // 60 % 60:02d}:{i % 60:02d}.632,0.000,TCP  ,"
            f"{src or f'192.168.100.{i % 250}'},445,EXT_SERVER,{1024 + i % 5000},1,108,1,.AP...,"
            "0,normal,---,---,---")


def binetflow_row(i: int, label: str = "") -> str:
    return (f"2019/04/04 16:{i // 60 % 60:02d}:{i % 60:02d}.325010\t0.1\tudp\t10.0.0.{i % 250}"
            f"\t5353\t  <->\t10.0.1.2\t53\tCON\t0\t0\t2\t142\t63\t{label or 'flow=normal'}")


def nfdump_row(i: int, fwd: str = "") -> str:
    return (f"2016-12-07 09:{i // 60 % 60:02d}:{i % 60:02d},2016-12-07 09:14:56,0.000,"
            f"10.0.0.{i % 250},10.0.0.2,{1024 + i % 5000},53,UDP,......,{fwd or '0'},0,1,60,0,0")


ZEEK_HEAD = ["#separator \\x09", "#path\tconn",
             "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tconn_state",
             "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring"]
CIDDS_HEAD = ["Date first seen,Duration,Proto,Src IP Addr,Src Pt,Dst IP Addr,Dst Pt,Packets,"
              "Bytes,Flows,Flags,Tos,class,attackType,attackID,attackDescription"]
BINETFLOW_HEAD = ["StartTime\tDur\tProto\tSrcAddr\tSport\tDir\tDstAddr\tDport\tState\tsTos\tdTos"
                  "\tTotPkts\tTotBytes\tSrcBytes\tLabel"]
NFDUMP_HEAD = ["ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt"]
NFDUMP_TAIL = ["Summary", "flows,bytes,packets,avg_bps,avg_pps,avg_bpp", "1,60,1,0,0,60"]

#: format -> (header lines, row maker whose optional argument is a field value that is
#: accepted today when it holds no NUL, trailer lines)
LAYOUTS: dict[str, tuple[list[str], Callable[..., str], list[str]]] = {
    "zeek": (ZEEK_HEAD, zeek_row, []),
    "zeek-json": ([], json_row, []),
    "cidds": (CIDDS_HEAD, cidds_row, []),
    "binetflow": (BINETFLOW_HEAD, binetflow_row, []),
    "nfdump": (NFDUMP_HEAD, nfdump_row, NFDUMP_TAIL),
}


def build(fmt: str, n: int, bad: dict[int, str]) -> tuple[bytes, int]:
    """A file of `n` records of `fmt`; record j is replaced by bad[j] when given. Returns the
    bytes and the number of header lines (record j is on line head + j + 1)."""
    head, row, tail = LAYOUTS[fmt]
    rows = [bad.get(j, row(j)) for j in range(n)]
    return ("\n".join([*head, *rows, *tail]) + "\n").encode(), len(head)


def write(tmp_path: Path, data: bytes, gz: bool, name: str = "log") -> Path:
    p = tmp_path / (name + (".gz" if gz else ""))
    p.write_bytes(gzip.compress(data) if gz else data)
    return p


def collect(path: Path, **kw: object) -> tuple[pd.DataFrame, list[Reject]]:
    chunks = list(read(path, **kw))  # type: ignore[arg-type]
    frame = pd.concat([c.frame for c in chunks], ignore_index=True)
    return frame, [r for c in chunks for r in c.rejects]


# --------------------------------------------------------------------------- the cases

@pytest.mark.parametrize("gz", [False, True])
def test_cidds_four_rows_one_with_a_nul_host_id(tmp_path: Path, gz: bool) -> None:
    data, _ = build("cidds", 4, {1: cidds_row(1, src="NUL\x00HOST")})
    p = write(tmp_path, data, gz, "cidds.csv")
    assert detect(p).format == "cidds"
    df, rejects = collect(p)
    assert df.line.tolist() == [2, 4, 5]
    assert "NUL\x00HOST" not in set(df.src)
    assert [(r.path, r.line, r.reason) for r in rejects] == [(str(p), 3, NUL_REASON)]
    assert rejects[0].text.startswith("2017-03-15 00:00:01.632,0.000,TCP  ,NUL\x00HOST,")


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("chunk_rows", [1_000_000, 1000])
def test_cidds_nul_at_row_15001_of_20000(tmp_path: Path, gz: bool, chunk_rows: int) -> None:
    data, head = build("cidds", 20_000, {15_000: cidds_row(15_000, src="NUL\x00HOST")})
    p = write(tmp_path, data, gz, "cidds.csv")
    df, rejects = collect(p, chunk_rows=chunk_rows)
    assert len(df) == 19_999 and "NUL\x00HOST" not in set(df.src)
    assert [(r.line, r.reason) for r in rejects] == [(head + 15_001, NUL_REASON)]


# --------------------------------------------------------------------------- every format

@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("gz", [False, True])
def test_four_records_one_with_a_nul(tmp_path: Path, fmt: str, gz: bool) -> None:
    row = LAYOUTS[fmt][1]
    data, head = build(fmt, 4, {1: row(1, "a\x00b")})
    p = write(tmp_path, data, gz)
    assert detect(p).format == fmt
    for forced in (None, fmt):
        df, rejects = collect(p, fmt=forced)
        assert df.line.tolist() == [head + 1, head + 3, head + 4]
        assert [(r.line, r.reason) for r in rejects] == [(head + 2, NUL_REASON)]
        text = df.select_dtypes(exclude="number").astype(str)
        assert not text.apply(lambda c: c.str.contains("\x00", regex=False)).any().any()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("chunk_rows", [1_000_000, 1000])
def test_nul_late_in_a_large_file(tmp_path: Path, fmt: str, gz: bool, chunk_rows: int) -> None:
    row = LAYOUTS[fmt][1]
    n = 20_000
    data, head = build(fmt, n, {15_000: row(15_000, "NUL\x00HOST"), n - 1: row(n - 1, "\x00")})
    assert len(data) > 1 << 20  # several read blocks at chunk_rows=1000 (256 KiB each)
    p = write(tmp_path, data, gz)
    df, rejects = collect(p, chunk_rows=chunk_rows)
    assert len(df) == n - 2
    assert [(r.line, r.reason) for r in rejects] == [(head + 15_001, NUL_REASON),
                                                     (head + n, NUL_REASON)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_nul_lines_at_the_start_and_end_of_a_line(tmp_path: Path, fmt: str) -> None:
    row = LAYOUTS[fmt][1]
    data, head = build(fmt, 6, {0: row(0) + "\x00", 2: "\x00" + row(2), 4: "\x00"})
    df, rejects = collect(write(tmp_path, data, False))
    assert df.line.tolist() == [head + 2, head + 4, head + 6]
    assert [(r.line, r.reason) for r in rejects] == [(head + 1, NUL_REASON),
                                                     (head + 3, NUL_REASON),
                                                     (head + 5, NUL_REASON)]


def test_zeek_nul_line_under_a_non_conn_path_is_rejected_not_skipped(tmp_path: Path) -> None:
    dns = ["#path\tssl", "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tquery"]
    text = "\n".join([*ZEEK_HEAD, zeek_row(0), *dns, "1.7e9\tC1\t10.0.0.1\t53\t10.0.0.2\t53\ta",
                      "1.7e9\tC2\t10.0.0.1\t53\t10.0.0.2\t53\ta\x00b"]) + "\n"
    chunks = list(read(write(tmp_path, text.encode(), False)))
    assert sum(c.skipped for c in chunks) == 1
    assert [(r.line, r.reason) for c in chunks for r in c.rejects] == [(9, NUL_REASON)]


def test_zeek_json_escaped_nul_in_a_kept_value_is_rejected(tmp_path: Path) -> None:
    data, _ = build("zeek-json", 5, {1: json_row(1, uid="C\\u00001"),
                                     3: json_row(3, uid="C\\\\u0000"),  # an escaped backslash
                                     4: json_row(4).replace('"10.1.0.5"', '"10.1.0.5\\u0000"')})
    df, rejects = collect(write(tmp_path, data, False))
    assert df.line.tolist() == [1, 3, 4]
    assert df.uid.tolist() == ["C0", "C2", "C\\u0000"]
    assert [(r.line, r.reason) for r in rejects] == [(2, "NUL character (\\u0000) in uid"),
                                                     (5, "NUL character (\\u0000) in id.resp_h")]


# --------------------------------------------------------------------------- header lines

@pytest.mark.parametrize(("fmt", "at"), [("zeek", 1), ("zeek", 2), ("zeek", 3), ("cidds", 1),
                                         ("binetflow", 1), ("nfdump", 1)])
def test_nul_in_a_header_line_fails_the_file(tmp_path: Path, fmt: str, at: int) -> None:
    head, row, tail = LAYOUTS[fmt]
    bad_head = list(head)
    bad_head[at - 1] += "\x00"
    data = ("\n".join([*bad_head, row(0), row(1), *tail]) + "\n").encode()
    p = write(tmp_path, data, False)
    with pytest.raises(InputError, match=rf"{p}:{at}: NUL byte in a header line"):
        list(read(p, fmt=fmt))


def test_zeek_nul_in_a_comment_header_line_rejects_that_line(tmp_path: Path) -> None:
    head = [*ZEEK_HEAD[:-1], ZEEK_HEAD[-1] + "\x00"]  # #types: changes nothing
    text = "\n".join([*head, zeek_row(0), zeek_row(1), "#close\t2024-04-19\x00-00"]) + "\n"
    p = write(tmp_path, text.encode(), False)
    assert detect(p).format == "zeek"
    df, rejects = collect(p)
    assert df.line.tolist() == [5, 6]
    assert [(r.line, r.reason) for r in rejects] == [(4, NUL_REASON), (7, NUL_REASON)]


def test_zeek_nul_in_a_later_header_line_fails_the_file(tmp_path: Path) -> None:
    rows = [zeek_row(i) for i in range(5000)]
    text = "\n".join([*ZEEK_HEAD, *rows, "#path\tconn\x00", *rows]) + "\n"
    p = write(tmp_path, text.encode(), True)
    with pytest.raises(InputError, match=rf"{p}:5005: NUL byte in a header line"):
        list(read(p, chunk_rows=1000))


# --------------------------------------------------------------------------- binary files

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00"
       b"\x00\x1f\xf3\xffa\x00\x00\x00\x19tEXtSoftware\x00Adobe ImageReady" + bytes(range(256)))
GARBAGE = random.Random(7).randbytes(20_000)
BINARY = {
    "png": PNG,
    "random": GARBAGE,
    "all-nul": b"\x00" * 10_000,
    "nul-before-a-header": b"\x00" * 3000 + "\n".join([*CIDDS_HEAD, cidds_row(0)]).encode(),
    "undecodable": bytes(range(0x80, 0x100)) * 40,
}


@pytest.mark.parametrize("kind", sorted(BINARY))
@pytest.mark.parametrize("gz", [False, True])
def test_binary_files_are_not_text_logs(tmp_path: Path, kind: str, gz: bool) -> None:
    assert BINARY["random"][:2] != b"\x1f\x8b"
    p = write(tmp_path, BINARY[kind], gz, "x.log")
    found = detect(p)
    assert (found.format, found.reason) == (None, "binary data, not a text log")
    with pytest.raises(InputError, match=r"not a supported log \(binary data, not a text log\)"):
        read(p)
    for fmt in FORMATS:  # forcing a format does not make it a log either
        with pytest.raises(InputError, match=str(p)):
            list(read(p, fmt=fmt))


def test_gzip_of_garbage_that_is_not_gzip(tmp_path: Path) -> None:
    p = tmp_path / "x.log.gz"
    p.write_bytes(b"\x1f\x8b" + GARBAGE)
    assert detect(p).format is None
    with pytest.raises(InputError, match=str(p)):
        list(read(p))


# --------------------------------------------------------------------------- property

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


@SETTINGS
@given(fmt=st.sampled_from(FORMATS), n=st.integers(2, 40), data=st.data(),
       gz=st.booleans(), chunk_rows=st.sampled_from([3, 1_000_000]))
def test_a_nul_anywhere_rejects_exactly_its_line(fmt: str, n: int, data: st.DataObject,
                                                 gz: bool, chunk_rows: int) -> None:
    row = LAYOUTS[fmt][1]
    k = data.draw(st.integers(0, n - 1), label="record")
    line = row(k)
    pos = data.draw(st.integers(0, len(line)), label="position")
    replace = data.draw(st.booleans(), label="replace a byte")
    bad = line[:pos] + "\x00" + line[pos + (1 if replace else 0):]
    raw, head = build(fmt, n, {k: bad})
    with tempfile.TemporaryDirectory() as tmp:
        df, rejects = collect(write(Path(tmp), raw, gz), chunk_rows=chunk_rows)
    assert [(r.line, r.reason) for r in rejects] == [(head + k + 1, NUL_REASON)]
    assert df.line.tolist() == [head + j + 1 for j in range(n) if j != k]
