"""The pure maths of the RITA-class steps (`graphnet.detectors.rita.model`): Bowley skew, MAD
score, histogram and duration scores, the weighted beacon score, learned thresholds and the
sentences; no database."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphnet.detectors.rita import model
from graphnet.detectors.rita.model import RitaSettings


def test_bowley_skew_follows_ritas_rule() -> None:
    # symmetric quartiles: 0; right-skewed: positive; too narrow or median on a quartile: 0
    skew = model.bowley_skew(
        np.array([100.0, 100.0, 100.0, 100.0, 100.0]),
        np.array([150.0, 120.0, 101.0, 100.0, 150.0]),
        np.array([200.0, 200.0, 105.0, 200.0, 200.0]),
    )
    assert skew[0] == 0.0
    assert skew[1] == pytest.approx((100 + 200 - 240) / 100)
    assert skew[2] == 0.0  # spread 5 < 10
    assert skew[3] == 0.0  # median equals Q1
    assert model.skew_score(np.array([0.6, -0.6, 0.0])).tolist() == pytest.approx([0.4, 0.4, 1.0])


def test_mad_score() -> None:
    got = model.mad_score(
        np.array([300.0, 300.0, 0.5, 100.0]), np.array([3.0, 600.0, 0.1, 0.0]), 1.0
    )
    assert got.tolist() == pytest.approx([0.99, 0.0, 1.0, 1.0])
    assert model.mad_score(np.array([0.0]), np.array([0.0]), 0.0).tolist() == [0.0]


def test_histogram_and_duration_scores() -> None:
    st_ = RitaSettings()
    flat = np.full((1, 24), 12.0)
    assert model.cv_score(flat)[0] == pytest.approx(1.0)
    assert model.histogram_score(flat, st_)[0] == pytest.approx(1.0)
    # two rates (busy and quiet bins): a poor CV, a perfect bimodal fit
    two = np.tile([30.0, 5.0], 12)[None, :]
    assert model.cv_score(two)[0] < 0.4
    assert model.bimodal_score(two)[0] == pytest.approx(1.0)
    one = np.zeros((1, 24))
    one[0, 3] = 50
    assert model.histogram_score(one, st_)[0] == 0.0
    # the longest run wraps around the end
    wrap = np.zeros((1, 24))
    wrap[0, :3] = 1
    wrap[0, 20:] = 1
    assert model.run_length(wrap)[0] == 7
    assert model.run_length(flat)[0] == 24
    # duration: coverage of the span or consistency, with at least min_bins bins
    dur = model.duration_score(
        np.array([0.0, 0.0, 0.0]), np.array([100.0, 50.0, 100.0]), 0.0, 100.0,
        np.vstack([flat, np.where(np.arange(24) < 12, 1.0, 0.0)[None, :], one]), st_,
    )  # fmt: skip
    assert dur.tolist() == pytest.approx([1.0, 1.0, 0.0])


@settings(max_examples=60, deadline=None)
@given(
    period=st.floats(30.0, 4000.0),
    jitter=st.floats(0.0, 0.3),
    seed=st.integers(0, 2**16),
)
def test_a_jittered_period_keeps_a_high_timestamp_score(
    period: float, jitter: float, seed: int
) -> None:
    """Intervals of a period with uniform jitter (up to 30 % of it) stay symmetric with a MAD
    well under the median: the timestamp score stays high, and random (Poisson) arrivals of
    the same rate score lower."""
    rng = np.random.default_rng(seed)
    t = np.arange(400) * period + rng.uniform(-jitter, jitter, 400) * period
    gaps = np.diff(np.unique(np.floor(np.sort(t))))
    gaps = gaps[gaps > 0]
    q1, q2, q3 = np.quantile(gaps, [0.25, 0.5, 0.75])
    mad = np.median(np.abs(gaps - q2))
    ts = model.statistical_score(
        np.array([q1]), np.array([q2]), np.array([q3]), np.array([mad]), 1.0
    )
    assert ts[0] >= 0.75
    poisson = np.cumsum(rng.exponential(period, 400))
    pg = np.diff(np.unique(np.floor(poisson)))
    p1, p2, p3 = np.quantile(pg, [0.25, 0.5, 0.75])
    pm = np.median(np.abs(pg - p2))
    ps = model.statistical_score(
        np.array([p1]), np.array([p2]), np.array([p3]), np.array([pm]), 1.0
    )
    assert ps[0] < ts[0]


@settings(max_examples=40, deadline=None)
@given(bars=st.lists(st.integers(0, 500), min_size=24, max_size=24))
def test_sub_scores_stay_within_zero_and_one(bars: list[int]) -> None:
    b = np.array([bars], dtype="float64")
    st_ = RitaSettings()
    for v in (model.cv_score(b), model.bimodal_score(b), model.histogram_score(b, st_)):
        assert 0.0 <= v[0] <= 1.0
    assert 0 <= model.run_length(b)[0] <= 24


def stats_row(**kw: float) -> dict[str, object]:
    base: dict[str, object] = {
        "s": "a", "d": "b", "n": 500, "stamps": 500, "first_ts": 0.0, "last_ts": 86400.0,
        "hours": 24, "gap_q1": 255.0, "gap_q2": 260.0, "gap_q3": 265.0, "gap_mad": 4.0,
        "size_q1": 1200.0, "size_q2": 1200.0, "size_q3": 1200.0, "size_mad": 0.0,
    }  # fmt: skip
    base.update(kw)
    return base


def test_score_beacons_names_its_parts_and_the_interval() -> None:
    stats = pd.DataFrame([stats_row(), stats_row(s="c", gap_q1=10.0, gap_q2=60.0, gap_q3=400.0,
                                                 gap_mad=55.0, size_q1=100.0, size_q2=900.0,
                                                 size_q3=5000.0, size_mad=800.0)])  # fmt: skip
    bars = np.vstack([np.full(24, 20.0), np.r_[np.full(4, 100.0), np.zeros(20)]])
    got = model.score_beacons(stats, bars, (0.0, 86400.0), 24, RitaSettings())
    assert list(got.index) == [0, 1]
    assert {f"part_{p}" for p in model.BEACON_PARTS} <= set(got.columns)
    assert got.loc[0, "score"] > 0.95 and got.loc[1, "score"] < 0.5
    weights = RitaSettings().weights
    total = sum(weights[p] * got.loc[0, f"part_{p}"] for p in model.BEACON_PARTS)
    assert got.loc[0, "score"] == pytest.approx(total, abs=1e-3)
    text = got.loc[0, "explanation"]
    assert text.startswith("every 260 s ± 4 s, 500 times, in 100 % of")
    assert "same 1.2 kB each time" in text and "timestamp 0.99" in text


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        RitaSettings(weights={"timestamp": 1.0, "size": 1.0, "histogram": 0.0, "duration": 0.0})
    with pytest.raises(ValueError, match="at least 4"):
        RitaSettings(min_connections=3)


def test_learned_threshold_has_a_floor() -> None:
    assert model.learned_threshold(None, None, 5.0, 1000) == 1000
    assert model.learned_threshold(math.log(10), 0.0, 5.0, 1000) == 1000
    got = model.learned_threshold(math.log(100), 1.0, 5.0, 10)
    assert got == pytest.approx(100 * math.exp(5 * model.MAD_SIGMA))


def test_bins_are_hours_and_at_least_24() -> None:
    st_ = RitaSettings()
    assert model.bin_count(0.0, 3600.0, st_) == 24  # a one-hour capture: RITA's 24 bins
    assert model.bin_count(0.0, 7 * 86400.0, st_) == 168  # a week: one bin an hour
    assert model.bin_count(0.0, 7 * 86400.0 + 1, st_) == 169
    assert model.bin_count(0.0, 365 * 86400.0, st_) == 24 * 31


def test_bars_of_places_counts() -> None:
    got = model.bars_of([1, 0, -1, 1], [2, 0, 1, 9], [5, 7, 9, 1], 2, 4)
    assert got.tolist() == [[7, 0, 0, 0], [0, 0, 5, 1]]
    assert model.bars_of([-1], [0], [3], 1, 2).tolist() == [[0, 0]]


def test_formats() -> None:
    assert model.fmt_seconds(45) == "45 s"
    assert model.fmt_seconds(600) == "10.0 min"
    assert model.fmt_seconds(7.5 * 3600) == "7.5 h"
    assert model.fmt_bytes(1234) == "1.2 kB" and model.fmt_bytes(12) == "12 B"


def test_prevalence_modifier_follows_ritas_rule() -> None:
    st = RitaSettings()
    share, mod = model.prevalence_modifier([1, 5, 30, 1], [100, 100, 100, 10], st)
    assert share.tolist() == pytest.approx([0.01, 0.05, 0.3, 0.1])
    # rare destination: up; neither: 0; common destination: down; too few sources: 0
    assert mod.tolist() == [0.15, 0.0, -0.15, 0.0]


def test_a_rare_destination_outranks_a_gateway_every_client_polls() -> None:
    rare = stats_row(d="x", dst_sources=1, window_sources=120)
    common = stats_row(d="gw", gap_mad=1.0, dst_sources=60, window_sources=120)
    stats = pd.DataFrame([rare, common])
    bars = np.vstack([np.full(24, 20.0), np.full(24, 20.0)])
    got = model.score_beacons(stats, bars, (0.0, 86400.0), 24, RitaSettings())
    assert got.loc[1, "beacon"] >= got.loc[0, "beacon"]
    assert got.loc[0, "score"] > got.loc[1, "score"]
    assert got.loc[0, "score"] == pytest.approx(got.loc[0, "beacon"] + 0.15, abs=1e-3)
    assert "few sources connect to the destination (0.8 %, +0.15)" in got.loc[0, "explanation"]
    assert "many sources connect to the destination (50.0 %, -0.15)" in got.loc[1, "explanation"]
