"""gzip input: ISA-L inflate, multi-member / padded streams, damage found mid-file."""

from __future__ import annotations

import gzip
import threading
from itertools import pairwise
from pathlib import Path

import pandas as pd
import pytest
from isal import igzip

from graphnet.errors import InputError
from graphnet.sources import detect, read
from graphnet.sources._io import head_bytes, open_binary

HEADER = "\n".join([
    "#separator \\x09",
    "#set_separator\t,",
    "#empty_field\t(empty)",
    "#unset_field\t-",
    "#path\tconn",
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration"
    "\torig_bytes\tresp_bytes\tconn_state\thistory\torig_pkts\tresp_pkts",
]) + "\n"


def rows(n: int) -> str:
    return "".join(
        f"{1713484795.5 + i:.6f}\tC{i:017d}\t10.0.{i % 250}.{i % 7 + 1}\t{1024 + i % 5000}"
        f"\t192.168.1.{i % 9 + 1}\t{(80, 443, 53)[i % 3]}\t{('tcp', 'udp')[i % 2]}\t-"
        f"\t{i % 13 / 7:.6f}\t{i % 1000}\t{i % 777}\tSF\tShADadFf\t{i % 11}\t{i % 17}\n"
        for i in range(n))


def frame(p: Path, chunk_rows: int) -> pd.DataFrame:
    return pd.concat([c.frame for c in read(p, chunk_rows=chunk_rows)], ignore_index=True)


@pytest.fixture(scope="module")
def text() -> bytes:
    return (HEADER + rows(6000) + "#close\t2024-04-19-01-00-00\n").encode()


def test_gzip_is_inflated_with_isal(tmp_path: Path, text: bytes) -> None:
    p = tmp_path / "conn.log.gz"
    p.write_bytes(gzip.compress(text))
    with open_binary(p) as stream:
        assert isinstance(stream, igzip.IGzipFile)
        assert stream.read() == text


@pytest.mark.parametrize("chunk_rows", [1_000_000, 700, 97])
def test_multi_member_and_padded_gzip_read_like_plain(tmp_path: Path, text: bytes,
                                                      chunk_rows: int) -> None:
    plain = tmp_path / "conn.log"
    plain.write_bytes(text)
    cuts = [0, 5, 1000, 1001, 123_457, 400_000, len(text)]  # members split mid-line
    members = b"".join(gzip.compress(text[a:b], 1) for a, b in pairwise(cuts))
    gz = tmp_path / "conn.log.gz"
    gz.write_bytes(members + b"\x00" * 16)  # zero padding after the last member is allowed
    assert detect(gz).format == "zeek"
    assert head_bytes(gz, 3000) == text[:3000]
    expected = frame(plain, chunk_rows)
    assert len(expected) == 6000
    pd.testing.assert_frame_equal(frame(gz, chunk_rows), expected)
    chunks = list(read(gz, chunk_rows=chunk_rows))
    assert max(len(c.frame) for c in chunks) <= chunk_rows


def test_truncated_gzip_found_by_the_helper_thread(tmp_path: Path, text: bytes) -> None:
    data = gzip.compress(text * 4, 1)
    p = tmp_path / "conn.log.gz"
    p.write_bytes(data[: len(data) * 3 // 4])
    seen = 0
    with pytest.raises(InputError, match=r"truncated or corrupt gzip data \(Compressed file"):
        for chunk in read(p, chunk_rows=300):  # 75 KiB blocks: later ones inflated ahead
            seen += len(chunk.frame)
    assert seen > 0
    assert not [t for t in threading.enumerate() if t.name.startswith("gunzip")]


def test_corrupt_deflate_data_is_an_input_error(tmp_path: Path, text: bytes) -> None:
    data = bytearray(gzip.compress(text * 4, 1))
    mid = len(data) // 2
    data[mid : mid + 200] = bytes(b ^ 0x5A for b in data[mid : mid + 200])
    p = tmp_path / "conn.log.gz"
    p.write_bytes(bytes(data))
    with pytest.raises(InputError, match=rf"^{p}: truncated or corrupt gzip data \("):
        for _ in read(p, chunk_rows=300):
            pass
    with pytest.raises(InputError, match=rf"^{p}: truncated or corrupt gzip data \("):
        list(read(p))  # one block, no helper thread


def test_garbage_after_a_member_is_an_input_error(tmp_path: Path, text: bytes) -> None:
    p = tmp_path / "conn.log.gz"
    p.write_bytes(gzip.compress(text) + b"not gzip at all")
    with pytest.raises(InputError, match="truncated or corrupt gzip data"):
        list(read(p))
