"""Combined host risk: rank fusion across detectors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from graphnet import pipeline, windows
from graphnet.config import Settings
from graphnet.detectors.behaviour import FirstBehaviour
from graphnet.detectors.lda import LdaResult, LdaSettings, SuspiciousConnects
from graphnet.detectors.lda import host_scores as lda_hosts
from graphnet.detectors.volume import VolumeBaselines, VolumeResult
from graphnet.detectors.volume import host_scores as volume_hosts
from graphnet.errors import NotEnoughHistory
from graphnet.evaluation.metrics import unplanted_above
from graphnet.evaluation.truth import WindowTruth
from graphnet.findings import Finding
from graphnet.generate.frames import SMALL_SCENARIOS, synthetic_connections
from graphnet.risk import (
    RiskSettings,
    brown_p,
    combine,
    contribution_correlation,
    effective_tests,
    host_scores_from_findings,
    rank_pvalues,
    risk_window,
    truncated_product_p,
)


def test_rank_pvalues_ties_and_unscored_hosts() -> None:
    uni = pd.Index(["a", "b", "c", "d", "e"])
    p = rank_pvalues(pd.Series({"a": 5.0, "b": 5.0, "c": 1.0}), uni)
    ranks = (p * 6).round(6).to_dict()
    assert ranks == {"a": 1.5, "b": 1.5, "c": 3.0, "d": 4.5, "e": 4.5}
    # a second column breaks ties of the first
    two = pd.DataFrame({"max": [5.0, 5.0], "sum": [9.0, 20.0]}, index=["a", "b"])
    p2 = rank_pvalues(two, uni) * 6
    assert p2["b"] == 1.0 and p2["a"] == 2.0 and p2["c"] == 4.0


def test_fisher_rewards_agreement_and_explains() -> None:
    uni = [f"h{i}" for i in range(50)]
    lda = pd.Series({"h1": 9.0, "h2": 8.0, "h3": 1.0})
    vol = pd.Series({"h1": 50.0, "h4": 70.0})
    nov = pd.Series({"h2": 0.9, "h1": 0.8, "h5": 0.1})
    t = combine(
        {"lda": lda, "volume": vol, "novelty": nov},
        uni,
        RiskSettings(method="tpm"),
        {"lda": {"h1": "word '22_tcp_3_0_1' never seen"}},
    )
    assert list(t.index[:2]) == ["h1", "h2"]
    assert t["p"].is_monotonic_increasing and t.loc["h1", "rank"] == 1
    assert len(t) == 50 and np.isclose(t.loc["h1", "rank_lda"], 1.0)
    e = t.loc["h1", "explanation"]
    assert e.startswith("h1 is #1 of 50 hosts") and "by lda" in e and "never seen" in e
    assert t.loc["h30", "explanation"] == "" or "no detector" in t.loc["h30", "explanation"]
    # weights: only volume counts -> its top host first
    w = combine({"lda": lda, "volume": vol}, uni, RiskSettings(method="tpm", weights={"lda": 0.0}))
    assert w.index[0] == "h4"
    rs = combine({"lda": lda, "volume": vol}, uni, RiskSettings(method="rank_sum"))
    assert rs.index[0] == "h1" and rs["p"].isna().all()
    empty = combine({}, [], RiskSettings())
    assert empty.empty


def test_host_scores_from_findings_leave_out_benign() -> None:
    fs = [
        Finding("suspicious_connect", "2024-W10", 12.0, ["a", "b"], "x"),
        Finding("suspicious_connect", "2024-W10", 10.0, ["a", "c"], "y"),
        Finding("volume_anomaly", "2024-W10", 300.0, ["c"], "z", status="benign"),
        Finding("centrality_shift", "2024-W10", 4.0, ["d"], "w"),
    ]
    scores, ev = host_scores_from_findings(fs)
    assert set(scores) == {"lda", "shifts"}
    assert scores["lda"].loc["a"].tolist() == [12.0, 22.0]
    assert list(scores["lda"].index) == ["a", "b", "c"]
    assert ev["lda"]["c"] == "y"
    with_benign, _ = host_scores_from_findings(fs, include_benign=True)
    assert "volume" in with_benign


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_combined_ranking_puts_the_attacker_in_the_top_3(seed: int) -> None:
    frame, truth = synthetic_connections(seed, weeks=5, clients=30)
    win = windows.window_ids(frame["ts"].to_numpy()).to_numpy()
    ws = sorted(set(win))
    hist, cur = frame[win != ws[-1]], frame[win == ws[-1]].reset_index(drop=True)
    lda = SuspiciousConnects(LdaSettings()).fit(hist)
    s0, _ = windows.bounds(ws[0])
    s1, _ = windows.bounds(ws[-1])
    vol = VolumeBaselines().fit(hist, start=s0.timestamp(), end=s1.timestamp())
    scores = {
        "lda": lda_hosts(lda.score(cur, explain=False), cur),
        "volume": volume_hosts(vol, vol.cells(cur)),
    }
    universe = sorted(set(cur["src"]) | set(cur["dst"]))
    table = combine(scores, universe)
    attacker = truth["scenarios"][0]["hosts"]["attacker"]
    assert attacker in list(table.index[:3])


def test_library_entry_points_without_a_store(tmp_path: Path) -> None:
    """The lda and volume steps (`pipeline.run_detector`) and risk_window(fresh=True) on an
    archive (store=None: nothing saved, no feedback) give the JSON the CLI prints."""
    frame, truth = synthetic_connections(4, weeks=4, clients=24)
    st = Settings(home=tmp_path)
    win = windows.window_ids(frame["ts"].to_numpy()).to_numpy()
    for w in sorted(set(win)):
        path = st.archive_dir / w / "00000000000000bb.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame[win == w].reset_index(drop=True).to_parquet(path)
    attacker = truth["scenarios"][0]["hosts"]["attacker"]
    lda_run = pipeline.run_detector("lda", None, st, save=False)
    assert isinstance(lda_run.detail, LdaResult)
    rep = lda_run.detail.to_json()
    json.dumps(rep, allow_nan=False)
    assert rep["window"] == max(set(win)) and rep["run"]["fit_on"] == "history"
    assert rep["top"][0]["src"] == attacker or rep["top"][0]["dst"] == attacker
    vol_run = pipeline.run_detector("volume", None, st, save=False)
    vol = vol_run.detail
    assert isinstance(vol, VolumeResult)
    js = vol.to_json()
    json.dumps(js)
    assert js["findings"] and js["fit"]["r2"] is not None and vol.host_scores.index[0] == attacker
    res = risk_window(None, None, st, fresh=True)
    out = res.to_json(top=5)
    json.dumps(out)
    # beacon and strobe rank only pairs new or much stronger than in the earlier weeks (none
    # here), long connections not at all in a window with history
    assert out["detectors"] == ["lda", "volume", "behaviour"]
    assert out["top"][0]["host"] == attacker
    assert set(out["top"][0]) >= {"host", "rank", "risk", "p", "detectors", "explanation"}
    assert out["top"][0]["explanation"].startswith(f"{attacker} is #1 of")
    # an empty home: no window to analyse
    with pytest.raises(NotEnoughHistory, match="no windows"):
        pipeline.run_detector("lda", None, Settings(home=tmp_path / "none"))
    with pytest.raises(ValueError, match="empty"):
        pipeline.run_detector("lda", None, Settings(home=tmp_path / "none"), max(set(win)))


def test_truncated_product_p_is_fisher_at_tau_1_and_matches_simulation() -> None:
    w = np.array([1e-6, 1e-3, 0.02, 0.5])
    for n in (1, 3, 5):
        fisher = stats.chi2.sf(-2 * np.log(w), 2 * n)
        assert np.allclose(truncated_product_p(w, n, 1.0), fisher, rtol=1e-9)
    rng = np.random.default_rng(0)
    u = rng.random((1_000_000, 3))
    prod = np.where(u <= 0.05, u, 1.0).prod(axis=1)
    for x in (1e-5, 1e-3, 0.01, 0.04):
        got = truncated_product_p(np.array([x]), 3, 0.05)[0]
        sim = (prod <= x).mean()
        assert abs(got - sim) <= 4 * np.sqrt(got / len(prod)), (x, got, sim)  # 4 sigma
    assert truncated_product_p(np.array([1.0]), 3, 0.05)[0] == 1.0  # no evidence at all


def test_a_silent_detector_is_no_evidence() -> None:
    """h1 is the top host of lda and volume; paths only scored two other hosts. Paths' silence
    adds nothing to h1 and takes nothing away (the old Fisher fusion put it at paths' bottom
    ranks); h2, which all three put near their top, rightly comes first."""
    uni = [f"h{i}" for i in range(200)]
    rng = np.random.default_rng(1)
    base = pd.Series(rng.random(200), index=uni)
    lda = base.copy()
    lda["h1"], lda["h2"] = 10.0, 5.0
    vol = base.sample(frac=1.0, random_state=2).set_axis(uni)
    vol["h1"], vol["h2"] = 10.0, 5.0
    paths = pd.Series({"h2": 3.0, "h3": 2.0})
    scores = {"lda": lda, "volume": vol, "paths": paths}
    tpm = RiskSettings(method="tpm")
    t = combine(scores, uni, tpm)
    two = combine({"lda": lda, "volume": vol}, uni, tpm)
    assert t.loc["h1", "risk"] == pytest.approx(two.loc["h1", "risk"])
    assert t.loc["h1", "contribution_paths"] == 0.0 and t.loc["h2", "contribution_paths"] > 0
    assert list(t.index[:2]) == ["h2", "h1"] and t.loc["h1", "p"] < 1e-3
    assert "by paths" not in t.loc["h1", "explanation"]
    assert "#1 by lda" in t.loc["h1", "explanation"]
    old = combine(scores, uni, RiskSettings(method="fisher"))
    assert old.loc["h1", "contribution_paths"] > 0  # the bottom-rank term of the old fusion
    assert old.loc["h1", "rank_paths"] > 100
    # p is corrected for the number of detectors: one top rank out of 3 is not 1/(N+1)
    one = combine({"a": pd.Series({"x": 1.0}), "b": lda, "c": vol}, uni, tpm)
    n = len(one) + 1
    assert 3 / n < one.loc["x", "p"] < 5 / n


@pytest.mark.parametrize(
    ("seed", "weeks"), [(0, 4), (1, 4), (2, 4), (3, 4), (0, 2), (1, 2), (2, 2), (3, 2)]
)
def test_every_planted_attacker_has_at_most_2_unplanted_hosts_above_it(
    seed: int, weeks: int
) -> None:
    """Issue 7's quality bar on the seeded synthetic network with the loud attack (scans,
    brute force, SYN flood) and the quiet scenarios (a new host, lateral movement, beaconing,
    a new protocol) planted in the same week: LDA, volume and first-time behaviour fused.
    `weeks=2`: a second week, with a single week of history (default fusion only)."""
    frame, truth = synthetic_connections(seed, weeks=weeks, clients=30, small=SMALL_SCENARIOS)
    win = windows.window_ids(frame["ts"].to_numpy()).to_numpy()
    ws = sorted(set(win))
    hist, cur = frame[win != ws[-1]], frame[win == ws[-1]].reset_index(drop=True)
    s0, _ = windows.bounds(ws[0])
    s1, _ = windows.bounds(ws[-1])
    lda = SuspiciousConnects(LdaSettings()).fit(hist)
    vol = VolumeBaselines().fit(hist, start=s0.timestamp(), end=s1.timestamp())
    scores = {
        "lda": lda_hosts(lda.score(cur, explain=False), cur),
        "volume": volume_hosts(vol, vol.cells(cur)),
        "behaviour": FirstBehaviour().fit(hist).host_frame(cur)["score"],
    }
    universe = sorted(set(cur["src"]) | set(cur["dst"]))
    roles: dict[str, str] = {}
    for s in truth["scenarios"]:
        for v in s["hosts"]["victims"]:
            roles.setdefault(v, "victim")
    for s in truth["scenarios"]:
        roles[s["hosts"]["attacker"]] = "attacker"
    wt = WindowTruth(
        ws[-1], "truth", pd.Series(dtype="boolean"), pd.Series(dtype=object), roles, set(), []
    )
    types = {s["type"] for s in truth["scenarios"]}
    for method in ("tpm", "brown") if weeks > 2 else ("brown",):
        table = combine(dict(scores), universe, RiskSettings(method=method))
        above = unplanted_above(table["risk"], wt)
        assert set(SMALL_SCENARIOS) <= types and len(above) == 1 + len(SMALL_SCENARIOS)
        assert max(above.values()) <= 2, (method, above, table.head(12)["explanation"].tolist())
        # the loud attacker is first, as before
        assert table.index[0] == truth["scenarios"][0]["hosts"]["attacker"], method


def test_unplanted_above_counts_only_hosts_outside_the_scenarios() -> None:
    risk = pd.Series({"v": 9.0, "u1": 8.0, "a": 7.0, "u2": 6.0, "b": 1.0, "u3": 5.0})
    wt = WindowTruth(
        "w",
        "truth",
        pd.Series(dtype="boolean"),
        pd.Series(dtype=object),
        {"a": "attacker", "b": "attacker", "v": "victim"},
        set(),
        [],
    )
    assert unplanted_above(risk, wt) == {"a": 1, "b": 3}


def test_small_windows_count_each_detectors_first_ten() -> None:
    """With 20 hosts, 5 % of the ranks is one host: tau' = 10/21 keeps the ranking informative
    (the Slips capture has a few dozen hosts)."""
    uni = [f"h{i}" for i in range(20)]
    a = pd.Series({h: float(20 - i) for i, h in enumerate(uni)})
    b = pd.Series({h: float(i % 7) for i, h in enumerate(uni)})
    t = combine({"a": a, "b": b}, uni)
    assert (t["risk"] > 0).sum() >= 10 and t["risk"].nunique() >= 10
    strict = combine({"a": a, "b": b}, uni, RiskSettings(min_top=0))
    assert (strict["risk"] > 0).sum() <= 3


def test_brown_is_fisher_for_independent_detectors_and_counts_a_duplicate_once() -> None:
    rng = np.random.default_rng(3)
    c = np.where(rng.random((6, 3)) < 0.5, -2 * np.log(rng.random((6, 3)) * 0.05), 0.0)
    nlp, p = brown_p(c, np.ones(3), np.eye(3))
    k = (c > 0).sum(axis=1)
    fisher = np.where(k > 0, stats.chi2.sf(c.sum(axis=1), 2 * np.maximum(k, 1)), 1.0)
    assert np.allclose(p, fisher, rtol=1e-9) and np.allclose(nlp, -np.log(fisher))
    # a perfectly correlated copy of a detector adds nothing: the p-value of one of them
    dup = np.array([[-2 * np.log(1e-3), -2 * np.log(1e-3)]])
    _, p2 = brown_p(dup, np.ones(2), np.ones((2, 2)))
    assert p2[0] == pytest.approx(1e-3)
    assert effective_tests(np.ones((3, 3)), np.ones(3)) == pytest.approx(1.0)
    assert effective_tests(np.eye(4), np.ones(4)) == pytest.approx(4.0)
    r = contribution_correlation(np.column_stack([c[:, 0], c[:, 0], np.zeros(6)]))
    assert np.allclose(r, [[1, 1, 0], [1, 1, 0], [0, 0, 1]])


def test_brown_does_not_count_correlated_detectors_as_independent() -> None:
    """Three detectors see the same busy hosts (b0..b119 near the top of all three, "busy" 6th
    of each); a fourth, independent one puts "new" first. The truncated product adds
    the three correlated ranks up as if independent and puts busy hosts first; Brown's method counts
    them as about one detector and puts "new" first."""
    uni = [f"h{i}" for i in range(3000)]
    rng = np.random.default_rng(4)
    busy = [f"b{i}" for i in range(120)]
    uni += [*busy, "busy", "new"]
    base = pd.Series(rng.random(len(uni)), index=uni)
    act = pd.Series(rng.random(len(busy)) + 2.0, index=busy)
    scores: dict[str, pd.Series | pd.DataFrame] = {}
    for i, d in enumerate(("lda", "volume", "novelty")):
        s = base.sample(frac=1.0, random_state=i).set_axis(uni)
        s[busy] = act.to_numpy() + rng.normal(0, 0.3, len(busy))
        s["busy"] = np.sort(s[busy].to_numpy())[-5] - 1e-3
        s["new"] = 0.0
        scores[d] = s
    scores["behaviour"] = pd.Series({"new": 9.0, "h7": 5.0, "h8": 4.0})
    tpm = combine(dict(scores), uni, RiskSettings(method="tpm"))
    brown = combine(dict(scores), uni, RiskSettings(method="brown"))
    assert brown.equals(combine(dict(scores), uni))  # the default
    assert tpm.index[0] in [*busy, "busy"] and tpm.loc["new", "rank"] > 3
    assert brown.index[0] == "new"
    assert brown["p"].between(0, 1).all() and brown.loc["new", "p"] < brown.loc["busy", "p"]
    # "new" has one detector's #1 of N: p corrected for the effective number of detectors
    n = len(uni) + 1
    assert 1.5 / n < brown.loc["new", "p"] < 4 / n
    assert "#1 by behaviour" in brown.loc["new", "explanation"]
