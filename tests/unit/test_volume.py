"""Per-host time baselines: densities, regression, out-of-band buckets and findings."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from graphnet import windows
from graphnet.detectors.contract import Model
from graphnet.detectors.volume import (
    NG,
    VolumeBaselines,
    VolumeSettings,
    _kde_cdf,
    _kde_logtails,
    _kde_loo_loglik,
    cells,
    findings_from_cells,
    group_of,
    host_scores,
    runs,
    series,
)
from graphnet.detectors.volume import model as volume_model
from graphnet.detectors.volume.density import _kde_support
from graphnet.generate.frames import synthetic_connections

MON = 1709510400.0  # 2024-03-04 00:00 UTC, a Monday
BS = 300


def flows(host: str, peer: str, counts: np.ndarray, start: float, dport: int = 80) -> pd.DataFrame:
    """`counts[i]` connections host -> peer in the i-th 5-minute bucket from `start`."""
    counts = np.asarray(counts, dtype=np.int64)
    b = np.repeat(np.arange(len(counts)), counts)
    n = len(b)
    return pd.DataFrame(
        {
            "ts": start + b * BS + (np.arange(n) % 290) + 1.0,
            "uid": [f"C{host}{peer}{int(start)}{i}" for i in range(n)],
            "src": host,
            "dst": peer,
            "sport": 50000,
            "dport": dport,
            "proto": "tcp",
            "service": "http",
            "conn_state": "SF",
            "src_bytes": 100.0,
            "dst_bytes": 900.0,
            "src_pkts": 3.0,
            "dst_pkts": 3.0,
        }
    )


def test_groups_are_hour_and_weekend() -> None:
    b = np.array([MON, MON + 13 * 3600, MON + 5 * 86400 + 23 * 3600]) // BS
    assert group_of(b.astype(np.int64), BS).tolist() == [0, 26, 47]


# --------------------------------------------------------------------------------------------
# densities
# --------------------------------------------------------------------------------------------
def test_kde_leave_one_out_and_tails_match_brute_force() -> None:
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.poisson(3, 80), rng.poisson(20, 40)]).astype(float)
    val, mult = np.unique(x, return_counts=True)
    sup = pd.DataFrame({"key": 7, "value": val, "mult": mult})
    h = 1.3
    got = _kde_loo_loglik(sup, pd.Series({7: h}), chunk=5).loc[7, 1.0]
    want = 0.0
    for i in range(len(x)):
        others = np.delete(x, i)
        want += np.log(stats.norm.pdf(x[i], loc=others, scale=h).mean())
    assert got == pytest.approx(want, rel=1e-9)
    q = np.array([0.0, 5.0, 30.0, 60.0])
    keys = np.full(4, 7)
    cdf = _kde_cdf(sup, keys, q, pd.Series({7: h}))
    want_cdf = np.array([stats.norm.cdf(v, loc=x, scale=h).mean() for v in q])
    assert np.allclose(cdf, want_cdf)
    lo, hi = _kde_logtails(sup, keys, q, pd.Series({7: h}))
    assert np.allclose(np.exp(lo), want_cdf) and np.allclose(np.exp(hi), 1 - want_cdf, atol=1e-12)
    assert np.isfinite(hi[-1]) and hi[-1] < -50  # far tails do not underflow to -inf


@pytest.mark.parametrize("seed", [0, 1])
def test_kde_sums_are_the_same_whatever_the_chunk(seed: int) -> None:
    """The leave-one-out likelihoods and CDFs made a few pairs at a time are those made at
    once, to the last bit (a row's pairs are summed in one chunk, in the same order)."""
    rng = np.random.default_rng(seed)
    parts = []
    for key in range(40):
        val, mult = np.unique(rng.poisson(rng.uniform(1, 30), rng.integers(3, 60)), True)
        parts.append(pd.DataFrame({"key": key, "value": val.astype(float), "mult": mult}))
    sup = pd.concat(parts, ignore_index=True)
    h = pd.Series(rng.uniform(0.5, 3.0, 40), index=range(40))
    whole = _kde_loo_loglik(sup, h, (1.0, 0.5), chunk=10**9)
    keys = rng.integers(0, 40, 300)
    q = rng.uniform(0, 40, 300)
    cdf = _kde_cdf(sup, keys, q, h, chunk=10**9)
    for chunk in (1, 17, 400):
        got = _kde_loo_loglik(sup, h, (1.0, 0.5), chunk=chunk)
        pd.testing.assert_frame_equal(got, whole, check_exact=True)
        assert np.array_equal(_kde_cdf(sup, keys, q, h, chunk=chunk), cdf)


def one_host_history(counts: np.ndarray) -> pd.DataFrame:
    return flows("10.0.0.1", "10.0.0.2", counts, MON)


@pytest.mark.parametrize(
    ("name", "draw", "family"),
    [
        ("normal", lambda r, n: np.maximum(np.round(r.normal(60, 6, n)), 0), "normal"),
        ("exponential", lambda r, n: np.round(r.exponential(4.0, n)), "exponential"),
        (
            "bimodal",
            lambda r, n: np.where(r.random(n) < 0.5, r.poisson(2, n), r.poisson(40, n)),
            "kde",
        ),
    ],
)
def test_density_family_is_chosen_by_fit(name: str, draw: object, family: str) -> None:
    rng = np.random.default_rng(1)
    counts = draw(rng, 2016)  # type: ignore[operator]
    det = VolumeBaselines(VolumeSettings(edges=False)).fit(
        one_host_history(counts), start=MON, end=MON + 7 * 86400
    )
    code = det.entities.get_indexer(["10.0.0.1"])[0]
    fam = det.group_families(code)
    assert (fam == ["normal", "exponential", "kde"].index(family)).mean() > 0.7, fam


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 4), st.integers(0, NG - 1), st.integers(1, 4)), max_size=60),
    st.integers(5, 30),
)
def test_kde_support_counts_each_keys_values_with_its_zeros(
    rows: list[tuple[int, int, int]], per_group: int
) -> None:
    """The support against a pandas oracle: per (entity, group) and (entity, pooled) key, each
    distinct flow count with how many buckets had it, the buckets without flows as zeros."""
    hc = pd.DataFrame(rows, columns=["entity", "group", "flows"]).drop_duplicates(
        ["entity", "group"]
    )
    hc = hc.assign(flows=hc["flows"].astype("float64"))
    n_g = np.full(NG, float(per_group))
    got = _kde_support(hc, 5, n_g, per_group * NG)
    ends = pd.concat(
        [
            pd.DataFrame({"key": hc["entity"] * (NG + 1) + hc["group"], "value": hc["flows"]}),
            pd.DataFrame({"key": hc["entity"] * (NG + 1) + NG, "value": hc["flows"]}),
        ]
    )
    want = ends.value_counts().rename("mult").reset_index()
    seen = want.groupby("key")["mult"].sum()
    size = np.where(seen.index % (NG + 1) == NG, per_group * NG, per_group)
    zeros = pd.DataFrame({"key": seen.index, "value": 0.0, "mult": size - seen.to_numpy()})
    want = pd.concat([want, zeros[zeros["mult"] > 0]]).sort_values(["key", "value"])
    pd.testing.assert_frame_equal(
        got,
        want.reset_index(drop=True).astype({"key": "int64", "mult": "float64"}),
        check_dtype=False,
    )


def test_key_statistics_grow_with_cells_not_entities() -> None:
    """Thousands of peers seen once: the per-key statistics hold the keys the history's
    cells touch (plus one shared entry per hour group), and a key without cells scores as
    its group's shared entry says (expected 0)."""
    rng = np.random.default_rng(3)
    busy = flows("10.0.0.1", "10.0.0.2", rng.poisson(5, 2016), MON)
    once = busy.iloc[:3000].assign(dst=[f"198.51.{i // 250}.{i % 250}" for i in range(3000)])
    det = VolumeBaselines(VolumeSettings(edges=False)).fit(
        pd.concat([busy, once], ignore_index=True), start=MON, end=MON + 7 * 86400
    )
    n_cells = len(det.hist_cells)
    assert len(det.entities) > 3000
    assert len(det.mu) <= 2 * n_cells + NG + 1 < len(det.entities) * (NG + 1) // 10
    assert sum(det.report.families.values()) == len(det.entities) * NG
    # a peer seen once, in a group where it has no cell: its group's entry, no flows expected
    code = int(det.entities.get_indexer(pd.Index(["198.51.0.0"]))[0])
    quiet = pd.DataFrame(
        {
            "entity": [code],
            "bucket": [det.b0 + 12 * 12],
            "flows": [0.0],
            "bytes": [0.0],
            "peers": [0.0],
        }
    )
    row = det._score_table(quiet).iloc[0]
    assert row["expected"] == 0.0 and row["known"] and not row["flagged"]


# --------------------------------------------------------------------------------------------
# a busy server going silent, a spike on a busy edge
# --------------------------------------------------------------------------------------------
def test_low_and_edge_anomalies() -> None:
    rng = np.random.default_rng(5)
    n_hist = 2 * 2016
    hist = pd.concat(
        [
            flows("10.0.0.9", "10.0.5.1", rng.poisson(30, n_hist), MON, dport=443),
            flows("10.0.0.8", "10.0.5.1", rng.poisson(2, n_hist), MON, dport=22),
        ],
        ignore_index=True,
    )
    start = MON + 14 * 86400
    cur_counts = rng.poisson(30, 2016)
    cur_counts[100:112] = 0  # an hour of silence
    spike = rng.poisson(2, 2016)
    spike[500] = 60
    cur = pd.concat(
        [
            flows("10.0.0.9", "10.0.5.1", cur_counts, start, dport=443),
            flows("10.0.0.8", "10.0.5.1", spike, start, dport=22),
        ],
        ignore_index=True,
    )
    det = VolumeBaselines(VolumeSettings(edge_min_flows=1000)).fit(hist, start=MON, end=start)
    assert det.edges is not None and "10.0.0.9->10.0.5.1" in set(det.edges)
    c = det.cells(cur)
    found = findings_from_cells(det, c, cur, "2024-W12")
    low = [f for f in found if f.evidence["direction"] == "low"]
    assert low and low[0].hosts[0] in ("10.0.0.9", "10.0.5.1")
    assert any(f.evidence["buckets"] >= 10 for f in low)  # one finding for the silent hour
    high = [f for f in found if f.evidence["direction"] == "high"]
    assert any(f.hosts == ["10.0.0.8", "10.0.5.1"] and f.evidence["entity"] == "edge" for f in high)
    assert any(f.hosts == ["10.0.0.8"] and f.evidence["peak"] == 60 for f in high)
    for f in found:
        lo, hi = f.evidence["band"]
        assert lo <= hi and f.explanation and f.kind == "volume_anomaly"


# --------------------------------------------------------------------------------------------
# the synthetic network
# --------------------------------------------------------------------------------------------
@cache
def fitted(seed: int, attacks: bool = True) -> tuple[VolumeBaselines, pd.DataFrame, dict, str]:
    frame, truth = synthetic_connections(seed, weeks=5, clients=30, attacks=attacks)
    win = windows.window_ids(frame["ts"].to_numpy()).to_numpy()
    ws = sorted(set(win))
    s0, _ = windows.bounds(ws[0])
    s1, _ = windows.bounds(ws[-1])
    det = VolumeBaselines().fit(frame[win != ws[-1]], start=s0.timestamp(), end=s1.timestamp())
    return det, frame[win == ws[-1]].reset_index(drop=True), truth, ws[-1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dos_buckets_are_flagged_and_aggregated(seed: int) -> None:
    det, cur, truth, last = fitted(seed)
    c = det.cells(cur)
    dos = next(s for s in truth["scenarios"] if s["type"] == "dos")
    attacker, victim = dos["hosts"]["attacker"], dos["hosts"]["victims"][0]
    b0, b1 = int(dos["start"] // BS), int(dos["end"] // BS)
    ents = np.asarray(det.entities, dtype=object)[c["entity"].to_numpy()]
    in_dos = (c["bucket"] >= b0) & (c["bucket"] <= b1)
    for host in (attacker, victim):
        rows = c[in_dos.to_numpy() & (ents == host)]
        assert len(rows) and rows["flagged"].all(), host
        assert (rows["flows"] > rows["band_hi"]).all()
    found = findings_from_cells(det, c, cur, last)
    about = [
        f
        for f in found
        if f.hosts == [attacker] and f.evidence["start"] <= dos["start"] < f.evidence["end"]
    ]
    assert len(about) == 1  # consecutive buckets: one finding
    f = about[0]
    assert f.evidence["flows"] >= 0.9 * len(dos["uids"]) and f.evidence["direction"] == "high"
    assert victim in f.explanation and "expected" in f.explanation
    # the detector contract: DoS connections score far above the others
    sc = Model.check_scores(det.score(cur), cur)
    is_dos = cur["uid"].isin(set(dos["uids"])).to_numpy()
    planted = set().union(*(set(s["uids"]) for s in truth["scenarios"]))
    normal = ~cur["uid"].isin(planted).to_numpy()
    s = sc["score"].to_numpy()
    assert s[is_dos].min() > np.quantile(s[normal], 0.99)
    assert host_scores(det, c).index[0] == attacker


@pytest.mark.parametrize("seed", [0, 1])
def test_host_scores_are_those_of_every_cell(seed: int) -> None:
    """The pandas oracle of `host_scores`: every cell's score given to its host (both hosts of
    an edge), the highest per host, raised by the sum of its `top` strongest runs."""
    det, cur, _, _ = fitted(seed)
    c = det.cells(cur)
    ents = pd.Series(np.asarray(det.entities, dtype=object)[c["entity"].to_numpy()])
    ends = ents.str.split("->", n=1, expand=True).reindex(columns=[0, 1])
    assert det.edges is not None
    edge = ents.isin(det.edges).to_numpy()
    assert edge.any() and (~edge).any()
    score = c["score"].to_numpy()
    hosts = np.concatenate([ents[~edge], ends[0][edge], ends[1][edge]])
    vals = np.concatenate([score[~edge], score[edge], score[edge]])
    best = pd.Series(vals, index=hosts).groupby(level=0).max()
    r = runs(c[c["flagged"]], det.settings.merge_gap)
    assert len(r)
    r_ents = pd.Series(np.asarray(det.entities, dtype=object)[r["entity"].to_numpy()])
    r_ends = r_ents.str.split("->", n=1, expand=True).reindex(columns=[0, 1])
    r_edge = r_ents.isin(det.edges).to_numpy()
    rs = pd.Series(
        np.concatenate([r["score"][~r_edge], r["score"][r_edge], r["score"][r_edge]]),
        index=np.concatenate([r_ents[~r_edge], r_ends[0][r_edge], r_ends[1][r_edge]]),
    )
    rs = rs.sort_values(ascending=False).groupby(level=0).head(3).groupby(level=0).sum()
    want = pd.concat([best, rs], axis=1).max(axis=1).sort_values(ascending=False)
    got = host_scores(det, c)
    pd.testing.assert_series_equal(got.sort_index(), want.sort_index(), check_names=False)
    assert got.is_monotonic_decreasing


@pytest.mark.parametrize("chunk_rows", [1, 700, 5000])
def test_scoring_a_few_entities_at_a_time_gives_the_same_cells(chunk_rows: int) -> None:
    """Kept columns, scored by whole entities in chunks: the same rows, index and figures as
    every column scored at once; `entity_rows` gives every column of some entities back."""
    det, cur, _, _ = fitted(1)
    oc, det.entities = cells(cur, det.entities, det.edges, BS)
    whole = det.score_buckets(oc)
    cols = ["entity", "bucket", "flows", "expected", "score", "flagged", "family"]
    part = det.score_buckets(oc, columns=cols, chunk_rows=chunk_rows)
    pd.testing.assert_frame_equal(part, whole[cols], check_exact=False, rtol=1e-12)
    some = whole["entity"].unique()[[0, 3, -1]]
    again = det.entity_rows(part.assign(bytes=whole["bytes"], peers=whole["peers"]), some)
    want = whole[whole["entity"].isin(some)]
    pd.testing.assert_frame_equal(again, want, check_exact=False, rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_later_window_needs_only_the_lags_of_its_first_buckets(seed: int) -> None:
    """Baselines that keep of the history's cells only the lags of the window's buckets score
    the window exactly as with every cell; they refuse an earlier bucket."""
    frame, _ = synthetic_connections(seed, weeks=3, clients=30, attacks=True)
    win = windows.window_ids(frame["ts"].to_numpy()).to_numpy()
    ws = sorted(set(win))
    s0, _ = windows.bounds(ws[0])
    s1, _ = windows.bounds(ws[-1])
    hist, cur = frame[win != ws[-1]], frame[win == ws[-1]].reset_index(drop=True)

    def fit() -> VolumeBaselines:
        return VolumeBaselines().fit(hist, start=s0.timestamp(), end=s1.timestamp())

    whole, lean = fit(), fit()
    first = int(np.floor(s1.timestamp() / BS))
    before = len(lean.hist_cells)
    lean.keep_lags_from(first)
    kept = lean.hist_cells["bucket"].to_numpy()
    assert 0 < len(kept) < before / 20
    assert kept.min() == first - max(volume_model.LAGS)
    # the window's first buckets look back into the history: its lags matter
    at_start = whole.cells(cur)
    assert (at_start["bucket"] < first + max(volume_model.LAGS)).any()
    pd.testing.assert_frame_equal(lean.cells(cur), at_start)
    pd.testing.assert_frame_equal(lean.score(cur), whole.score(cur))
    with pytest.raises(ValueError, match="comes before the history's cells the baselines kept"):
        lean.cells(hist)


@pytest.mark.parametrize("rows", [1, 37, 900])
def test_fitting_a_few_entities_at_a_time_gives_the_same_baselines(
    rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The per-key statistics and density supports made a range of whole entities at a time
    (`FIT_ROWS` cells): every fitted array, the supports and bandwidths and the scored cells
    are exactly those of all the history at once."""
    frame, _ = synthetic_connections(2, weeks=3, clients=30, attacks=True)
    win = windows.window_ids(frame["ts"].to_numpy()).to_numpy()
    ws = sorted(set(win))
    s0, _ = windows.bounds(ws[0])
    s1, _ = windows.bounds(ws[-1])
    hist, cur = frame[win != ws[-1]], frame[win == ws[-1]].reset_index(drop=True)
    whole = VolumeBaselines().fit(hist, start=s0.timestamp(), end=s1.timestamp())
    monkeypatch.setattr(volume_model, "FIT_ROWS", rows)
    assert len(volume_model.entity_slices(whole.hist_cells["entity"].to_numpy(), rows)) > 3
    part = VolumeBaselines().fit(hist, start=s0.timestamp(), end=s1.timestamp())
    for name in ("keys", "mu", "sigma", "sig_eff", "m_eff", "sig_n", "fam", "lo1", "hi1"):
        np.testing.assert_array_equal(getattr(part, name), getattr(whole, name), err_msg=name)
    for name in ("lo2", "hi2"):
        np.testing.assert_array_equal(getattr(part, name), getattr(whole, name), err_msg=name)
    assert len(whole.support) and (whole.fam == 2).any()
    pd.testing.assert_frame_equal(part.support, whole.support)
    pd.testing.assert_series_equal(part.h, whole.h)
    assert part.report.families == whole.report.families
    pd.testing.assert_frame_equal(part.cells(cur), whole.cells(cur))


def test_entity_slices_keep_entities_whole() -> None:
    entity = np.array([0, 0, 0, 1, 2, 2, 5, 5, 5, 5, 7])
    got = volume_model.entity_slices(entity, 2)
    assert got == [slice(0, 3), slice(3, 6), slice(6, 10), slice(10, 11)]
    assert volume_model.entity_slices(entity, 11) == [slice(0, 11)]
    assert volume_model.entity_slices(np.array([1, 0, 2]), 1) == [slice(0, 3)]  # not sorted
    assert volume_model.entity_slices(np.zeros(0, dtype=np.int64), 5) == [slice(0, 0)]


def test_quiet_week_has_few_findings_and_calibrated_regression() -> None:
    det, cur, _, last = fitted(0, attacks=False)
    rep = det.report
    assert rep.r2 is not None and rep.r2 > 0.3 and rep.rmse is not None and rep.rmse < 5
    assert rep.holdout_rows > 0 and sum(rep.families.values()) == rep.entities * NG
    c = det.cells(cur)
    found = findings_from_cells(det, c, cur, last)
    assert len(found) <= 3
    known = c[c["known"]]
    outside = (known["flows"] > known["hi_regression"]) | (known["flows"] < known["lo_regression"])
    assert outside.mean() < 0.05  # the 99 % interval holds on a normal week (nonzero buckets)


def test_series_gives_every_bucket_with_its_band() -> None:
    det, cur, truth, _ = fitted(1)
    dos = next(s for s in truth["scenarios"] if s["type"] == "dos")
    host = dos["hosts"]["attacker"]
    day0 = np.floor(dos["start"] / 86400) * 86400
    s = series(det, cur, host, day0, day0 + 86400)
    assert len(s) == 288 and s["time"].is_monotonic_increasing
    for col in (
        "flows",
        "expected",
        "band_lo",
        "band_hi",
        "lo_mean_sigma",
        "hi_density",
        "hi_regression",
        "flagged",
    ):
        assert col in s.columns
    assert (s["band_lo"] <= s["band_hi"]).all()
    peak = s.loc[s["flows"].idxmax()]
    assert peak["flagged"] and peak["flows"] > peak["band_hi"]
    assert s["flagged"].sum() <= 12


def test_runs_merge_consecutive_buckets() -> None:
    cells = pd.DataFrame(
        {
            "entity": [1, 1, 1, 1, 2],
            "bucket": [10, 11, 12, 20, 11],
            "direction": [1, 1, 1, 1, 1],
            "flows": [50.0, 80.0, 60.0, 40.0, 30.0],
            "expected": [1.0] * 5,
            "score": [5.0, 9.0, 7.0, 4.0, 6.0],
        }
    )
    r = runs(cells)
    assert sorted(r["buckets"].tolist()) == [1, 1, 3]
    top = r.iloc[0]
    assert top["entity"] == 1 and top["start"] == 10 and top["end"] == 12 and top["peak"] == 80
    assert len(runs(cells, merge_gap=8)) == 2
