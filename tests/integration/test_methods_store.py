"""LDA, volume baselines, combined risk and the evaluation harness against a real Neo4j, on a
generated multi-week network (graphnet.generate -> graphnet.ingest) and on labelled real logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from graphnet import findings, ingest, pipeline
from graphnet.archive import Archive
from graphnet.config import Settings
from graphnet.detectors import volume
from graphnet.detectors.behaviour import BehaviourResult
from graphnet.detectors.lda import LdaResult, LdaSettings, fit_window, load_feedback
from graphnet.detectors.volume import VolumeResult
from graphnet.errors import NotEnoughHistory
from graphnet.evaluation.harness import evaluate
from graphnet.evaluation.sets import merge_hourly_logs
from graphnet.risk import risk_window

generate = pytest.importorskip("graphnet.generate")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[Path, list[Path]]]:
    """Two small seeded networks (4 weeks, 40 hosts), their hourly logs merged per week."""
    out = {}
    for seed in (11, 12):
        root = tmp_path_factory.mktemp(f"gen{seed}")
        generate.generate(
            root / "logs", generate.GenerateOptions(weeks=4, hosts=40, seed=seed, scale=2000)
        )
        out[seed] = (root / "logs", merge_hourly_logs(root / "logs", root / "weekly"))
    return out


def attack_server(truth_path: Path) -> dict[str, Any]:
    truth = json.loads(truth_path.read_text())
    return next(s for s in truth["scenarios"] if s["type"] == "attack_server")


@pytest.mark.parametrize("seed", [11, 12])
def test_generated_network_end_to_end(store, generated, seed: int) -> None:  # type: ignore[no-untyped-def]
    logs, files = generated[seed]
    settings = Settings.from_env()
    res = ingest.ingest(store, files, settings)
    assert not res.failed and res.accepted > 20000
    scen = attack_server(logs / "truth.json")
    window, attacker = scen["window"], scen["hosts"]["attacker"]

    # LDA: per-connection scores, findings saved and listed
    lda_run = pipeline.run_detector("lda", store, settings, window)
    result = lda_run.detail
    assert isinstance(result, LdaResult)
    scored = result.scored
    assert result.window == window and result.run.fit_on == "history"
    assert scored["score"].is_monotonic_decreasing and len(scored) > 1000
    saved = findings.load(store, window=window, kind="suspicious_connect")
    assert saved and len(saved) <= LdaSettings().max_findings
    assert {f.id for f in saved} == {f.id for f in lda_run.findings}
    assert all(f.detector == "lda" for f in saved)
    assert any(attacker in f.hosts for f in saved[:10])
    rep = result.to_json(20)
    json.dumps(rep)
    assert rep["window"] == window and len(rep["top"]) == 20

    # volume: the SYN flood is out of band, one finding per run of buckets
    vol = pipeline.run_detector("volume", store, settings, window).detail
    assert isinstance(vol, VolumeResult)
    dos = next(p for p in scen["phases"] if p["attack_type"] == "dos")
    saved_v = findings.load(store, window=window, kind="volume_anomaly")
    assert {f.id for f in saved_v} == {f.id for f in vol.findings}
    about = [f for f in vol.findings if attacker in f.hosts and dos["targets"][0] in f.explanation]
    assert about, [f.explanation for f in vol.findings[:5]]
    assert vol.report.r2 is not None and vol.report.r2 > 0
    json.dumps(vol.to_json())
    # the step stored the time charts of its top findings, the attacker's among them
    charts = volume.stored_series(Archive(settings), window)
    assert charts is not None and attacker in set(charts["entity"])
    chart = charts[charts["entity"] == attacker]
    assert len(chart) == 7 * 24 * 12 and chart["flagged"].any()

    # combined risk from the stored findings: the attacker is in the top 3
    risk = risk_window(store, window, settings)
    assert attacker in list(risk.table.index[:3]), risk.table.head(5)["explanation"].tolist()
    json.dumps(risk.to_json())

    # the evaluation harness (LDA, volume, and every other detector that can run)
    ev = evaluate(store, logs / "truth.json", window, settings)
    json.dumps(ev, allow_nan=False)
    lda_types = ev["detectors"]["lda"]["by_type"]
    assert lda_types["attack_server/portScan"]["auc"] >= 0.8
    assert lda_types["attack_server/bruteForce"]["auc"] >= 0.8
    assert ev["detectors"]["volume"]["by_type"]["attack_server/dos"]["auc"] >= 0.9
    assert ev["combined"]["host_ranks"][attacker] <= 3
    # issue 7: every planted attacker of the window has at most 2 unplanted hosts above it
    assert ev["combined"]["method"] == "brown" and ev["detectors"]["behaviour"]["available"]
    above = ev["combined"]["unplanted_above"]
    assert set(above) == {a for s in ev["scenarios"] for a in s["attackers"]}
    assert max(above.values()) <= 2, (above, [t["explanation"] for t in ev["combined"]["top"]])
    # nothing was saved by the evaluation: the findings are those of the runs above
    assert len(findings.load(store, window=window, kind="suspicious_connect")) == len(saved)


def test_lda_feedback_from_the_store(store, generated) -> None:  # type: ignore[no-untyped-def]
    feedback = pytest.importorskip("graphnet.feedback")
    _, files = generated[11]
    settings = Settings.from_env()
    ingest.ingest(store, files, settings)
    wins = sorted({r["window"] for r in store.read("windows_list")})
    ref, last = wins[-2], wins[-1]
    archive = Archive(settings)
    conns = fit_window(archive, ref, LdaSettings(max_iter=5, topics=5))[2]
    pair = conns.groupby(["src", "dst"]).size().sort_values().index[-1]
    fb = feedback.add_feedback(
        store, "benign", src=str(pair[0]), dst=str(pair[1]), window=ref, settings=settings
    )
    got = load_feedback(store)
    assert [(g["scope"], g["src"], g["dst"], g["window"]) for g in got] == [
        ("pair", pair[0], pair[1], ref)
    ]
    lda = LdaSettings(max_iter=5, topics=5)
    _, run, _ = fit_window(archive, last, lda, got)
    n_pair = int(((conns["src"] == pair[0]) & (conns["dst"] == pair[1])).sum())
    assert run.feedback_flows == n_pair and run.feedback_verdicts == 1
    _, before_ref, _ = fit_window(archive, ref, lda, got)
    assert before_ref.feedback_flows == 0  # a verdict changes the windows after its own
    feedback.remove_feedback(store, fb.id)
    _, after, _ = fit_window(archive, last, lda, load_feedback(store))
    assert after.feedback_flows == 0  # reversible


def test_labelled_real_logs(store, shared_data: Path) -> None:  # type: ignore[no-untyped-def]
    path = shared_data / "zeek/slips/test18-malicious-ctu-sme-11-win/zeek-labeled/conn.log.labeled"
    if not path.exists():
        pytest.skip(f"{path} not found")
    settings = Settings.from_env(window="hour")
    ingest.ingest(store, [path], settings, window="hour")
    ev = evaluate(store, None, None, settings, detectors=["lda", "volume"])
    json.dumps(ev, allow_nan=False)
    windows = ev.get("windows") or [ev]
    assert all(w["truth"] == "labels" and w["positives"] > 0 for w in windows)
    for w in windows:
        assert w["detectors"]["lda"]["available"] and w["detectors"]["volume"]["available"]
        assert "192.168.1.107" in w["detectors"]["lda"]["host_ranks"]


def test_behaviour_findings_in_the_store_and_the_risk(store, generated) -> None:  # type: ignore[no-untyped-def]
    logs, files = generated[11]
    settings = Settings.from_env()
    ingest.ingest(store, files, settings)
    wins = sorted({r["window"] for r in store.read("windows_list")})
    with pytest.raises(NotEnoughHistory, match=f"no archive window before {wins[0]}"):
        pipeline.run_detector("behaviour", store, settings, wins[0])
    truth = json.loads((logs / "truth.json").read_text())
    planted = [s for s in truth["scenarios"] if s["window"] != wins[0]]
    window = max((s["window"] for s in planted), default=wins[-1])
    attackers = {
        s["hosts"]["attacker"]
        for s in planted
        if s["window"] == window and isinstance(s["hosts"].get("attacker"), str)
    }

    res = pipeline.run_detector("behaviour", store, settings, window).detail
    assert isinstance(res, BehaviourResult)
    assert res.window == window and res.history and res.findings
    saved = findings.load(store, window=window, kind="first_behaviour")
    assert {f.id for f in saved} == {f.id for f in res.findings}
    for f in saved:
        assert len(f.hosts) == 1 and f.detector == "behaviour" and f.status == "new"
        assert f.explanation.startswith(f"{f.hosts[0]}: ") and f.parts and f.evidence["uids"]
        assert findings.cypher_literal(f.hosts[0]) in f.cypher and "$" not in f.cypher
    # the finding's Browser query runs and shows the host's conversations
    rows = store.read("browser/first_behaviour", host=saved[0].hosts[0], window=window)
    assert rows and any(r["f"] is not None for r in rows)
    top_hosts = {f.hosts[0] for f in res.findings[:10]}
    assert attackers & top_hosts, ([f.explanation for f in res.findings[:10]], attackers)
    # re-running replaces, never duplicates; the pipeline's step (analyse, the scheduler) is
    # the same call
    again = pipeline.run_detector("behaviour", store, settings, window).detail
    assert isinstance(again, BehaviourResult)
    assert [f.id for f in again.findings] == [f.id for f in res.findings]
    only = pipeline.select(["behaviour"])
    [outcome] = pipeline.analyse_window(store, settings, window, only).outcomes
    assert outcome.status == "ok", outcome
    assert outcome.findings == len(saved)
    assert len(findings.load(store, window=window, kind="first_behaviour")) == len(saved)
    # the first window has no earlier one: the pipeline lets it learn from its own first part
    # (a time split) instead of stepping aside, and says so
    [first] = pipeline.analyse_window(store, settings, wins[0], only).outcomes
    assert first.status == "ok", first
    assert "(baseline: first 40 % of this window (time split" in first.message, first

    # the combined ranking from stored findings includes the detector
    risk = risk_window(store, window, settings)
    assert "behaviour" in risk.detectors
    best = res.findings[0].hosts[0]
    assert "by behaviour" in str(risk.table.loc[best, "explanation"])
    assert risk.table.loc[best, "score_behaviour"] == pytest.approx(res.findings[0].score)
