"""Fingerprints, novelty scoring, paths and feedback through a real Neo4j."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from graphnet import feedback, findings, ingest, pipeline, windows
from graphnet.archive import Archive
from graphnet.config import Settings
from graphnet.detectors.novelty import baseline, fingerprints
from graphnet.detectors.novelty.fingerprints import LEVELS
from graphnet.detectors.novelty.histograms import COMPONENTS
from graphnet.detectors.novelty.paths import DeviatingPath, PathsResult
from graphnet.detectors.novelty.scoring import NoveltyOptions, ScoreResult
from graphnet.detectors.novelty.stored import load_scores
from graphnet.errors import ConfigError, NotEnoughHistory
from graphnet.generate.novelty_frames import synthetic_network


def settings() -> Settings:
    return Settings.from_env()


def run_raw(store: Any, text: str) -> list[dict[str, Any]]:
    """Execute Cypher text as a Browser user would (tests only)."""
    with store._driver.session(database=store.settings.database) as s:
        return s.run(text).data()


def score_window(store: Any, window: str, st: Settings, **kw: Any) -> ScoreResult:
    """The novelty step of one window through the pipeline (findings and scores saved)."""
    run = pipeline.run_detector(
        "novelty", store, st, window, save=True, options=(NoveltyOptions(**kw),)
    )
    assert isinstance(run.detail, ScoreResult)
    assert run.findings == run.detail.findings
    return run.detail


def find_paths(store: Any, window: str, st: Settings) -> list[DeviatingPath]:
    """The paths step of one window through the pipeline (findings saved)."""
    run = pipeline.run_detector("paths", store, st, window, save=True)
    assert isinstance(run.detail, PathsResult)
    return run.detail.paths


def test_fingerprints_in_neo4j_match_the_in_memory_build(store: Any) -> None:
    net = synthetic_network(21, n_windows=4, n_clients=15, n_servers=5)
    st = settings()
    ingest.ingest_frame(store, net.frame, st)
    last = net.windows[-1]
    with pytest.raises(NotEnoughHistory):
        baseline.build_fingerprints(store, net.windows[0], st)

    fp = baseline.build_fingerprints(store, last, st, baseline=2)
    assert fp.windows == net.windows[-3:-1]
    counts = {r["level"]: r["n"] for r in store.read("fingerprint_count", as_of=last)}
    assert counts["pair"] == fp.n_pairs and counts["global"] == 1
    assert set(counts) == set(LEVELS)

    # the store path equals the pure path over the same connections
    wid = windows.window_ids(net.frame["ts"].to_numpy(), "week").to_numpy()
    pure = fingerprints.fingerprints_from_connections(
        net.frame[np.isin(wid, net.windows[-3:-1])], last, st
    )
    for comp in COMPONENTS:
        a, b = fp.levels[comp]["global"], pure.levels[comp]["global"]
        da = {str(fp.vocab[comp][k % a.V]): n for k, n in zip(a.keys, a.n, strict=True)}
        db = {str(pure.vocab[comp][k % b.V]): n for k, n in zip(b.keys, b.n, strict=True)}
        assert da == pytest.approx(db)
    assert set(fp.hosts) == set(pure.hosts)

    # a pair's stored fingerprint, as a Browser user sees it
    src, dst = net.habits.iloc[0]["src"], net.habits.iloc[0]["dst"]
    props = store.read("fingerprint_get", src=src, dst=dst, as_of=last)[0]["props"]
    code = int(fp.pair_codes(fp.host_codes(np.array([src])), fp.host_codes(np.array([dst])))[0])
    assert props["service_k"] == [v for v, _ in fp.distribution("service", "pair", code)]
    assert props["baseline_windows"] == fp.windows
    assert props["conns"] == pytest.approx(fp.pairs["conns"].iat[code])

    # up to date: not rewritten; --all builds every window that has history
    assert baseline.save_fingerprints(store, fp) == 0
    done = baseline.fingerprint(store, st, all_windows=True, baseline=2)
    assert [r.as_of for r in done] == net.windows[1:]
    assert all(r.pairs > 0 for r in done)
    assert json.dumps([r.to_json() for r in done])


def test_score_paths_and_feedback_end_to_end(store: Any) -> None:
    net = synthetic_network(22, extra_windows=1)
    st = settings()
    ingest.ingest_frame(store, net.frame, st)
    planted_w, next_w = net.windows[-2], net.windows[-1]

    res = score_window(store, planted_w, st)
    assert res.baseline_windows == net.windows[-6:-2]
    assert res.connections == len(net.window_frame(planted_w))
    js = res.to_json()
    assert js["findings_total"] == len(res.findings) > 0
    stored = findings.load(store, window=planted_w, kind="novel_connection")
    assert {f.id for f in stored} == {f.id for f in res.findings}
    planted = set(net.planted_pairs)
    k = len(planted)
    top = [tuple(f.hosts) for f in stored[:k]]
    assert sum(p in planted for p in top) / k >= 0.8
    f0 = next(f for f in stored if not f.evidence["new_pair"])
    assert f0.evidence["uids"] and f0.parts["conversation_bits"] > 0
    # the Browser query opens the pair's edge and its fingerprint
    rows = run_raw(store, f0.cypher)
    assert rows and rows[0]["p"] is not None and rows[0]["q"] is not None
    loaded = load_scores(Archive(st), planted_w)
    assert loaded is not None and len(loaded.connections) == res.connections
    assert loaded.conversations["reported"].sum() == len(res.findings)

    # lateral movement: one deviating path, stored as a finding
    lateral = next(p for p in net.plants if p.kind == "lateral_movement")
    chain = [lateral.pairs[0][0], lateral.pairs[0][1], lateral.pairs[1][1]]
    found = find_paths(store, planted_w, st)
    assert chain in [p.hosts for p in found]
    stored_paths = findings.load(store, window=planted_w, kind="deviating_path")
    assert chain in [f.hosts for f in stored_paths]
    path = next(p for p in found if p.hosts == chain)
    assert len(run_raw(store, path.cypher)) >= 1

    # the handshake change repeats next window: novel without feedback ...
    pair = next(p for p in net.plants if p.kind == "handshake_anomaly").pairs[0]

    def reported_next() -> bool:
        r = score_window(store, next_w, st)
        return pair in {tuple(f.hosts) for f in r.findings}

    assert reported_next()
    # ... normal after benign feedback on the planted finding ...
    fid = next(f.id for f in stored if tuple(f.hosts) == pair)
    fb = feedback.add_feedback(store, "benign", finding=fid, why="new web service on that host")
    assert fb.scope == "pair" and fb.window == planted_w and (fb.src, fb.dst) == pair
    status = {f.id: f.status for f in findings.load(store, window=planted_w)}
    assert status[fid] == "benign"
    assert [x.id for x in feedback.list_feedback(store)] == [fb.id]
    assert not reported_next()
    fp = store.read("fingerprint_set_get", as_of=next_w)[0]["props"]
    assert fp["complete"] and fp["feedback"] == [fb.id]
    # ... and novel again once the feedback is removed
    assert feedback.remove_feedback(store, fb.id) is not None
    assert feedback.list_feedback(store) == []
    assert {f.id: f.status for f in findings.load(store, window=planted_w)}[fid] == "new"
    assert reported_next()
    assert feedback.remove_feedback(store, "fb-nope") is None


def test_feedback_scopes_and_malicious(store: Any) -> None:
    net = synthetic_network(23, n_windows=3, n_clients=10, n_servers=4)
    st = settings()
    ingest.ingest_frame(store, net.frame, st)
    res = score_window(store, net.windows[-1], st)
    f = res.findings[0]
    mal = feedback.add_feedback(store, "malicious", finding=f.id)
    assert {x.id: x.status for x in findings.load(store)}[f.id] == "confirmed"
    srcfb = feedback.add_feedback(store, "benign", src=f.hosts[0], port=445, why="backup job")
    assert srcfb.scope == "src" and srcfb.window == net.windows[-1]
    sub = feedback.add_feedback(
        store, "benign", src=f.hosts[0], dst=f.hosts[1], scope="subnet_pair"
    )
    assert sub.src is not None and sub.src.endswith("/24") and sub.dst is not None
    svc = feedback.add_feedback(store, "benign", dst=f.hosts[1], service="http")
    assert svc.scope == "dst_service"
    assert {x.id for x in feedback.list_feedback(store)} == {mal.id, srcfb.id, sub.id, svc.id}
    with pytest.raises(ConfigError):
        feedback.add_feedback(store, "benign", finding="no-such-finding")
    with pytest.raises(ConfigError):
        feedback.add_feedback(store, "benign", dst=f.hosts[1], scope="dst_service")
    with pytest.raises(ConfigError):
        feedback.add_feedback(store, "benign")
    # active benign feedback applies to later windows only
    assert feedback.active_benign(store, before=net.windows[-1]) == []
    assert len(feedback.active_benign(store, before="9999")) == 3


def test_hostile_host_ids_are_quoted_in_browser_queries(store: Any) -> None:
    net = synthetic_network(24, n_windows=3, n_clients=8, n_servers=4)
    evil_a = "10.9.9.9'}) MATCH (n) DETACH DELETE n //"
    evil_b = 'x\\"}) RETURN 1 //\n\u2028'
    last = net.windows[-1]
    ts = float(net.window_frame(last)["ts"].min())
    extra = net.frame.iloc[:6].copy()
    extra["ts"] = ts + np.arange(6)
    extra["src"] = [evil_a] * 3 + [evil_b] * 3
    extra["uid"] = [f"Cevil{i}" for i in range(6)]
    frame = pd.concat([net.frame, extra], ignore_index=True)
    st = settings()
    ingest.ingest_frame(store, frame, st)
    res = score_window(store, last, st, threshold=0.05)  # report every new pair
    count = (
        "MATCH (h:Host) OPTIONAL MATCH (h)-[r:TALKED]->() "
        "RETURN count(DISTINCT h) AS h, count(r) AS r"
    )
    before = run_raw(store, count)[0]
    evil = [f for f in res.findings if f.hosts[0] in (evil_a, evil_b)]
    assert {f.hosts[0] for f in evil} == {evil_a, evil_b}
    for f in evil:
        rows = run_raw(store, f.cypher)
        assert rows and rows[0]["p"] is not None  # the query finds the pair, nothing else
    assert run_raw(store, count)[0] == before  # nothing was deleted


# one generated network by default (ingest dominates: ~1 min); more with e.g.
# GRAPHNET_NOVELTY_GENERATOR_SEEDS=1,2,3
GENERATOR_SEEDS = tuple(
    int(x) for x in os.environ.get("GRAPHNET_NOVELTY_GENERATOR_SEEDS", "1").split(",") if x
)
SCENARIOS = ("handshake_anomaly", "new_protocol", "lateral_movement", "new_host")


@pytest.mark.parametrize("seed", GENERATOR_SEEDS)
def test_generated_network_precision_at_k(store: Any, tmp_path: Path, seed: int) -> None:
    """A small generated enterprise (graphnet.generate): every window holding planted
    scenarios after at least two earlier windows is scored through the store; the top k
    conversations (k = planted pairs of the window, truth.json) are mostly planted ones."""
    generate = pytest.importorskip("graphnet.generate")
    out = tmp_path / "gen"
    generate.generate(
        out,
        generate.GenerateOptions(weeks=5, hosts=60, seed=seed, scale=5000, scenarios=SCENARIOS),
    )
    truth = json.loads((out / "truth.json").read_text())
    st = settings()
    result = ingest.ingest(store, sorted(p for p in out.iterdir() if p.is_dir()), st)
    assert not result.failed
    by_window: dict[str, set[tuple[str, str]]] = {}
    for sc in truth["scenarios"]:
        by_window.setdefault(sc["window"], set()).update(tuple(p) for p in sc["pairs"])
    scored = 0
    for window, planted in sorted(by_window.items()):
        if truth["weeks"].index(window) < 2:
            continue
        res = score_window(store, window, st)
        conv = res.scores.conversations
        k = len(planted)
        top = list(zip(conv["src"][:k], conv["dst"][:k], strict=True))
        precision = sum(p in planted for p in top) / k
        assert precision >= 0.8, (window, conv.head(k + 3))
        assert planted & {tuple(f.hosts) for f in res.findings}
        scored += 1
    assert scored >= 1
