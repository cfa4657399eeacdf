"""The RITA-class steps on the analytical engine: the SQL aggregations of
`graphnet/sql/rita_*.sql` against a pandas oracle on hand-written and random frames, and the
three steps on seeded generated networks with a planted beacon (jitter 0 %, 10 %, 30 %, missing
hours), long connection and strobe, each judged against the window alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from graphnet import windows
from graphnet.archive import Archive
from graphnet.config import Settings
from graphnet.detectors.contract import Context
from graphnet.detectors.registry import default_steps, detector_of_kind
from graphnet.detectors.rita import aggregates, beacon, longconn, model, strobe
from graphnet.detectors.rita.model import RitaSettings
from graphnet.generate.frames import synthetic_connections
from graphnet.sources import ARROW_TYPES, BASE_COLUMNS

T0 = 1_710_115_200.0  # Monday 2024-03-11 00:00 UTC (2024-W11)
OPEN = ("S1", "S2", "S3")


def internal(hosts: np.ndarray) -> np.ndarray:
    """The oracle's and the steps' idea of internal here: 10.0.0.0/8 (the hand-written and
    random frames' clients and servers), everything else external."""
    return np.array([str(h).startswith("10.") for h in hosts], dtype=bool)


def inside(hosts: pd.Series) -> pd.Series:
    return pd.Series(internal(hosts.to_numpy(dtype=object)), index=hosts.index)


def frame(
    rows: list[tuple[float, str, str, int, float, float, str]], uid: str = "R"
) -> pd.DataFrame:
    """A normalised connection frame from (ts, src, dst, dport, duration, bytes, state) rows."""
    ts, src, dst, port, dur, b, state = (list(c) for c in zip(*rows, strict=True))
    cols = {
        "ts": ts,
        "uid": [f"{uid}{i:06d}" for i in range(len(rows))],
        "src": src,
        "sport": [40000] * len(rows),
        "dst": dst,
        "dport": port,
        "proto": ["tcp"] * len(rows),
        "service": ["-"] * len(rows),
        "duration": dur,
        "src_bytes": [x * 0.25 for x in b],
        "dst_bytes": [x * 0.75 for x in b],
        "src_pkts": [2.0] * len(rows),
        "dst_pkts": [2.0] * len(rows),
        "conn_state": state,
        "history": ["ShADadFf"] * len(rows),
        "line": list(range(1, len(rows) + 1)),
    }
    table = pa.table({c: pa.array(cols[c], type=ARROW_TYPES[c]) for c in BASE_COLUMNS})
    return table.to_pandas()


def archived(tmp: Path, *frames_: pd.DataFrame) -> Archive:
    archive = Archive(Settings(home=tmp))
    for i, f in enumerate(frames_):
        sha = f"{i + 1:x}" * 64
        w = archive.writer(sha)
        w.write(f, windows.window_ids(f["ts"].to_numpy(dtype="float64")).to_numpy())
        archive.commit(sha, w.finish())
    return archive


# ------------------------------------------------------------------------- pandas oracle
def oracle_pairs(c: pd.DataFrame) -> tuple[dict[str, float], pd.DataFrame]:
    c = c[c["ts"].notna()].copy()
    c["b"] = c["src_bytes"].fillna(0.0) + c["dst_bytes"].fillna(0.0)
    lo, hi = float(c["ts"].min()), float(c["ts"].max())
    op = c["conn_state"].isin(OPEN)
    known = c["duration"].notna() & (c["duration"] > 0)
    c["dur"] = np.where(
        known, c["duration"].fillna(0.0), np.where(c["duration"].isna() & op, hi - c["ts"], 0.0)
    )
    c["op"] = op.astype(int)
    g = c.groupby(["src", "dst"])
    pairs = (
        pd.DataFrame(
            {
                "n": g.size(),
                "first_ts": g["ts"].min(),
                "last_ts": g["ts"].max(),
                "bytes": g["b"].sum(),
                "open_n": g["op"].sum(),
                "dur": g["dur"].sum(),
                "longest": g["dur"].max(),
            }
        )
        .reset_index()
        .rename(columns={"src": "s", "dst": "d"})
    )
    ln_n = np.log(pairs["n"].to_numpy(dtype="float64"))
    ln_d = np.log(pairs.loc[pairs["dur"] > 0, "dur"].to_numpy(dtype="float64"))
    med_n, med_d = float(np.median(ln_n)), float(np.median(ln_d)) if len(ln_d) else None
    span = {
        "lo": lo,
        "hi": hi,
        "hours": int(np.floor(c["ts"] / 3600).nunique()),
        "pairs": len(pairs),
        "timed": len(ln_d),
        "med_n": med_n,
        "mad_n": float(np.median(np.abs(ln_n - med_n))),
        "med_dur": med_d,
        "mad_dur": float(np.median(np.abs(ln_d - med_d))) if med_d is not None else None,
    }
    return span, pairs


def oracle_beacons(
    c: pd.DataFrame, st: RitaSettings, max_n: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    span, pairs = oracle_pairs(c)
    n_bins = model.bin_count(span["lo"], span["hi"], st)
    c = c[c["ts"].notna()].copy()
    c["b"] = c["src_bytes"].fillna(0.0) + c["dst_bytes"].fillna(0.0)
    rows, bins = [], []
    for p in pairs.itertuples():
        if not (st.min_connections <= p.n < max_n):
            continue
        g = c[(c["src"] == p.s) & (c["dst"] == p.d)]
        t = np.floor(g["ts"].to_numpy())
        stamps, k = np.unique(t, return_counts=True)
        if len(stamps) < st.min_timestamps:
            continue
        gaps = np.diff(stamps)
        q = np.quantile(gaps, [0.25, 0.5, 0.75])
        b = g["b"].to_numpy()
        sq = np.quantile(b, [0.25, 0.5, 0.75])
        rows.append(
            {
                "s": p.s, "d": p.d, "n": p.n, "stamps": len(stamps), "first_ts": p.first_ts,
                "last_ts": p.last_ts, "hours": len(np.unique(np.floor(stamps / 3600))),
                "gap_q1": q[0], "gap_q2": q[1], "gap_q3": q[2],
                "gap_mad": float(np.median(np.abs(gaps - q[1]))),
                "size_q1": sq[0], "size_q2": sq[1], "size_q3": sq[2],
                "size_mad": float(np.median(np.abs(b - sq[1]))),
                "dst_sources": int(((pairs["d"] == p.d) & inside(pairs["s"])).sum()),
                "window_sources": int(pairs.loc[inside(pairs["s"]), "s"].nunique()),
                "dst_external": int(not inside(pd.Series([p.d])).iat[0]),
            }
        )  # fmt: skip
        width = span["hi"] - span["lo"]
        bi = np.clip(np.floor((stamps - span["lo"]) * n_bins / width), 0, n_bins - 1)
        for j in np.unique(bi):
            bins.append({"s": p.s, "d": p.d, "bin": int(j), "n": int(k[bi == j].sum())})
    stats = pd.DataFrame(rows, columns=list(model.STAT_COLUMNS))
    return stats, pd.DataFrame(bins, columns=["s", "d", "bin", "n"])


def hand_rows() -> list[tuple[float, str, str, int, float, float, str]]:
    rng = np.random.default_rng(3)
    rows: list[tuple[float, str, str, int, float, float, str]] = []
    w = T0 + 3600
    # a beacon every 300 s with a little jitter, two ports, with a burst in the same second
    for i in range(60):
        rows.append(
            (
                w + i * 300 + float(rng.uniform(-5, 5)),
                "10.0.0.5",
                "203.0.113.9",
                443 if i % 5 else 8443,
                0.2,
                1200.0,
                "SF",
            )
        )
    rows.append((w + 0.4, "10.0.0.5", "203.0.113.9", 443, 0.2, 1210.0, "SF"))
    # irregular clients; a connection without a duration (NaN) and a NaN byte count
    for _ in range(30):
        rows.append(
            (
                w + float(rng.uniform(0, 20000)),
                "10.0.0.1",
                "10.0.9.1",
                80,
                float(rng.uniform(0.1, 5)),
                float(rng.integers(100, 90000)),
                "SF",
            )
        )
    rows.append((w + 50, "10.0.0.1", "10.0.9.1", 80, float("nan"), float("nan"), "S0"))
    # a long session (known duration) and one still open without a duration
    rows.append((w + 10, "10.0.0.2", "198.51.100.7", 22, 15000.0, 5e6, "S1"))
    rows.append((w + 12000, "10.0.0.3", "198.51.100.8", 3389, float("nan"), 2e5, "S1"))
    # a chatty pair
    for i in range(400):
        rows.append((w + i * 2.5, "10.0.0.4", "10.0.9.2", 53, 0.01, 150.0, "SF"))
    # pairs with a few connections
    for j in range(8):
        for i in range(1 + j % 3):
            rows.append((w + 100 * j + i, f"10.0.1.{j}", "10.0.9.3", 445, 1.0 + j, 500.0, "SF"))
    return rows


def random_rows(seed: int) -> list[tuple[float, str, str, int, float, float, str]]:
    rng = np.random.default_rng(seed)
    n = 3000
    hosts = [f"10.9.0.{i}" for i in range(12)]
    return [
        (
            T0 + 7200 + float(rng.uniform(0, 3 * 86400)),
            str(rng.choice(hosts[:6])),
            str(rng.choice(hosts[4:])),
            int(rng.choice([53, 80, 443])),
            float("nan") if rng.random() < 0.05 else float(rng.exponential(30)),
            float(rng.integers(0, 5000)),
            str(rng.choice(["SF", "S0", "S1", "REJ"])),
        )
        for _ in range(n)
    ]


def sql_of(
    tmp: Path, f: pd.DataFrame, st: RitaSettings, max_n: float, batches: list[int] | None = None
) -> tuple[aggregates.WindowPairs, pd.DataFrame, pd.DataFrame, np.ndarray]:
    """The window's span and pairs, and its beacon candidates' statistics and bars (rows in
    the order of the statistics) as `beacon_pairs` hands them to the scorer; `batches` gets
    each batch's size."""
    archive = archived(tmp, f)
    window = archive.windows()[0]

    def keep(stats: pd.DataFrame, bars: np.ndarray) -> pd.DataFrame:
        if batches is not None:
            batches.append(len(stats))
        assert bars.shape[0] == len(stats)
        cols = pd.DataFrame(bars, columns=[f"bar{i}" for i in range(bars.shape[1])])
        return pd.concat([stats, cols], axis=1)

    with archive.session({"conns": [window]}) as s:
        wp = aggregates.window_pairs(s, internal, bool(st.internal_pairs))
        pairs = s.table("rita_long", {"min_dur": -1.0}).to_pandas()
        got = aggregates.beacon_pairs(s, st, max_n, wp.bins(st), keep)
    bars = got[[c for c in got.columns if c.startswith("bar")]].to_numpy()
    return wp, pairs, got[list(model.STAT_COLUMNS)], bars


def oracle_bars(want_bins: pd.DataFrame, stats: pd.DataFrame, n_bins: int) -> np.ndarray:
    """The oracle's long (s, d, bin, n) frame as bars in the order of `stats`."""
    row = {(s, d): i for i, (s, d) in enumerate(zip(stats["s"], stats["d"], strict=True))}
    rows = [row.get((s, d), -1) for s, d in zip(want_bins["s"], want_bins["d"], strict=True)]
    return model.bars_of(rows, want_bins["bin"], want_bins["n"], len(stats), n_bins)


@pytest.mark.parametrize(
    "rows", [hand_rows(), random_rows(1), random_rows(2)], ids=["hand", "random1", "random2"]
)
def test_the_sql_matches_the_pandas_oracle(
    tmp_path: Path, rows: list[tuple[float, str, str, int, float, float, str]]
) -> None:
    check_against_oracle(
        tmp_path, frame(rows), RitaSettings(internal_pairs=("beacon", "strobe", "long_connection"))
    )


def test_long_connections_are_looked_for_in_pairs_with_an_external_end(tmp_path: Path) -> None:
    """As RITA: a pair of two internal hosts is left to graphnet's other detectors (by
    default for long connections only; `internal_pairs` names the steps that keep them)."""
    assert "long_connection" not in RitaSettings().internal_pairs
    f = frame(hand_rows())
    _, pairs, _, _ = sql_of(tmp_path / "a", f, RitaSettings(internal_pairs=()), 300.0)
    assert not (inside(pairs["s"]) & inside(pairs["d"])).any()
    assert ("10.0.0.5", "203.0.113.9") in set(zip(pairs["s"], pairs["d"], strict=True))
    crossing = f[~(inside(f["src"]) & inside(f["dst"]))].reset_index(drop=True)
    check_against_oracle(tmp_path / "b", f, RitaSettings(internal_pairs=()), oracle_frame=crossing)


def check_against_oracle(
    tmp_path: Path, f: pd.DataFrame, st: RitaSettings, oracle_frame: pd.DataFrame | None = None
) -> None:
    wp, pairs, stats, bars = sql_of(tmp_path, f, st, 300.0)
    f = f if oracle_frame is None else oracle_frame
    span, want = oracle_pairs(f)
    for k, v in span.items():
        got = getattr(wp, k)
        assert (got is None) == (v is None), k
        if v is not None:
            assert got == pytest.approx(v, rel=1e-9, abs=1e-9), k
    got_pairs = pairs.sort_values(["s", "d"]).reset_index(drop=True)
    want = want.sort_values(["s", "d"]).reset_index(drop=True)
    assert len(got_pairs) == len(want)
    for c in ("n", "first_ts", "last_ts", "bytes", "open_n", "dur", "longest"):
        np.testing.assert_allclose(
            got_pairs[c].to_numpy(dtype="float64"),
            want[c].to_numpy(dtype="float64"),
            rtol=1e-9,
            err_msg=c,
        )
    want_stats, want_bins = oracle_beacons(f, st, 300.0)
    assert len(stats) == len(want_stats) > 0
    assert stats.equals(stats.sort_values(["s", "d"]).reset_index(drop=True))
    want_stats = want_stats.sort_values(["s", "d"]).reset_index(drop=True)
    for c in model.STAT_COLUMNS:
        if c in ("s", "d"):
            assert stats[c].tolist() == want_stats[c].tolist()
        else:
            np.testing.assert_allclose(
                stats[c].to_numpy(dtype="float64"),
                want_stats[c].to_numpy(dtype="float64"),
                rtol=1e-9,
                err_msg=c,
            )
    n_bins = wp.bins(st)
    assert n_bins == max(24, int(np.ceil((wp.hi - wp.lo) / 3600)))
    assert bars.shape == (len(stats), n_bins)
    np.testing.assert_array_equal(bars, oracle_bars(want_bins, stats, n_bins))


def test_pairs_at_the_strobe_threshold_are_left_out(tmp_path: Path) -> None:
    f = frame(hand_rows())
    _, _, stats, _ = sql_of(
        tmp_path, f, RitaSettings(internal_pairs=("beacon", "strobe", "long_connection")), 300.0
    )
    assert ("10.0.0.4", "10.0.9.2") not in set(
        zip(stats["s"], stats["d"], strict=True)
    )  # 400 conns
    assert ("10.0.0.5", "203.0.113.9") in set(zip(stats["s"], stats["d"], strict=True))


# ----------------------------------------------------------------- seeded planted traffic
def external(rng: np.random.Generator) -> str:
    a, b, c, d = (int(rng.integers(lo, hi)) for lo, hi in ((11, 223), (0, 256), (0, 256), (1, 255)))
    return f"{a}.{b}.{c}.{d}"


def planted(
    seed: int, jitter: float, missing: float
) -> tuple[pd.DataFrame, tuple[str, str], tuple[str, str], tuple[str, str]]:
    """A generated week (no attacks) with, from random clients to random external hosts: a
    beacon (a random interval, `jitter` x the interval of uniform jitter, a `missing` share of
    hours without it, sizes within a few bytes), a long connection (a few sessions of hours,
    the last still open without a duration) and a strobe (a connection every ~1 s for half a
    day)."""
    bg, _ = synthetic_connections(seed=seed, weeks=1, clients=12, attacks=False)
    rng = np.random.default_rng(seed + 1000)
    clients = sorted({str(s) for s in bg["src"] if str(s).startswith("10.1.")})
    c_b, c_l, c_s = (str(c) for c in rng.choice(clients, 3, replace=False))
    e_b, e_l, e_s = external(rng), external(rng), external(rng)
    lo = float(bg["ts"].min())
    hi = float(bg["ts"].max())
    rows: list[tuple[float, str, str, int, float, float, str]] = []
    period = float(rng.uniform(120, 900))
    t = lo + float(rng.uniform(0, period)) + np.arange(int((hi - lo) // period)) * period
    t = t + rng.uniform(-jitter, jitter, len(t)) * period
    hours = np.floor(t / 3600)
    gone = rng.choice(np.unique(hours), int(missing * len(np.unique(hours))), replace=False)
    t = t[~np.isin(hours, gone) & (t < hi)]
    port_b = int(rng.choice([443, 80, 8080, 8443, 53]))
    size = float(rng.uniform(300, 3000))
    rows += [(float(x), c_b, e_b, port_b, 0.3, size + float(rng.integers(-3, 4)), "SF") for x in t]
    start = lo + float(rng.uniform(0, 86400))
    for k in range(3):
        rows.append(
            (
                start + k * 8 * 3600,
                c_l,
                e_l,
                int(rng.choice([22, 443, 3389])),
                float(rng.uniform(4, 7)) * 3600,
                2e6,
                "SF",
            )
        )
    rows.append((hi - float(rng.uniform(2, 5)) * 3600, c_l, e_l, 443, float("nan"), 1e5, "S1"))
    s0 = lo + float(rng.uniform(0, 3 * 86400))
    n_s = int(rng.integers(30000, 45000))
    ts_s = s0 + np.cumsum(rng.uniform(0.5, 1.5, n_s))
    port_s = int(rng.integers(1024, 65000))
    rows += [(float(x), c_s, e_s, port_s, 0.01, 120.0, "S0") for x in ts_s if x < hi]
    extra = frame(rows, uid="P")
    both = pd.concat([bg[list(BASE_COLUMNS)], extra], ignore_index=True)
    both["line"] = np.arange(1, len(both) + 1)
    return both, (c_b, e_b), (c_l, e_l), (c_s, e_s)


def run_all(tmp: Path, f: pd.DataFrame) -> dict[str, object]:
    archive = archived(tmp, f)
    window = archive.windows()[0]
    ctx = Context.of(Settings(home=tmp), window, save=False)
    return {
        "beacon": beacon.run(ctx),
        "long_connection": longconn.run(ctx),
        "strobe": strobe.run(ctx),
    }


def top_pairs(run: object, k: int = 3) -> list[tuple[str, str]]:
    ps = run.pair_scores  # type: ignore[attr-defined]
    assert ps is not None
    return [tuple(map(str, p)) for p in ps.sort_values(ascending=False, kind="stable").index[:k]]  # type: ignore[misc]


@pytest.mark.parametrize(
    ("seed", "jitter", "missing"),
    [(1, 0.0, 0.0), (2, 0.1, 0.0), (3, 0.3, 0.0), (4, 0.1, 0.3), (5, 0.3, 0.3), (6, 0.0, 0.5)],
)
def test_planted_beacon_long_connection_and_strobe_are_found(
    tmp_path: Path, seed: int, jitter: float, missing: float
) -> None:
    f, pb, pl, ps = planted(seed, jitter, missing)
    runs = run_all(tmp_path, f)
    b, lc, sb = runs["beacon"], runs["long_connection"], runs["strobe"]
    assert pb in top_pairs(b), (top_pairs(b, 6), pb)
    assert top_pairs(lc, 1) == [pl]
    assert top_pairs(sb, 1) == [ps]
    # the strobe is never scored as a beacon
    assert ps not in set(b.pair_scores.index)  # type: ignore[attr-defined]
    bf = next(x for x in b.findings if tuple(x.hosts) == pb)  # type: ignore[attr-defined]
    assert bf.kind == "beacon" and bf.detector == "beacon"
    assert bf.explanation.startswith(f"{pb[0]} -> {pb[1]} beacons: every ")
    assert set(bf.parts) == set(model.BEACON_PARTS)
    assert bf.evidence["judged_against"].startswith("this window's pairs")
    assert bf.evidence["uids"] and "'beacon'" in bf.cypher and repr(pb[1]) in bf.cypher
    lf = lc.findings[0]  # type: ignore[attr-defined]
    assert lf.kind == "long_connection" and tuple(lf.hosts) == pl and lf.evidence["open"] == 1
    assert "still open" in lf.explanation and lf.evidence["threshold_seconds"] >= 600
    sf = sb.findings[0]  # type: ignore[attr-defined]
    assert sf.kind == "strobe" and tuple(sf.hosts) == ps and sf.score >= 1.0
    # the hosts of each planted pair lead their detector's host scores
    for run, pair in ((lc, pl), (sb, ps)):
        hs = run.host_scores  # type: ignore[attr-defined]
        assert set(pair) <= set(hs.index[:2]), hs.head()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_generators_working_hours_beacon_ranks_high(tmp_path: Path, seed: int) -> None:
    """The generator's own `beaconing` scenario: a client beacons only during working hours on
    three days of a two-week capture (the second week scored); hourly bins keep its histogram
    and duration sub-scores (24 bins over a week would not)."""
    f, truth = synthetic_connections(seed=seed, weeks=2, clients=24, small=("beaconing",))
    (sc,) = [s for s in truth["scenarios"] if s["type"] == "beaconing"]
    pair = (sc["hosts"]["attacker"], sc["hosts"]["victims"][0])
    archive = archived(tmp_path, f)
    ctx = Context.of(Settings(home=tmp_path), archive.windows()[-1], save=False)
    run = beacon.run(ctx)
    assert pair in top_pairs(run, 10)
    assert run.info["bins"] == 168


def test_registry_lists_the_three_steps() -> None:
    names = [s.name for s in default_steps()]
    assert {"beacon", "long_connection", "strobe"} <= set(names)
    of = detector_of_kind()
    assert of["beacon"] == "beacon" and of["long_connection"] == "long_connection"
    assert of["strobe"] == "strobe"


def beacon_rows(
    rng: np.random.Generator, src: str, dst: str, lo: float, hi: float
) -> list[tuple[float, str, str, int, float, float, str]]:
    """A clockwork beacon from `src` to `dst` over [lo, hi): a random interval, 2 % jitter,
    sizes within a few bytes."""
    period = float(rng.uniform(200, 600))
    t = lo + np.arange(int((hi - lo) // period)) * period
    t = t + rng.uniform(-0.02, 0.02, len(t)) * period
    size = float(rng.uniform(300, 3000))
    return [(float(x), src, dst, 443, 0.3, size + float(rng.integers(-3, 4)), "SF") for x in t]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_with_earlier_windows_pairs_rank_their_hosts_by_their_rise(
    tmp_path: Path, seed: int
) -> None:
    """Two weeks: one client beacons in both, another starts beaconing in the second. In the
    second week both are beacon findings; the one that beaconed as much in the first week says
    where and does not count in the ranking, the new one leads the host scores. Each window's
    scored pairs are stored and read back on the next run."""
    bg, _ = synthetic_connections(seed=seed, weeks=2, clients=12, attacks=False)
    rng = np.random.default_rng(seed + 2000)
    clients = sorted({str(s) for s in bg["src"] if str(s).startswith("10.1.")})
    c_old, c_new = (str(c) for c in rng.choice(clients, 2, replace=False))
    e_old, e_new = external(rng), external(rng)
    lo, hi = float(bg["ts"].min()), float(bg["ts"].max())
    week2 = float(windows.bounds(windows.window_ids(np.array([hi])).iloc[0])[0].timestamp())
    rows = beacon_rows(rng, c_old, e_old, lo, hi) + beacon_rows(rng, c_new, e_new, week2, hi)
    e_long = external(rng)
    rows += [(week2 + 86400.0 * k, c_new, e_long, 22, 6 * 3600.0, 1e6, "SF") for k in range(3)]
    both = pd.concat([bg[list(BASE_COLUMNS)], frame(rows, uid="H")], ignore_index=True)
    both["line"] = np.arange(1, len(both) + 1)
    archive = archived(tmp_path, both)
    first, second = archive.windows()
    ctx = Context.of(Settings(home=tmp_path), second)

    run = beacon.run(ctx)

    assert run.info["earlier_windows"] == [first]
    by_pair = {tuple(f.hosts): f for f in run.findings}
    old, new = by_pair[(c_old, e_old)], by_pair[(c_new, e_new)]
    assert old.evidence["ranked"] is False and old.evidence["earlier"]["at"] == first
    assert old.evidence["earlier"]["best_score"] > 0.75 * old.score
    assert f"(as in {first}, " in old.explanation
    assert old.explanation.endswith(" there: not counted in the ranking)")
    assert "ranked" not in new.evidence
    assert new.evidence["earlier"] == {"windows": 1, "best_score": 0.0, "at": None}
    assert new.explanation.endswith("(new: not scored in the 1 earlier window)")
    hs = run.host_scores
    assert hs is not None and set(hs.index[:2]) == {c_new, e_new}, hs.head()
    assert e_old not in set(hs.index)  # the old beacon's server talks to no one else
    assert run.info["judged_against"].startswith("this window's pairs, ranked by their rise")
    # the pair scores are the window's own: both beacons are there
    assert run.pair_scores is not None
    assert {(c_old, e_old), (c_new, e_new)} <= set(run.pair_scores.index)
    # each window's scored pairs were stored, and are read back while the window is the same
    stored = archive.read_result(first, "rita_beacon_pairs")
    assert stored is not None
    assert (c_old, e_old) in set(zip(stored.frame["s"], stored.frame["d"], strict=True))
    # long connections rank only in a window without earlier windows: here the planted one is
    # a finding, outside the ranking
    lc = longconn.run(ctx)
    assert lc.host_scores is None and lc.pair_scores is not None
    assert (c_new, e_long) in {tuple(f.hosts) for f in lc.findings}
    assert all(f.evidence["ranked"] is False for f in lc.findings)
    alone = longconn.run(Context.of(Settings(home=tmp_path), first))
    assert alone.host_scores is not None and not alone.info["earlier_windows"]
    written = archive.result_path(first, "rita_beacon_pairs").stat().st_mtime_ns
    again = beacon.run(ctx)
    assert [f.explanation for f in again.findings] == [f.explanation for f in run.findings]
    assert archive.result_path(first, "rita_beacon_pairs").stat().st_mtime_ns == written


def test_unranked_findings_do_not_count_in_the_risk_from_findings() -> None:
    from graphnet.findings import Finding
    from graphnet.risk import host_scores_from_findings

    def beacon_finding(src: str, dst: str, score: float, ranked: bool) -> Finding:
        ev: dict[str, object] = {} if ranked else {"ranked": False}
        return Finding("beacon", "2024-W11", score, [src, dst], f"{src} -> {dst}", evidence=ev)

    scores, _ = host_scores_from_findings(
        [
            beacon_finding("10.0.0.1", "8.8.8.8", 0.9, False),
            beacon_finding("10.0.0.2", "1.1.1.1", 0.8, True),
        ]
    )
    assert set(scores["beacon"].index) == {"10.0.0.2", "1.1.1.1"}


def test_a_pair_ranks_by_its_rise_only_when_new_or_much_stronger(tmp_path: Path) -> None:
    """`against_history` with a scorer of known pair scores per window: a pair ranks its hosts
    by its rise when its best earlier score was at most `known_share` of its score now and the
    rise is at least the floor; else its finding says where it scored as much, out of the
    ranking."""
    from graphnet.detectors.rita import common
    from graphnet.findings import Finding

    rows = [(T0 + day * 86400.0, "10.0.0.1", "8.8.8.8", 443, 1.0, 100.0, "SF") for day in (0, 7)]
    archive = archived(tmp_path, frame(rows))
    first, second = archive.windows()
    scores = {
        first: {("a", "x"): 0.9, ("b", "y"): 0.3, ("c", "z"): 0.5},
        second: {("a", "x"): 0.95, ("b", "y"): 0.55, ("c", "z"): 1.1, ("d", "w"): 0.6},
    }

    def scorer(ctx: Context) -> common.Scored:
        got = scores[ctx.window]
        pairs = pd.DataFrame(
            {
                "s": [p[0] for p in got],
                "d": [p[1] for p in got],
                "score": list(got.values()),
                "explanation": ["regular"] * len(got),
            }
        )
        found = [
            Finding("beacon", ctx.window, v, [s, d], f"{s} -> {d}") for (s, d), v in got.items()
        ]
        return common.pair_run("beacon", ctx.window, "", pairs, found, 0, {}, 0.0)

    run = common.against_history(Context.of(Settings(home=tmp_path), second), "beacon", scorer, 0.5)

    hs = run.host_scores
    assert hs is not None
    # c: 0.5 -> 1.1 (rise 0.6), d: new (0.6); b: 0.3 -> 0.55 rises only 0.25; a: as before
    assert dict(zip(hs.index, hs["max"].round(3), strict=True)) == {
        "c": 0.6,
        "z": 0.6,
        "d": 0.6,
        "w": 0.6,
    }
    by = {f.hosts[0]: f for f in run.findings}
    assert by["a"].evidence["ranked"] is False and by["b"].evidence["ranked"] is False
    assert by["a"].explanation.endswith(f"(as in {first}, 0.90 there: not counted in the ranking)")
    assert by["b"].explanation.endswith(
        f"(up only from 0.30 in {first}: not counted in the ranking)"
    )
    assert by["c"].explanation.endswith(f"(up from 0.50 in {first})")
    assert by["d"].explanation.endswith("(new: not scored in the 1 earlier window)")
    assert run.info["changed_pairs"] == 2 and run.info["known_pairs"] == 2


@pytest.mark.parametrize("seed", [1, 2])
def test_beacon_statistics_in_batches_equal_one_batch(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The candidates cut in batches of a few hundred connections (as a large window is, to
    bound the engine's memory) are scored a batch at a time, and together give the same
    statistics and bins, in the same order, as in one batch."""
    st = RitaSettings(internal_pairs=("beacon", "strobe", "long_connection"))
    f = frame(random_rows(seed))
    one: list[int] = []
    _, _, whole, whole_bars = sql_of(tmp_path / "a", f, st, 1e9, one)
    monkeypatch.setattr(aggregates, "BEACON_BATCH_CONNECTIONS", 300)
    many: list[int] = []
    _, _, cut, cut_bars = sql_of(tmp_path / "b", f, st, 1e9, many)
    assert len(whole) > 3 and one == [len(whole)]
    assert len(many) > 3 and sum(many) == len(whole) and max(many) < len(whole)
    pd.testing.assert_frame_equal(whole, cut)
    np.testing.assert_array_equal(whole_bars, cut_bars)
