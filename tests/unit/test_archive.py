"""The archive door: only committed files are read, uncommitted ones are adopted or removed,
archives written before commit markers stay readable, and a full disk leaves nothing behind."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from graphnet import windows
from graphnet.archive import Archive, Ledgered, LedgerLookup
from graphnet.config import Settings
from graphnet.errors import DiskFull

SHA_A = "a" * 64
SHA_B = "b" * 64
SHA_C = "c" * 64
WEEK = 7 * 86400.0
T0 = 1709542800.0  # 2024-03-04 09:00 UTC, in 2024-W10


def conns(n: int, t0: float = T0, tag: str = "x", weeks: int = 1) -> pd.DataFrame:
    i = np.arange(n)
    return pd.DataFrame(
        {
            "ts": t0 + (i % weeks) * WEEK + i,
            "uid": [f"C{tag}{k}" for k in i],
            "src": [f"10.0.0.{k % 5}" for k in i],
            "dst": "10.0.1.1",
            "orig_bytes": (i * 10).astype("float64"),
        }
    )


def write(archive: Archive, sha: str, frame: pd.DataFrame) -> list[str]:
    """Write a file's connections under their final names (not committed yet)."""
    w = archive.writer(sha)
    w.write(frame, windows.window_ids(frame["ts"].to_numpy()).to_numpy())
    return w.finish()


def ledger(done: Mapping[str, Sequence[str] | None]) -> LedgerLookup:
    """A stand-in for the ingest ledger: these full hashes are done (with their windows)."""

    def lookup(prefixes: Sequence[str]) -> dict[str, Ledgered]:
        out = {}
        for sha, wins in done.items():
            if sha[:16] in prefixes:
                out[sha[:16]] = Ledgered(sha, None if wins is None else tuple(wins))
        return out

    return lookup


def parquet_names(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_files_are_read_only_once_committed(tmp_path: Path) -> None:
    archive = Archive(Settings(home=tmp_path))
    with archive.ingesting(ledger({})):
        wins = write(archive, SHA_A, conns(40, weeks=2))
        assert wins == ["2024-W10", "2024-W11"]
        # complete under their final names, but not committed: a killed ingest stops here
        assert (archive.root / "2024-W10" / f"{SHA_A[:16]}.parquet").is_file()
        assert archive.windows() == [] and archive.files("2024-W10") == []
        assert archive.connections(["2024-W10", "2024-W11"]).empty
        empty_stamp = archive.stamp("2024-W10")
        archive.commit(SHA_A, wins)
    assert archive.windows() == ["2024-W10", "2024-W11"]
    assert len(archive.connections(["2024-W10", "2024-W11"])) == 40
    assert archive.stamp("2024-W10") != empty_stamp
    # which files are committed is answerable from the archive folder alone
    marker = json.loads((archive.root / "committed" / f"{SHA_A[:16]}.json").read_text())
    assert marker == {"sha256": SHA_A, "windows": ["2024-W10", "2024-W11"]}
    assert archive.committed() == {SHA_A[:16]: ("2024-W10", "2024-W11")}


def test_windows_history_and_require_see_committed_windows_only(tmp_path: Path) -> None:
    archive = Archive(Settings(home=tmp_path))
    with archive.ingesting(ledger({})):
        archive.commit(SHA_A, write(archive, SHA_A, conns(10, tag="a")))  # 2024-W10
        write(archive, SHA_B, conns(10, T0 + WEEK, tag="b"))  # 2024-W11, never committed
        archive.commit(SHA_C, write(archive, SHA_C, conns(10, T0 + 2 * WEEK, tag="c")))
    assert archive.windows() == ["2024-W10", "2024-W12"]
    assert archive.history("2024-W12", 28) == ["2024-W10"]
    assert archive.latest() == "2024-W12"
    with pytest.raises(ValueError, match="no connections archived for 2024-W11"):
        archive.require("2024-W11")
    got = archive.connections(["2024-W10", "2024-W11", "2024-W12"], ["uid"])
    assert sorted(got["uid"].str[1]) == ["a"] * 10 + ["c"] * 10


def test_a_commit_exposes_only_the_windows_it_names(tmp_path: Path) -> None:
    archive = Archive(Settings(home=tmp_path))
    with archive.ingesting(ledger({})):
        write(archive, SHA_A, conns(10, T0 + WEEK))  # an earlier, different parse: 2024-W11
        archive.commit(SHA_A, write(archive, SHA_A, conns(10)))  # this one: 2024-W10
    assert archive.windows() == ["2024-W10"]
    assert archive.files("2024-W11") == []


def test_a_run_that_starts_alone_adopts_done_files_and_removes_the_rest(tmp_path: Path) -> None:
    archive = Archive(Settings(home=tmp_path))
    with archive.ingesting(ledger({})):
        write(archive, SHA_A, conns(10, tag="a"))  # ledger done, killed before its marker
        write(archive, SHA_B, conns(10, tag="b"))  # ledger not done: killed while loading
    # a writer killed mid-file leaves a temporary file (here: of a process that is gone)
    stale = archive.root / "2024-W10" / f"{SHA_C[:16]}.parquet.999999999.tmp"
    stale.write_bytes(b"PAR1 partial")
    assert archive.windows() == []
    with archive.ingesting(ledger({SHA_A: ["2024-W10"]})) as alone:
        assert alone
        assert archive.committed() == {SHA_A[:16]: ("2024-W10",)}
        assert parquet_names(archive.root / "2024-W10") == [f"{SHA_A[:16]}.parquet"]
    assert sorted(archive.connections(["2024-W10"], ["uid"])["uid"].str[1]) == ["a"] * 10


def test_a_concurrent_run_adopts_but_removes_nothing(tmp_path: Path) -> None:
    archive = Archive(Settings(home=tmp_path))
    with archive.ingesting(ledger({})) as first:
        assert first
        write(archive, SHA_B, conns(10, tag="b"))  # the first run's file, not committed yet
        write(archive, SHA_A, conns(10, T0 + WEEK, tag="a"))  # done, marker missing
        with archive.ingesting(ledger({SHA_A: None})) as second:
            assert not second  # another ingest holds the archive: it may be writing B
            assert (archive.root / "2024-W10" / f"{SHA_B[:16]}.parquet").is_file()
            assert archive.windows() == ["2024-W11"]
    with archive.ingesting(ledger({SHA_A: None})) as alone:
        assert alone
    assert not (archive.root / "2024-W10").exists() or archive.files("2024-W10") == []
    assert not (archive.root / "2024-W10" / f"{SHA_B[:16]}.parquet").exists()


def test_an_archive_without_markers_is_read_whole_then_adopted_once(tmp_path: Path) -> None:
    """Archives written before commit markers: read as before, until the next ingest keeps the
    files whose content the ledger says is done and removes the others."""
    st = Settings(home=tmp_path)
    frame = conns(30, weeks=3)
    win = windows.window_ids(frame["ts"].to_numpy()).to_numpy()
    for sha in (SHA_A, SHA_B):
        for w in sorted(set(win)):
            path = st.archive_dir / w / f"{sha[:16]}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            frame[win == w].reset_index(drop=True).to_parquet(path)
    (st.archive_dir / "2024-W10" / f"{SHA_C[:16]}.parquet.tmp").write_bytes(b"PAR1")
    archive = Archive(st)
    assert archive.windows() == ["2024-W10", "2024-W11", "2024-W12"]
    assert len(archive.connections(archive.windows())) == 60
    with pytest.raises(RuntimeError, match="before commit markers"):
        archive.writer(SHA_C)  # only an ingest that adopted the old archive writes to it
    with archive.ingesting(ledger({SHA_A: ["2024-W10", "2024-W11", "2024-W12"]})):
        pass
    assert archive.committed() == {SHA_A[:16]: ("2024-W10", "2024-W11", "2024-W12")}
    assert len(archive.connections(archive.windows())) == 30
    assert all(
        parquet_names(st.archive_dir / w) == [f"{SHA_A[:16]}.parquet"] for w in archive.windows()
    )
    # once: the next run changes nothing (B is not adopted even if the ledger now says done)
    with archive.ingesting(ledger({SHA_A: None, SHA_B: None})):
        pass
    assert len(archive.connections(archive.windows())) == 30


def test_adoption_killed_before_the_switch_is_redone(tmp_path: Path) -> None:
    st = Settings(home=tmp_path)
    path = st.archive_dir / "2024-W10" / f"{SHA_A[:16]}.parquet"
    path.parent.mkdir(parents=True)
    conns(10).to_parquet(path)
    # what a run killed while adopting leaves: markers staged, not switched in
    staged = st.archive_dir / ".committed.new"
    staged.mkdir()
    (staged / f"{SHA_B[:16]}.json").write_text('{"sha256": "b", "windows": ["2024-W10"]}')
    archive = Archive(st)
    assert len(archive.connections(["2024-W10"])) == 10  # still read whole
    with archive.ingesting(ledger({SHA_A: None})):
        pass
    assert archive.committed() == {SHA_A[:16]: ("2024-W10",)}
    assert not staged.exists()


@pytest.mark.parametrize("fails", ["write_table", "close"])
def test_a_full_disk_leaves_no_archive_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fails: str
) -> None:
    archive = Archive(Settings(home=tmp_path))
    real = getattr(pq.ParquetWriter, fails)
    calls = [0]

    def full(self: pq.ParquetWriter, *args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == 2:  # the second window's file: the first one is complete by then
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *args, **kwargs)

    with archive.ingesting(ledger({})):
        monkeypatch.setattr(pq.ParquetWriter, fails, full)
        w = archive.writer(SHA_A, source="/logs/conn.log")
        with pytest.raises(DiskFull) as info:
            frame = conns(20, weeks=2)
            w.write(frame, windows.window_ids(frame["ts"].to_numpy()).to_numpy())
            w.finish()
        w.abort()
    assert info.value.exit_code == 9
    msg = str(info.value)
    assert "\n" not in msg and "/logs/conn.log" in msg and str(archive.root) in msg, msg
    assert "free space" in info.value.hint
    assert parquet_names(archive.root) == [".lock"]
    assert archive.windows() == []


def test_a_full_disk_is_reported_for_a_commit_marker(tmp_path: Path) -> None:
    archive = Archive(Settings(home=tmp_path))
    with archive.ingesting(ledger({})):
        wins = write(archive, SHA_A, conns(10))
        marker_tmp = archive.root / "committed" / f"{SHA_A[:16]}.json.{os.getpid()}.tmp"
        marker_tmp.symlink_to("/dev/full")  # writing to /dev/full fails with ENOSPC
        with pytest.raises(DiskFull, match="commit marker"):
            archive.commit(SHA_A, wins)
    assert not marker_tmp.exists() and not marker_tmp.is_symlink()
    assert archive.windows() == []


def test_results_are_written_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = Archive(Settings(home=tmp_path))
    archive.write_result("2024-W10", "volume", pd.DataFrame({"x": [1, 2]}), {"v": 1})
    real = pq.write_table

    def half(table: Any, where: Any, *args: Any, **kwargs: Any) -> None:
        real(table.slice(0, 1), where, *args, **kwargs)  # some bytes reach the disk, then
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq, "write_table", half)
    with pytest.raises(DiskFull, match="volume"):
        archive.write_result("2024-W10", "volume", pd.DataFrame({"x": [3, 4, 5]}), {"v": 2})
    got = archive.read_result("2024-W10", "volume")
    assert got is not None and list(got.frame["x"]) == [1, 2] and got.meta == {"v": 1}
    assert parquet_names(archive.results_dir("2024-W10")) == ["volume.parquet"]
