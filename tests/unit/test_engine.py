"""The analytical engine behind the archive door: each SQL aggregation against a small pandas
oracle on hand-written frames (and hypothesis), the bindings (windows, duplicates, missing
columns), the memory limit and the spill folder."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphnet import engine, features, windows
from graphnet.archive import Archive
from graphnet.config import Settings
from graphnet.engine import EngineSettings, size_bytes
from graphnet.errors import ConfigError, EngineOutOfMemory
from graphnet.sources import ARROW_TYPES, BASE_COLUMNS

T0 = 1709542800.0  # 2024-03-04 09:00 UTC (a Monday), in 2024-W10
COMPONENTS = list(features.COMPONENTS)


def frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    """A normalised connection frame with the archive's columns and types."""
    cols = {c: pa.array([r.get(c) for r in rows], type=ARROW_TYPES[c]) for c in BASE_COLUMNS}
    return pa.table(cols).to_pandas()  # as the readers give it


def archived(tmp: Path, *frames: pd.DataFrame) -> Archive:
    """An archive holding each frame as one committed file."""
    archive = Archive(Settings(home=tmp))
    for i, f in enumerate(frames):
        sha = f"{i:x}" * 64
        w = archive.writer(sha)
        w.write(f, windows.window_ids(f["ts"].to_numpy(dtype="float64")).to_numpy())
        archive.commit(sha, w.finish())
    return archive


HAND = frame(
    [
        # ts, proto upper-case, service empty, a dynamic port, history with both cases
        dict(
            ts=T0,
            uid="C1",
            src="10.0.0.1",
            dst="10.0.0.2",
            dport=443,
            proto="TCP",
            service="",
            conn_state="SF",
            history="ShADadFf",
            src_bytes=0.0,
            dst_bytes=1.0,
            src_pkts=3.0,
            dst_pkts=None,
            line=1,
        ),
        dict(
            ts=T0 + 3600 * 15 + 0.5,
            uid="C2",
            src="10.0.0.1",
            dst="10.0.0.2",
            dport=50000,
            proto="udp",
            service="dns",
            conn_state="S0",
            history=None,
            src_bytes=1023.0,
            dst_bytes=1024.0,
            src_pkts=-1.0,
            dst_pkts=float("nan"),
            line=2,
        ),
        # Saturday: a weekend; unknown port and state
        dict(
            ts=T0 + 5 * 86400 + 60,
            uid="C3",
            src="10.0.0.3",
            dst="10.0.0.2",
            dport=None,
            proto=None,
            service="ssl",
            conn_state="",
            history="^hADr",
            src_bytes=7.0,
            dst_bytes=0.5,
            src_pkts=1.0,
            dst_pkts=2.0,
            line=3,
        ),
        # the same edge again: histogram counts add up
        dict(
            ts=T0 + 7,
            uid="C4",
            src="10.0.0.1",
            dst="10.0.0.2",
            dport=443,
            proto="tcp",
            service="-",
            conn_state="SF",
            history="ShADadFf",
            src_bytes=0.0,
            dst_bytes=1.0,
            src_pkts=3.0,
            dst_pkts=0.0,
            line=4,
        ),
    ]
)


def sql_parts(archive: Archive, wins: list[str]) -> pd.DataFrame:
    with archive.session({"conns": wins}, parts=["conns"]) as s:
        rel = s.con.sql("SELECT * FROM conns_parts ORDER BY uid").to_arrow_table()
    return rel.to_pandas()


def test_parts_match_the_python_components(tmp_path: Path) -> None:
    archive = archived(tmp_path, HAND)
    got = sql_parts(archive, archive.windows())
    want = features.components(HAND).assign(uid=HAND["uid"]).sort_values("uid")
    for c in COMPONENTS:
        assert got[c].tolist() == want[c].tolist(), c
    # spot checks of the rules themselves
    assert got["daytype"].tolist() == ["weekday", "weekday", "weekend", "weekday"]
    assert got["dport"].tolist() == ["443", "dyn", "-", "443"]
    assert got["hour"].tolist() == ["09", "00", "09", "09"]


finite = st.floats(min_value=0, max_value=1e12, allow_nan=False) | st.none() | st.just(-3.0)
text = (
    st.sampled_from(["", "-", "tcp", "UDP", "ShADadFf", "^dDa", "sS", "Dd\u00c9\u00e9"]) | st.none()
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "ts": st.floats(min_value=1e8, max_value=2e9, allow_nan=False),
                "dport": st.integers(min_value=-1, max_value=65535) | st.none(),
                "proto": text,
                "service": text,
                "conn_state": text,
                "history": text,
                "src_bytes": finite,
                "dst_bytes": finite,
                "src_pkts": finite,
                "dst_pkts": finite,
            }
        ),
        min_size=1,
        max_size=25,
    )
)
def test_parts_agree_with_python_on_any_values(
    tmp_path_factory: pytest.TempPathFactory, rows: list[dict[str, object]]
) -> None:
    tmp = tmp_path_factory.mktemp("parts")
    f = frame([dict(r, uid=f"C{i:03d}", src="a", dst="b", line=i) for i, r in enumerate(rows)])
    archive = archived(tmp, f)
    got = sql_parts(archive, archive.windows())
    want = features.components(f).assign(uid=f["uid"]).sort_values("uid")
    for c in COMPONENTS:
        assert got[c].tolist() == want[c].tolist(), c


def oracle_histograms(f: pd.DataFrame) -> pd.DataFrame:
    parts = features.components(f)
    parts["src"], parts["dst"] = f["src"], f["dst"]
    parts["win"] = windows.window_ids(f["ts"].to_numpy(dtype="float64")).to_numpy()
    long = parts.melt(["win", "src", "dst"], COMPONENTS, "component", "value")
    out = long.groupby(["win", "src", "dst", "component", "value"]).size().rename("n")
    return out.reset_index().sort_values(["win", "src", "dst", "component", "value"])


def test_edge_histograms_match_a_pandas_oracle(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 400
    f = frame(
        [
            dict(
                ts=T0 + float(rng.integers(0, 20 * 86400)),
                uid=f"C{i}",
                src=f"10.0.0.{rng.integers(0, 4)}",
                dst=f"10.0.1.{rng.integers(0, 3)}",
                dport=int(rng.choice([53, 80, 443, 60000])),
                proto=str(rng.choice(["tcp", "udp"])),
                service=str(rng.choice(["dns", "http", "-"])),
                conn_state=str(rng.choice(["SF", "S0"])),
                history=str(rng.choice(["ShADadFf", "D", "-"])),
                src_bytes=float(rng.integers(0, 5000)),
                dst_bytes=float(rng.integers(0, 5000)),
                src_pkts=float(rng.integers(0, 9)),
                dst_pkts=float(rng.integers(0, 9)),
                line=i,
            )
            for i in range(n)
        ]
    )
    archive = archived(tmp_path, f.iloc[:150], f.iloc[150:])
    got = archive.query(
        "edge_histograms", {"conns": archive.windows()}, parts=["conns"]
    ).to_pandas()
    want = oracle_histograms(f)
    assert len(archive.windows()) >= 3
    assert got.reset_index(drop=True).equals(
        want.reset_index(drop=True).astype(got.dtypes.to_dict())
    )


def test_a_uid_archived_twice_is_read_once(tmp_path: Path) -> None:
    archive = archived(tmp_path, HAND, HAND.iloc[:2])  # the first two connections again
    with archive.session({"conns": archive.windows()}) as s:
        n = s.con.sql("SELECT COUNT(*) FROM conns").fetchall()[0]
    assert n == (4,)
    assert len(archive.connections(archive.windows(), ["uid"], complete=True)) == 4


def test_windows_bind_separately_and_an_empty_binding_has_the_columns(tmp_path: Path) -> None:
    later = HAND.assign(ts=HAND["ts"] + 14 * 86400, uid=HAND["uid"] + "x")
    archive = archived(tmp_path, HAND, later)
    first, *_ = archive.windows()
    with archive.session({"conns": [first], "past": ["2001-W01"]}) as s:
        rows = s.con.sql("SELECT DISTINCT win FROM conns").fetchall()
        cols = [d[0] for d in s.con.sql("SELECT * FROM past").description]
        empty = s.con.sql("SELECT COUNT(*) FROM past").fetchall()[0]
    assert rows == [(first,)]
    assert cols == ["win", *BASE_COLUMNS, "sensor"]
    assert empty == (0,)


def test_the_memory_limit_and_spill_folder_are_set_and_the_spill_folder_is_cleaned(
    tmp_path: Path,
) -> None:
    archive = Archive(Settings(home=tmp_path, engine_memory="256MiB", engine_threads=1))
    with archive.engine().session() as s:
        limit = s.con.sql("SELECT current_setting('memory_limit')").fetchall()[0]
        spill = s.con.sql("SELECT current_setting('temp_directory')").fetchall()[0]
        threads = s.con.sql("SELECT current_setting('threads')").fetchall()[0]
        purged = s.con.sql("SELECT current_setting('allocator_background_threads')").fetchall()
    assert purged == [(True,)]
    assert limit is not None and limit[0] in ("256.0 MiB", "268.4 MB")
    assert spill is not None and Path(spill[0]).parent == tmp_path / "tmp" / "engine"
    assert threads == (1,)
    assert list((tmp_path / "tmp" / "engine").iterdir()) == []


def test_a_session_removes_the_spill_folders_of_ended_processes_only(tmp_path: Path) -> None:
    """Folders of sessions whose lock is not held (their process was killed) go when a session
    opens; a live session's folder (its lock held), and a folder being made, stay."""
    settings = Settings(home=tmp_path, engine_memory="256MiB", engine_threads=1)
    spill = tmp_path / "tmp" / "engine"
    dead = spill / f"{engine.SESSION_PREFIX}dead"
    (dead / "duckdb_temp_storage").mkdir(parents=True)
    (dead / engine.SESSION_LOCK).touch()
    # without a lock file (an earlier version's): removed once unchanged for an hour
    unlocked = spill / f"{engine.SESSION_PREFIX}older"
    unlocked.mkdir()
    recent = spill / f"{engine.SESSION_PREFIX}recent"
    recent.mkdir()
    live = spill / f"{engine.SESSION_PREFIX}live"
    live.mkdir()
    held = engine._hold_lock(live / engine.SESSION_LOCK)
    fresh = spill / f"{engine.STARTING_PREFIX}fresh"
    fresh.mkdir()
    stale = spill / f"{engine.STARTING_PREFIX}stale"
    stale.mkdir()
    old = time.time() - engine.STALE_STARTING_SECONDS - 60
    os.utime(stale, (old, old))
    os.utime(unlocked, (old, old))
    try:
        with Archive(settings).engine().session() as s:
            mine = s.spill
            assert sorted(p.name for p in spill.iterdir()) == sorted(
                [live.name, fresh.name, recent.name, mine.name]
            )
            # this session's own folder is held: another process's cleaning leaves it
            assert engine.remove_stale_spills(spill) == 0
            assert mine.is_dir()
    finally:
        os.close(held)
    assert sorted(p.name for p in spill.iterdir()) == sorted([live.name, fresh.name, recent.name])
    assert engine.remove_stale_spills(spill) == 1  # its lock released: the live one has ended
    assert sorted(p.name for p in spill.iterdir()) == sorted([fresh.name, recent.name])


def test_the_spill_folder_of_a_killed_process_goes_with_the_next_session(tmp_path: Path) -> None:
    """A process killed (SIGKILL) in a session leaves its spill folder; the next session of
    any process removes it."""
    spill = tmp_path / "tmp" / "engine"
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from graphnet.archive import Archive\n"
        "from graphnet.config import Settings\n"
        "settings = Settings(home=Path(sys.argv[1]), engine_memory='256MiB', engine_threads=1)\n"
        "with Archive(settings).engine().session() as s:\n"
        "    s.con.sql('CREATE TEMP TABLE t AS SELECT range AS x FROM range(1000)')\n"
        "    print(s.spill, flush=True)\n"
        "    time.sleep(60)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        left = Path(child.stdout.readline().strip())
        assert left.parent == spill and left.is_dir()
        # while it runs, its folder stays
        assert engine.remove_stale_spills(spill) == 0
    finally:
        child.kill()
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()
    assert left.is_dir()  # killed: nothing removed it
    settings = Settings(home=tmp_path, engine_memory="256MiB", engine_threads=1)
    with Archive(settings).engine().session() as s:
        assert not left.exists()
        assert [p.name for p in spill.iterdir()] == [s.spill.name]
    assert list(spill.iterdir()) == []


def test_a_lean_session_spills_its_tables_and_gets_its_limit_back(tmp_path: Path) -> None:
    """While Python builds from its results, the engine keeps a quarter of its limit: a table
    larger than that moves to the spill folder, reads back whole, and the limit returns."""
    archive = Archive(Settings(home=tmp_path, engine_memory="1GiB", engine_threads=1))

    def memory(s: Any) -> tuple[str, float, float]:
        limit = s.con.sql("SELECT current_setting('memory_limit')").fetchall()[0][0]
        used, spilled = s.con.sql(
            "SELECT SUM(memory_usage_bytes), SUM(temporary_storage_bytes) FROM duckdb_memory()"
        ).fetchall()[0]
        return str(limit), float(used) / 2**20, float(spilled) / 2**20

    with archive.engine().session() as s:
        s.con.execute("CREATE TEMP TABLE t AS SELECT range AS i FROM range(60000000)")
        limit, used, spilled = memory(s)
        assert limit == "1.0 GiB" and used > 300 and spilled == 0
        with s.lean():
            limit, used, spilled = memory(s)
            assert limit == "256.0 MiB" and used <= 256 and spilled > 100
            assert s.con.sql("SELECT COUNT(*), SUM(i) FROM t").fetchall() == [
                (60_000_000, 60_000_000 * 59_999_999 // 2)
            ]
        assert memory(s)[0] == "1.0 GiB"
    small = Archive(Settings(home=tmp_path, engine_memory="100MiB", engine_threads=1))
    with small.engine().session() as s, s.lean():  # never below 64 MiB
        assert memory(s)[0] == "64.0 MiB"


def test_a_statement_too_large_for_the_lean_share_gets_the_whole_limit_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Being lean is an economy, never the cause of a failure: a statement that cannot spill
    (one list of 30 M numbers: 240 MB) fails at a quarter of 600 MiB, runs again with the whole
    limit, and the rest of the block keeps it; without a lean block, the failure is raised."""
    big = "SELECT len(list(i)) AS n FROM range(30000000) t(i)"
    archive = Archive(Settings(home=tmp_path, engine_memory="600MiB", engine_threads=1))

    def limit(s: Any) -> str:
        return str(s.con.sql("SELECT current_setting('memory_limit')").fetchall()[0][0])

    with archive.engine().session() as s:
        with s.lean():
            assert limit(s) == "150.0 MiB"
            with caplog.at_level(logging.INFO, logger="graphnet.engine"):
                assert s.rows(big) == [(30_000_000,)]
            assert "needs more than the lean limit; the whole 600MiB again" in caplog.text
            assert limit(s) == "600.0 MiB"
        assert limit(s) == "600.0 MiB"
        with s.lean():  # a statement that runs before the result's runs again as well
            rel = s.run_text([f"CREATE TEMP TABLE u AS {big}", "SELECT n FROM u"], None)
            assert limit(s) == "600.0 MiB"
            assert rel.fetchall() == [(30_000_000,)]
    small = Archive(Settings(home=tmp_path, engine_memory="128MiB", engine_threads=1))
    with small.engine().session() as s, pytest.raises(EngineOutOfMemory) as info:
        s.rows(big)
    assert str(info.value).startswith(
        "the inline statement needs more memory than the engine's 128MiB "
        "(GRAPHNET_ENGINE_MEMORY) and could not spill to disk: "
    )


def test_sizes_read_as_the_engine_reads_them() -> None:
    assert size_bytes("1GB") == 10**9 and size_bytes(" 1.5 GiB") == 3 * 2**29
    assert size_bytes("256MiB") == 2**28 and size_bytes("2kb") == 2000
    with pytest.raises(ValueError, match="not a size: 'lots'"):
        size_bytes("lots")


def test_a_bad_memory_limit_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="GRAPHNET_ENGINE_MEMORY must be a size such as 1GB"):
        EngineSettings("lots", 1, tmp_path)


def test_window_hosts_are_every_source_and_destination_sorted_as_python_sorts(
    tmp_path: Path,
) -> None:
    odd = HAND.assign(
        src=["b", "\u00e9t\u00e9", "B", "10.0.0.1"], dst=["a", "Z", "b", "\U0001f600"]
    )
    archive = archived(tmp_path, odd)
    got = archive.query("window_hosts", {"conns": archive.windows()}).column("host").to_pylist()
    assert got == sorted(set(odd["src"]) | set(odd["dst"]))


def test_a_statement_that_cannot_spill_is_a_named_error_with_a_hint(tmp_path: Path) -> None:
    """An ordered list of ten million numbers cannot spill: at 16 MiB the engine says which
    statement, the limit, and what to change (exit code 10), not a DuckDB traceback."""
    archive = Archive(Settings(home=tmp_path, engine_memory="16MiB", engine_threads=1))
    with archive.session({}) as s, pytest.raises(EngineOutOfMemory) as got:
        with s._guard("big_list"):
            s.con.sql("SELECT LIST(i ORDER BY i DESC) FROM range(10000000) t(i)").fetchall()
    assert isinstance(got.value, MemoryError) and got.value.exit_code == 10
    assert str(got.value).startswith(
        "the big_list statement needs more memory than the engine's 16MiB "
        "(GRAPHNET_ENGINE_MEMORY) and could not spill to disk: "
    )
    assert got.value.hint == (
        "raise GRAPHNET_ENGINE_MEMORY (e.g. GRAPHNET_ENGINE_MEMORY=4GB), or use fewer threads "
        "(GRAPHNET_ENGINE_THREADS, now 1), then re-run the same command"
    )
