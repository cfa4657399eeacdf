"""The directory watcher's settle logic and window closing (no DB). The analysis steps the
window_close job runs are the pipeline's: see test_pipeline.py."""

from __future__ import annotations

import datetime as dt
import gzip
import os
import time
from pathlib import Path

from graphnet import scheduler
from graphnet.scheduler import check_ready, file_complete, stable_since

ZEEK = (
    "#separator \\x09\n#set_separator\t,\n#path\tconn\n#open\t2024-03-04-10-00-00\n"
    "#fields\tts\tuid\n#types\ttime\tstring\n1709546400.0\tCa\n1709546401.0\tCb\n"
)
CLOSE = "#close\t2024-03-04-11-00-00\n"
NOW = 1_800_000_000.0


def make(path: Path, text: str, age: float | None = None, gz: bool = False) -> Path:
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    if age is not None:
        t = time.time() - age
        os.utime(path, (t, t))
    return path


def ready(
    path: Path,
    settle: float = 60,
    first_seen: float | None = None,
    now: float | None = None,
    timeout: float = 3600,
) -> scheduler.Readiness:
    st = path.stat()
    now = time.time() if now is None else now
    return check_ready(
        path,
        st.st_size,
        st.st_mtime,
        now if first_seen is None else first_seen,
        now,
        settle,
        True,
        timeout,
    )


def test_stable_since_uses_the_earlier_of_mtime_and_first_sight() -> None:
    assert stable_since(mtime=100.0, first_seen=500.0) == 100.0
    # a modification time in the future (clock skew) cannot shorten the wait
    assert stable_since(mtime=900.0, first_seen=500.0) == 500.0


def test_file_being_written_waits_for_the_settle_time(tmp_path: Path) -> None:
    p = make(tmp_path / "conn.log", ZEEK + CLOSE, age=5)
    r = ready(p, settle=60)
    assert not r.ready and "waiting until unchanged for 60 s" in r.reason
    assert ready(p, settle=3).ready


def test_settle_counts_from_first_sight_when_mtime_is_in_the_future(tmp_path: Path) -> None:
    p = make(tmp_path / "conn.log", ZEEK + CLOSE, age=-1000)  # mtime 1000 s ahead
    now = time.time()
    assert not ready(p, settle=60, first_seen=now - 10, now=now).ready
    assert ready(p, settle=60, first_seen=now - 61, now=now).ready


def test_zeek_log_needs_its_close_footer(tmp_path: Path) -> None:
    open_log = make(tmp_path / "conn.log", ZEEK, age=600)
    r = ready(open_log)
    assert not r.ready and "#close" in r.reason
    closed = make(tmp_path / "conn2.log", ZEEK + CLOSE + "\n", age=600)
    assert ready(closed).ready
    # after the incomplete timeout an unchanged file is handed to ingest anyway
    r = ready(open_log, timeout=300)
    assert r.ready and "anyway" in r.reason


def test_zeek_close_can_be_ignored(tmp_path: Path) -> None:
    p = make(tmp_path / "conn.log", ZEEK, age=600)
    assert file_complete(p, require_zeek_close=False).ready
    assert not file_complete(p, require_zeek_close=True).ready


def test_other_formats_only_need_to_settle(tmp_path: Path) -> None:
    p = make(tmp_path / "x.binetflow", "StartTime,Dur\n2011/08/10 09:46:53,1.0\n", age=600)
    assert ready(p).ready
    j = make(tmp_path / "conn.json.log", '{"ts": 1.0}\n', age=600)
    assert ready(j).ready


def test_gzip_must_be_whole(tmp_path: Path) -> None:
    full = make(tmp_path / "conn.log.gz", ZEEK + CLOSE, gz=True)
    data = full.read_bytes()
    assert file_complete(full).ready
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(data[: len(data) - 12])
    r = file_complete(cut)
    assert not r.ready and "gzip" in r.reason
    open_gz = make(tmp_path / "open.log.gz", ZEEK, gz=True)
    r = file_complete(open_gz)
    assert not r.ready and "#close" in r.reason


def test_empty_file_is_not_ready(tmp_path: Path) -> None:
    p = make(tmp_path / "conn.log", "", age=600)
    assert not ready(p).ready


def test_scan_matches_patterns_and_skips_excluded(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    (root / "2024-03-04").mkdir(parents=True)
    (root / "current").mkdir()
    a = make(root / "2024-03-04" / "conn.10:00:00-11:00:00.log.gz", ZEEK + CLOSE, age=300, gz=True)
    b = make(root / "2024-03-04" / "conn.11:00:00-12:00:00.log.gz", ZEEK + CLOSE, age=100, gz=True)
    make(root / "2024-03-04" / "dns.10:00:00-11:00:00.log.gz", "x", gz=True)
    make(root / "current" / "conn.log", ZEEK)
    make(root / "2024-03-04" / ".conn.log.swp", ZEEK)
    cfg = scheduler.parse_config(
        {
            "jobs": {
                "ingest": {
                    "watch": [str(root), str(tmp_path / "no")],
                    "patterns": ["conn.*log", "conn.*log.gz"],
                }
            }
        }
    )
    files, notes = scheduler.scan_watch_dirs(cfg.ingest)
    assert files == [a, b]  # oldest first
    assert len(notes) == 1 and "does not exist" in notes[0]
    flat = scheduler.parse_config({"jobs": {"ingest": {"watch": [str(root)], "recursive": False}}})
    assert scheduler.scan_watch_dirs(flat.ingest)[0] == []


def window_rows(*names: str, **state: dict) -> list[dict]:
    return [{"window": n, "edges": 10, "connections": 100, **state.get(n, {})} for n in names]


def test_complete_windows() -> None:
    rows = window_rows("2024-W10", "2024-W11")
    # 2024-W11 ends 2024-03-18T00:00Z
    before_end = dt.datetime(2024, 3, 17, 23, tzinfo=dt.UTC)
    after_end = dt.datetime(2024, 3, 18, 2, tzinfo=dt.UTC)
    assert scheduler.complete_windows(rows, before_end, 3600) == ["2024-W10"]
    assert scheduler.complete_windows(rows, after_end, 3600) == ["2024-W10", "2024-W11"]
    assert scheduler.complete_windows(rows, after_end, 3 * 3600) == ["2024-W10"]
    # without later data, W10 waits for the clock too
    early = dt.datetime(2024, 3, 11, 0, 30, tzinfo=dt.UTC)
    assert scheduler.complete_windows(rows, early, 3600, later_data_closes=False) == []
    assert scheduler.complete_windows(rows, early, 3600, later_data_closes=True) == ["2024-W10"]


def test_windows_to_analyse() -> None:
    cfg = scheduler.parse_config(
        {
            "jobs": {
                "ingest": {"enabled": False},
                "window_close": {"max_windows_per_run": 2, "max_attempts": 2},
            }
        }
    ).window_close
    now = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    done = {
        "analysed_seq": 1,
        "analysed_connections": 100,
        "analysed_edges": 10,
        "analysis_status": "ok",
        "attempts": 1,
    }
    rows = window_rows(
        "2024-W08",
        "2024-W09",
        "2024-W10",
        "2024-W11",
        **{
            "2024-W08": done,
            "2024-W09": {**done, "analysed_connections": 90},  # late data arrived
            "2024-W10": {**done, "analysis_status": "failed", "attempts": 2},  # gave up
        },
    )
    assert scheduler.windows_to_analyse(rows, now, cfg) == ["2024-W09", "2024-W11"]
    retry = window_rows("2024-W10", **{"2024-W10": {**done, "analysis_status": "failed"}})
    assert scheduler.windows_to_analyse(retry, now, cfg) == ["2024-W10"]
    capped = window_rows("2024-W01", "2024-W02", "2024-W03")
    assert scheduler.windows_to_analyse(capped, now, cfg) == ["2024-W01", "2024-W02"]
