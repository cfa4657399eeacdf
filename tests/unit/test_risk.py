"""Combined host risk: rank fusion across detectors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graphnet import windows
from graphnet.config import Settings
from graphnet.detectors.lda import LdaSettings, SuspiciousConnects, lda_report, lda_window
from graphnet.detectors.lda import host_scores as lda_hosts
from graphnet.detectors.volume import VolumeBaselines, volume_window
from graphnet.detectors.volume import host_scores as volume_hosts
from graphnet.evaluate import synthetic_connections
from graphnet.findings import Finding
from graphnet.risk import (
    RiskSettings,
    combine,
    host_scores_from_findings,
    rank_pvalues,
    risk_window,
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
        RiskSettings(),
        {"lda": {"h1": "word '22_tcp_3_0_1' never seen"}},
    )
    assert list(t.index[:2]) == ["h1", "h2"]
    assert t["p"].is_monotonic_increasing and t.loc["h1", "rank"] == 1
    assert len(t) == 50 and np.isclose(t.loc["h1", "rank_lda"], 1.0)
    e = t.loc["h1", "explanation"]
    assert e.startswith("h1 is #1 of 50 hosts") and "by lda" in e and "never seen" in e
    assert t.loc["h30", "explanation"] == "" or "no detector" in t.loc["h30", "explanation"]
    # weights: only volume counts -> its top host first
    w = combine({"lda": lda, "volume": vol}, uni, RiskSettings(weights={"lda": 0.0}))
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
    """lda_window / volume_window / risk_window(fresh=True) on an archive (store=None: nothing
    saved, no feedback) give the JSON the CLI prints."""
    frame, truth = synthetic_connections(4, weeks=4, clients=24)
    st = Settings(home=tmp_path)
    win = windows.window_ids(frame["ts"].to_numpy()).to_numpy()
    for w in sorted(set(win)):
        path = st.archive_dir / w / "00000000000000bb.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame[win == w].reset_index(drop=True).to_parquet(path)
    attacker = truth["scenarios"][0]["hosts"]["attacker"]
    scored = lda_window(None, None, st, save=False)
    rep = lda_report(scored)
    json.dumps(rep, allow_nan=False)
    assert rep["window"] == max(set(win)) and rep["run"]["fit_on"] == "history"
    assert rep["top"][0]["src"] == attacker or rep["top"][0]["dst"] == attacker
    vol = volume_window(None, None, st, save=False)
    js = vol.to_json()
    json.dumps(js)
    assert js["findings"] and js["fit"]["r2"] is not None and vol.host_scores.index[0] == attacker
    res = risk_window(None, None, st, fresh=True)
    out = res.to_json(top=5)
    json.dumps(out)
    assert out["detectors"] == ["lda", "volume"] and out["top"][0]["host"] == attacker
    assert out["top"][0]["explanation"].startswith(f"{attacker} is #1 of")
    with pytest.raises(ValueError, match="empty"):
        lda_window(None, None, Settings(home=tmp_path / "none"))
