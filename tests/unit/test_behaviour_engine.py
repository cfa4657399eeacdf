"""The behaviour detector on the analytical engine: each SQL aggregation of
`graphnet/sql/behaviour_*.sql` against its pandas oracle (`behaviour.frames`) on hand-written
and random frames, the step against the frame model, and the step in 64 MiB of engine memory
on a window that does not fit in it."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from graphnet import windows
from graphnet.archive import Archive
from graphnet.config import Settings
from graphnet.detectors import behaviour
from graphnet.detectors.behaviour import aggregates, frames, model
from graphnet.detectors.contract import ConnectionScores, Context
from graphnet.sources import ARROW_TYPES, BASE_COLUMNS

T0 = 1_710_115_200.0  # Monday 2024-03-11 00:00 UTC (2024-W11)
W = T0 + 7 * 86400 + 9 * 3600  # Monday 09:00 of 2024-W12
Row = tuple[float, str, str, int, str, str]


def full(rows: list[Row], uid: str = "C", answered_pkts: float = 3.0) -> pd.DataFrame:
    """A normalised connection frame (the archive's columns and types) from (ts, src, dst,
    dport, proto, conn_state) rows; answered connections (SF) have reply packets."""
    ts, src, dst, port, proto, state = (list(c) for c in zip(*rows, strict=True))
    ok = [s == "SF" for s in state]
    cols = {
        "ts": ts,
        "uid": [f"{uid}{i:05d}" for i in range(len(rows))],
        "src": src,
        "sport": [50000] * len(rows),
        "dst": dst,
        "dport": port,
        "proto": proto,
        "service": ["-"] * len(rows),
        "duration": [1.0] * len(rows),
        "src_bytes": [100.0] * len(rows),
        "dst_bytes": [500.0 if k else 0.0 for k in ok],
        "src_pkts": [2.0] * len(rows),
        "dst_pkts": [answered_pkts if k else 0.0 for k in ok],
        "conn_state": state,
        "history": ["ShADadFf" if k else "S" for k in ok],
        "line": list(range(1, len(rows) + 1)),
    }
    table = pa.table({c: pa.array(cols[c], type=ARROW_TYPES[c]) for c in BASE_COLUMNS})
    return table.to_pandas()


def archived(tmp: Path, *frames_: pd.DataFrame, **settings: object) -> Archive:
    """An archive holding each frame as one committed file."""
    archive = Archive(Settings(home=tmp, **settings))  # type: ignore[arg-type]
    for i, f in enumerate(frames_):
        sha = f"{i + 1:x}" * 64
        w = archive.writer(sha)
        w.write(f, windows.window_ids(f["ts"].to_numpy(dtype="float64")).to_numpy())
        archive.commit(sha, w.finish())
    return archive


def history_rows(weeks: int = 1) -> list[Row]:
    rows: list[Row] = []
    for d in range(7 * weeks):
        day = T0 - (weeks - 1) * 7 * 86400 + d * 86400 + 9 * 3600
        for i in range(20):
            t = day + i * 60
            rows += [
                (t, "10.0.0.1", "10.0.9.1", 443, "tcp", "SF"),  # web
                (t, "10.0.0.2", "10.0.9.1", 443, "tcp", "SF"),
                (t, "10.0.0.3", "10.0.9.2", 445, "tcp", "SF"),  # file server
                (t, "10.0.0.4", "10.0.9.3", 8443, "tcp", "S0"),  # never answers
                (t, "10.0.0.5", "198.51.100.1", 443, "tcp", "SF"),
            ]
        rows.append((day + 3600, "10.0.0.6", "10.0.9.2", 445, "tcp", "SF"))  # a second smb client
    rows.append((T0 + 3600, "10.0.0.6", "10.0.9.1", 80, "tcp", "SF"))  # a quiet client of the web
    for i in range(120):  # a busy client: its own client habits count (min_client)
        rows.append((T0 + 86400 + i * 30, "10.0.0.7", "10.0.9.4", 80, "tcp", "SF"))
    return rows


def window_rows() -> list[Row]:
    rng = np.random.default_rng(0)
    rows: list[Row] = []
    for i in range(20):  # habits: nothing to say
        rows += [
            (W + i * 60, "10.0.0.1", "10.0.9.1", 443, "tcp", "SF"),
            (W + i * 60, "10.0.0.3", "10.0.9.2", 445, "tcp", "SF"),
        ]
    # a new internal host; a new external host with two services of an internal server
    rows += [
        (W + k, "10.0.0.77", d, 443, "tcp", "SF") for k, d in enumerate(("10.0.9.1", "10.0.9.2"))
    ]
    rows += [(W + 5, "203.0.113.50", "10.0.9.1", p, "tcp", "SF") for p in (443, 80)]
    # lateral: 10.0.0.2 -> 10.0.0.1 over rdp and smb, then 10.0.0.1 -> 10.0.9.2 over ssh
    rows += [(W + 100, "10.0.0.2", "10.0.0.1", 3389, "tcp", "SF")]
    rows += [(W + 130, "10.0.0.2", "10.0.0.1", 445, "tcp", "SF")]
    rows += [(W + 700, "10.0.0.1", "10.0.9.2", 22, "tcp", "SF")]
    rows += [(W + 800, "10.0.0.1", "10.0.9.2", 22, "tcp", "S0")]  # unanswered: no evidence
    rows += [(W + 900, "10.0.0.6", "10.0.9.2", 445, "udp", "SF")]  # new proto of a known server
    # new services: snmp to the file server (never answered anyone on it); the busy client's
    # new port with its known web peer (the server answers it to others: only the busy count)
    rows += [(W + 50, "10.0.0.3", "10.0.9.2", 161, "udp", "SF")]
    rows += [(W + 60, "10.0.0.7", "10.0.9.4", 8080, "tcp", "SF")]
    # a quiet client's new port with a known peer that answers others on it: not counted
    rows += [(W + 61, "10.0.0.6", "10.0.9.1", 443, "tcp", "SF")]
    # the pair that never got an answer now does
    rows += [(W + 60 * k, "10.0.0.4", "10.0.9.3", 8443, "tcp", "SF") for k in range(3)]
    # beaconing (60, every 300 s +- 5 %, one pause, two ports) and an irregular new host
    beacon = W + np.arange(60) * 300.0 + rng.normal(0, 15, 60)
    beacon[40:] += 5000.0
    rows += [
        (float(t), "10.0.0.5", "203.0.113.9", 443 if i % 7 else 8443, "tcp", "SF")
        for i, t in enumerate(beacon)
    ]
    rows += [
        (float(W + t), "10.0.0.2", "203.0.113.10", 443, "tcp", "SF")
        for t in np.cumsum(rng.exponential(300, 40) ** 1.5)
    ]
    # an even number of gaps, exactly periodic: a median of two middle values
    rows += [(W + 30.0 * k, "10.0.0.8", "203.0.113.11", 123, "udp", "SF") for k in range(25)]
    return rows


Bits = dict[tuple[str, bool], float]


def sql_firsts(
    archive: Archive, window: str, st: behaviour.BehaviourSettings
) -> tuple[model.Firsts, Bits]:
    internal = model.internal_of(st)
    hist = archive.history(window, st.history_days)
    with archive.session(
        {"conns": [window], "past": hist}, lookups={"b_admin": aggregates.admin_table(st)}
    ) as s:
        got, bits = aggregates.first_times(s, hist, st, internal)
        return got, bits


def oracle_firsts(
    history: pd.DataFrame, window: pd.DataFrame, st: behaviour.BehaviourSettings
) -> tuple[model.Firsts, Bits]:
    det = behaviour.FirstBehaviour(st).fit(history)
    return det.firsts(window), det.bits


def same_firsts(got: model.Firsts, want: model.Firsts) -> None:
    key = ["s", "d", "p", "port"]
    a = got.services.sort_values(key).reset_index(drop=True)
    b = want.services.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b[list(model.SERVICE_COLUMNS)], check_dtype=False)
    key = ["s", "d", "port"]
    a = got.periodic.sort_values(key).reset_index(drop=True)
    b = want.periodic.sort_values(key).reset_index(drop=True)
    assert len(a) == len(b)
    if len(a):
        pd.testing.assert_frame_equal(a, b, check_dtype=False, rtol=0, atol=0)
    assert got.internal_clients == want.internal_clients
    assert got.history_rows == want.history_rows
    assert dict(got.originators) == dict(want.originators)


def test_the_first_times_match_the_pandas_oracle(tmp_path: Path) -> None:
    hist, win = full(history_rows(2), "H"), full(window_rows(), "W")
    archive = archived(tmp_path, hist, win)
    st = behaviour.BehaviourSettings()
    got, bits = sql_firsts(archive, "2024-W12", st)
    want, want_bits = oracle_firsts(hist, win, st)
    same_firsts(got, want)
    assert bits == want_bits and bits  # two history windows: weights learned
    flags = got.services.set_index(["s", "d", "p", "port"])
    assert flags.loc[("10.0.0.77", "10.0.9.1", "tcp", 443), "new_host"]
    assert flags.loc[("203.0.113.50", "10.0.9.1", "tcp", 80), "new_host"]
    assert flags.loc[("10.0.0.2", "10.0.0.1", "tcp", 3389), "new_admin"]
    assert flags.loc[("10.0.0.3", "10.0.9.2", "udp", 161), "new_service"]
    assert flags.loc[("10.0.0.7", "10.0.9.4", "tcp", 8080), "new_service"]
    assert ("10.0.0.6", "10.0.9.1", "tcp", 443) not in flags.index
    assert flags.loc[("10.0.0.4", "10.0.9.3", "tcp", 8443), "failed"]
    assert flags.loc[("10.0.0.6", "10.0.9.2", "udp", 445), "new_service"]
    assert ("10.0.0.3", "10.0.9.2", "tcp", 445) not in flags.index  # a habit
    assert flags.loc[("10.0.0.1", "10.0.9.2", "tcp", 22), "users"] == 0
    per = got.periodic.set_index(["s", "d", "port"])
    assert set(per.loc["10.0.0.5"].index) == {("203.0.113.9", 443), ("203.0.113.9", 8443)}
    assert per.loc[("10.0.0.8", "203.0.113.11", 123), "med"] == 30.0
    assert per.loc[("10.0.0.8", "203.0.113.11", 123), "mad"] == 0.0


def test_weights_from_a_single_history_window_use_its_holdout(tmp_path: Path) -> None:
    hist, win = full(history_rows(1), "H"), full(window_rows(), "W")
    archive = archived(tmp_path, hist, win)
    st = behaviour.BehaviourSettings()
    got, bits = sql_firsts(archive, "2024-W12", st)
    want, want_bits = oracle_firsts(hist, win, st)
    same_firsts(got, want)
    assert bits == want_bits and bits
    _, none = sql_firsts(archive, "2024-W12", behaviour.BehaviourSettings(holdout=0.0))
    assert none == {}


def random_frame(
    rng: np.random.Generator, n: int, start: float, span: float, tag: str
) -> pd.DataFrame:
    """`n` random connections among a few hosts, ports and states (some replies unknown, some
    resets with packets), and a periodic pair to a host only this frame knows."""
    hosts = [f"10.0.0.{i}" for i in range(6)] + ["192.0.2.1", "192.0.2.2", "198.51.100.7"]
    ports = [22, 80, 443, 445, 3389, 8443]
    rows: list[Row] = [
        (
            float(start + rng.uniform(0, span)),
            str(rng.choice(hosts)),
            str(rng.choice(hosts)),
            int(rng.choice(ports)),
            str(rng.choice(["tcp", "udp"])),
            str(rng.choice(["SF", "SF", "S0", "REJ", "RSTO", "-"])),
        )
        for _ in range(n)
    ]
    # a periodic pair to a host only the window knows
    src = str(rng.choice(hosts[:6]))
    rows += [
        (
            float(start + span / 2 + k * 60 + rng.normal(0, 3)),
            src,
            f"203.0.113.{tag}",
            443,
            "tcp",
            "SF",
        )
        for k in range(int(rng.integers(18, 30)))
    ]
    f = full(rows, tag)
    f.loc[f.index[::11], "dst_pkts"] = np.nan  # reply packets unknown
    f.loc[f.index[::13], "conn_state"] = "REJ"  # a reset with packets is no answer
    return f


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_frames_match_the_oracle(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    weeks = [random_frame(rng, 300, T0 - k * 7 * 86400, 7 * 86400.0, f"{k}") for k in (2, 1, 0)]
    win = random_frame(rng, 300, T0 + 7 * 86400, 7 * 86400.0, "9")
    hist = pd.concat(weeks, ignore_index=True)
    archive = archived(tmp_path, *weeks, win)
    st = behaviour.BehaviourSettings(min_client=10, min_failed=2, min_periodic=15)
    got, bits = sql_firsts(archive, "2024-W12", st)
    want, want_bits = oracle_firsts(hist, win, st)
    same_firsts(got, want)
    assert bits == want_bits


def test_learn_groups_the_services_as_the_oracle(tmp_path: Path) -> None:
    hist, win = full(history_rows(1), "H"), full(window_rows(), "W")
    win.loc[3, "proto"] = None  # a missing proto reads '-' (unset)
    win.loc[4, "conn_state"] = None  # a missing state: answered only by its reply packets
    win.loc[5, "dport"] = None
    archive = archived(tmp_path, hist, win)
    with archive.session({"conns": ["2024-W12"], "past": ["2024-W11"]}) as s:
        s.table("behaviour_learn", {"split": 0, "last_win": "", "cut_ts": 0.0})
        now = pd.DataFrame(
            s.rows("SELECT s, d, p, port, n, ok, first_ok FROM b_now"),
            columns=["s", "d", "p", "port", "n", "ok", "first"],
        )
    want = frames.services(frames.normalised(win))
    key = ["s", "d", "p", "port"]
    pd.testing.assert_frame_equal(
        now.sort_values(key).reset_index(drop=True),
        want.sort_values(key).reset_index(drop=True),
        check_dtype=False,
    )
    assert "-" in set(now["p"]) and -1 in set(now["port"])


def test_the_split_of_the_history(tmp_path: Path) -> None:
    hist = full(history_rows(2), "H")
    archive = archived(tmp_path, hist, full(window_rows(), "W"))
    st = behaviour.BehaviourSettings()
    with archive.session({"conns": ["2024-W12"], "past": ["2024-W10", "2024-W11"]}) as s:
        assert aggregates.split(s, ["2024-W10", "2024-W11"], st) == ("2024-W11", float("-inf"))
        daily = behaviour.BehaviourSettings(window_kind="day")
        last = float(hist["ts"].max())
        start = windows.bounds(windows.window_of(last, "day"))[0].timestamp()
        assert aggregates.split(s, ["2024-W10", "2024-W11"], daily) == ("", start)
    with archive.session({"conns": ["2024-W12"], "past": ["2024-W11"]}) as s:
        ts = hist["ts"][hist["ts"] >= T0]
        lo, hi = float(ts.min()), float(ts.max())
        assert aggregates.split(s, ["2024-W11"], st) == ("", lo + 0.7 * (hi - lo))
    with archive.session({"conns": ["2024-W12"], "past": []}) as s:
        assert aggregates.split(s, [], st) is None


def test_examples_match_the_frame_version(tmp_path: Path) -> None:
    win = full(window_rows(), "W")
    archive = archived(tmp_path, full(history_rows(1), "H"), win)
    keys = {
        "10.0.0.5": [("203.0.113.9", 443), ("203.0.113.9", 8443)],
        "10.0.0.1": [("10.0.9.2", 22)],
        "10.0.0.77": [("10.0.9.1", 443), ("10.0.9.2", 443)],
    }
    with archive.session({"conns": ["2024-W12"], "past": ["2024-W11"]}) as s:
        s.table("behaviour_learn", {"split": 0, "last_win": "", "cut_ts": 0.0})
        s.lookup("b_internal", pa.table({"host": pa.array([], pa.string())}))
        s.table("behaviour_scope_window")
        got = aggregates.examples(s, keys)
    assert got == behaviour.example_uids(win, keys)
    assert got["10.0.0.5"]["connections"] == 60 and len(got["10.0.0.5"]["uids"]) == 10
    assert got["10.0.0.1"]["connections"] == 1  # the S0 probe is no evidence


def test_the_step_gives_the_frame_models_findings(tmp_path: Path) -> None:
    hist, win = full(history_rows(2), "H"), full(window_rows(), "W")
    archive = archived(tmp_path, hist, win)
    st = behaviour.BehaviourSettings()
    ctx = Context(archive.settings, "2024-W12", archive, None, False, (st, ConnectionScores()))
    run = behaviour.run(ctx)
    det = behaviour.FirstBehaviour(st).fit(hist)
    parts = det.parts(win)
    hosts = det.host_frame(win, parts=parts)
    want = behaviour.findings_from_hosts(
        hosts, parts, win, "2024-W12", st, ["2024-W10", "2024-W11"]
    )
    assert [f.to_json() for f in run.findings] == [f.to_json() for f in want]
    assert run.conn_scores is None  # a host detector, with or without ConnectionScores
    pd.testing.assert_series_equal(run.host_scores, hosts["score"])
    by = {f.hosts[0]: f for f in run.findings}
    assert set(by) >= {"10.0.0.77", "203.0.113.50", "10.0.0.2", "10.0.0.1", "10.0.0.3"}
    assert {"10.0.0.4", "10.0.0.5", "10.0.0.7", "10.0.0.8"} <= set(by)
    assert "the peer then opened one of its own" in by["10.0.0.2"].explanation
    assert "60 regular connections (every 30" in by["10.0.0.5"].explanation
    assert by["10.0.0.5"].evidence["first_times"]["new_periodic"]["services"] == [
        "203.0.113.9:443",
        "203.0.113.9:8443",
    ]
    assert run.info["bits"] and run.detail is not None


def big_window(n: int, seed: int = 7) -> pd.DataFrame:
    """`n` connections of 2024-W12: 4,000 internal clients new to the history, to 50,000
    external peers and 200 internal servers on several ports (their services do not fit in
    64 MiB), plus a lateral hop and a beacon."""
    rng = np.random.default_rng(seed)
    src = np.array([f"10.1.{i // 250}.{i % 250}" for i in range(4000)], dtype=object)
    dst = np.array(
        [f"198.18.{i // 250}.{i % 250}" for i in range(50000)]
        + [f"10.2.0.{i}" for i in range(200)] * 100,
        dtype=object,
    )
    ts = np.sort(W + rng.uniform(0, 5 * 86400, n))
    frame = pd.DataFrame(
        {
            "ts": ts,
            "uid": [f"B{i:08d}" for i in range(n)],
            "src": src[rng.integers(0, len(src), n)],
            "sport": rng.integers(49152, 65535, n).astype("int32"),
            "dst": dst[rng.integers(0, len(dst), n)],
            "dport": rng.choice(np.array([80, 443, 8080, 8443, 993, 25, 53], dtype="int32"), n),
            "proto": np.where(rng.random(n) < 0.8, "tcp", "udp").astype(object),
            "service": "-",
            "duration": rng.exponential(1.0, n),
            "src_bytes": rng.integers(0, 10000, n).astype("float64"),
            "dst_bytes": rng.integers(0, 10000, n).astype("float64"),
            "src_pkts": rng.integers(1, 20, n).astype("float64"),
            "dst_pkts": rng.integers(0, 20, n).astype("float64"),
            "conn_state": np.where(rng.random(n) < 0.9, "SF", "S0").astype(object),
            "history": "ShADadFf",
            "line": np.arange(1, n + 1, dtype="int64"),
        }
    )
    extra = full(
        [(W + 100, "10.0.0.2", "10.0.0.1", 3389, "tcp", "SF")]
        + [(W + 700, "10.0.0.1", "10.0.9.2", 22, "tcp", "SF")]
        + [(W + 300.0 * k, "10.0.0.5", "203.0.113.9", 443, "tcp", "SF") for k in range(40)],
        "X",
    )
    return pd.concat([frame, extra], ignore_index=True)


def test_the_step_runs_in_64_mib_on_a_window_that_does_not_fit(tmp_path: Path) -> None:
    window = big_window(500_000)
    assert window.memory_usage(deep=True).sum() > 64 * 2**20  # the frame alone: over 64 MiB
    archive = archived(
        tmp_path, full(history_rows(1), "H"), window, engine_memory="64MiB", engine_threads=1
    )
    del window
    started = time.perf_counter()
    run = behaviour.run(Context(archive.settings, "2024-W12", archive, None, False))
    assert time.perf_counter() - started < 30
    hosts = run.detail.hosts  # type: ignore[union-attr]
    assert hosts.loc["10.0.0.2", "part_new_admin"] > 0
    assert hosts.loc["10.0.0.5", "part_new_periodic"] > 0
    assert len(hosts) > 3000  # the window's new clients of internal servers
    assert len(run.findings) == behaviour.BehaviourSettings().max_findings
    assert not list((tmp_path / "tmp" / "engine").iterdir())  # the spill folder is cleaned
