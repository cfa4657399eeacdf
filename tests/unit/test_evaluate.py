"""The evaluation harness: truth, labels, metrics and the JSON it reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from graphnet import windows
from graphnet.config import Settings
from graphnet.detectors.contract import Context, DetectorRun, Step
from graphnet.detectors.registry import default_steps
from graphnet.evaluation.harness import EvalWindow, evaluate, window_truth
from graphnet.evaluation.metrics import ranking_metrics
from graphnet.evaluation.truth import label_positive, load_truth
from graphnet.generate.frames import synthetic_connections


def write_archive(home: Path, frame: pd.DataFrame) -> Settings:
    st = Settings(home=home)
    win = windows.window_ids(frame["ts"].to_numpy()).to_numpy()
    for w in sorted(set(win)):
        path = st.archive_dir / w / "00000000000000aa.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame[win == w].reset_index(drop=True).to_parquet(path)
    return st


def test_ranking_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.1
    s = rng.normal(size=500) + 2 * y
    m = ranking_metrics(y, s, k=20)
    assert m["auc"] == pytest.approx(roc_auc_score(y, s))
    assert m["ap"] == pytest.approx(average_precision_score(y, s))
    assert m["precision_at_k"] == pytest.approx(y[np.argsort(-s, kind="stable")[:20]].mean())
    assert m["k"] == 20 and m["positives"] == int(y.sum()) and m["candidates"] == 500
    one = ranking_metrics(np.zeros(5, bool), np.arange(5.0), k=10)
    assert one["auc"] is None and one["ap"] is None and one["k"] == 5
    assert ranking_metrics(np.array([], bool), np.array([]), 10)["precision_at_k"] is None


def test_labels_of_cidds_stratosphere_and_ctu() -> None:
    f = pd.DataFrame(
        {
            "label": [
                "normal",
                "attacker",
                "victim",
                "suspicious",
                "unknown",
                "Malicious",
                "Benign",
                "flow=From-Botnet-V42-TCP-Established",
                "flow=Background-UDP",
                "flow=To-Normal-V42-Jist",
                "-",
                None,
            ],
            "attack_type": [
                "---",
                "portScan",
                "dos",
                "---",
                "---",
                "-",
                "-",
                "-",
                "-",
                "-",
                "-",
                None,
            ],
        }
    )
    got = label_positive(f).tolist()
    want = [False, True, True, None, None, True, False, True, False, False, None, None]
    assert [None if pd.isna(x) else bool(x) for x in got] == want


def test_truth_json_of_the_generator(tmp_path: Path) -> None:
    truth = {
        "scenarios": [
            {
                "id": "attack_server-1",
                "type": "attack_server",
                "attack_id": 1,
                "window": "2024-W11",
                "start": "2024-03-12T09:00:00+00:00",
                "end": "2024-03-12T10:00:00+00:00",
                "hosts": {
                    "attacker": "10.0.0.5",
                    "victims": ["10.0.3.9", "10.0.3.8"],
                    "scanned_subnet": "10.0.1.0/24",
                },
                "pairs": [["10.0.0.5", "10.0.3.9"]],
                "uids": ["Ca", "Cb", "Cc"],
                "phases": [
                    {
                        "attack_type": "portScan",
                        "start": "2024-03-12T09:00:00+00:00",
                        "end": "2024-03-12T09:10:00+00:00",
                        "targets": ["10.0.3.9"],
                    },
                    {
                        "attack_type": "dos",
                        "start": "2024-03-12T09:50:00+00:00",
                        "end": "2024-03-12T10:00:00+00:00",
                        "targets": ["10.0.3.8"],
                    },
                ],
            }
        ]
    }
    path = tmp_path / "truth.json"
    path.write_text(json.dumps(truth))
    (s,) = load_truth(path)
    assert s.attackers == ["10.0.0.5"] and s.victims == ["10.0.3.9", "10.0.3.8"]
    assert s.start == pytest.approx(1710234000.0) and s.uids == {"Ca", "Cb", "Cc"}
    t0 = s.start
    conns = pd.DataFrame(
        {
            "ts": [t0 + 60, t0 + 3000, t0 + 3100, t0 + 200],
            "uid": ["Ca", "Cb", "Cc", "Cx"],
            "src": ["10.0.0.5", "10.0.0.5", "10.0.0.5", "10.0.0.7"],
            "dst": ["10.0.3.9", "10.0.3.8", "10.0.3.9", "10.0.3.9"],
        }
    )
    ctx = EvalWindow(None, Settings(home=tmp_path), "2024-W11")
    ctx.__dict__["conns"] = conns  # as if read from the archive
    wt = window_truth(ctx, [s])
    assert wt.label.tolist() == [True, True, True, False]
    assert wt.kind.tolist() == ["attack_server/portScan", "attack_server/dos", "attack_server", ""]
    assert wt.hosts == {"10.0.0.5": "attacker", "10.0.3.9": "victim", "10.0.3.8": "victim"}
    assert ("10.0.0.5", "10.0.3.8") in wt.pairs
    other = EvalWindow(None, ctx.settings, "2024-W12")
    other.__dict__["conns"] = conns
    assert not window_truth(other, [s]).label.any()  # the scenario is in another window


@pytest.fixture(scope="module")
def synthetic_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Path, dict]:
    home = tmp_path_factory.mktemp("eval")
    frame, truth = synthetic_connections(7, weeks=5, clients=30)
    st = write_archive(home, frame)
    path = home / "truth.json"
    path.write_text(json.dumps(truth))
    return st, path, truth


def test_evaluate_synthetic_network(synthetic_archive: tuple[Settings, Path, dict]) -> None:
    st, path, truth = synthetic_archive
    res = evaluate(None, path, None, st, detectors=["lda", "volume"], k=50)
    json.dumps(res, allow_nan=False)  # JSON-safe
    assert res["window"] == truth["scenarios"][0]["window"] and res["truth"] == "truth"
    attacker = truth["scenarios"][0]["hosts"]["attacker"]
    for name in ("lda", "volume"):
        d = res["detectors"][name]
        assert d["available"] and d["level"] == "connection"
        assert d["auc"] >= 0.9 and d["ap"] > 0.5 and d["k"] == 50
        assert set(d["by_type"]) == {"port_scan", "ping_scan", "brute_force", "dos"}
        assert d["pair"]["auc"] is not None and d["host"]["auc"] is not None
        assert d["host_ranks"][attacker] <= 3
        assert d["alerts_per_day"] >= 0
    assert res["detectors"]["lda"]["by_type"]["port_scan"]["auc"] >= 0.8
    assert res["detectors"]["lda"]["by_type"]["brute_force"]["auc"] >= 0.8
    assert res["detectors"]["volume"]["by_type"]["dos"]["auc"] >= 0.9
    c = res["combined"]
    assert c["available"] and c["host_ranks"][attacker] <= 3
    assert c["top"][0]["explanation"].startswith(c["top"][0]["host"])


def test_registry_is_pluggable_and_failures_are_reported(
    synthetic_archive: tuple[Settings, Path, dict],
) -> None:
    st, path, truth = synthetic_archive
    attacker = truth["scenarios"][0]["hosts"]["attacker"]

    def oracle(ctx: Context) -> DetectorRun:
        return DetectorRun(
            "oracle", ctx.window, "", host_scores=pd.Series({attacker: 1.0}), alerts=1.0
        )

    def broken(ctx: Context) -> DetectorRun:
        raise RuntimeError("boom")

    steps = (
        *default_steps(),
        Step("oracle", oracle, "knows the truth", kind="novel_connection"),
        Step("broken", broken, "always fails", kind="novel_connection"),
    )
    res = evaluate(None, path, None, st, detectors=["oracle", "broken"], steps=steps)
    o = res["detectors"]["oracle"]
    assert o["level"] == "host" and o["host_ranks"][attacker] == 1.0
    assert o["alerts_per_day"] == pytest.approx(1.0 / 7.0, rel=0.05)
    assert res["detectors"]["broken"] == {"available": False, "reason": "RuntimeError: boom"}
    assert res["combined"]["host_ranks"][attacker] == 1.0
    with pytest.raises(ValueError, match="unknown detector"):
        evaluate(None, path, None, st, detectors=["nope"])
    assert [s.name for s in default_steps()][-1] == "browser_labels"  # the registry unchanged


def test_evaluate_labelled_logs(tmp_path: Path) -> None:
    frame, truth = synthetic_connections(3, weeks=2, clients=20)
    attack = set().union(*(set(s["uids"]) for s in truth["scenarios"]))
    is_attack = frame["uid"].isin(attack)
    frame["label"] = np.where(is_attack, "Malicious", "Benign")
    frame.loc[frame.index[:50], "label"] = "Unknown"
    st = write_archive(tmp_path, frame)
    res = evaluate(None, None, None, st, detectors=["lda"])
    assert res["truth"] == "labels" and res["window"] == truth["scenarios"][0]["window"]
    assert res["positives"] == int(is_attack.sum())
    d = res["detectors"]["lda"]
    assert 0 < d["candidates"] < len(frame)  # one week, unknown labels left out
    assert d["auc"] > 0.8
    assert truth["scenarios"][0]["hosts"]["attacker"] in d["host_ranks"]
    with pytest.raises(ValueError, match="no window"):
        evaluate(None, None, None, Settings(home=tmp_path / "empty"))


def test_pooled_windows_keep_each_block_with_its_own_window() -> None:
    """A detector unavailable in the first window (behaviour has no history there): its ranks
    and alerts belong to the windows where it ran."""
    from graphnet.evaluation.metrics import pooled

    def window(w: str, days: float, beh: dict[str, Any]) -> dict[str, Any]:
        combined = {
            "available": True,
            "alerts_per_day": 1.0,
            "host_ranks": {"a": 1.0},
            "unplanted_above": {"a": 0},
        }
        return {"window": w, "days": days, "detectors": {"behaviour": beh}, "combined": combined}

    results = [
        window("W1", 7.0, {"available": False, "reason": "no history"}),
        window("W2", 1.0, {"available": True, "alerts_per_day": 10.0, "host_ranks": {"b": 2.0}}),
    ]
    out = pooled(results)
    beh = out["detectors"]["behaviour"]
    assert beh["windows"] == 1 and beh["host_ranks"] == {"b@W2": 2.0}
    assert beh["alerts_per_day"] == pytest.approx(10.0)  # over the one day it ran
    assert out["combined"]["unplanted_above"] == {"a@W1": 0, "a@W2": 0}


# ------------------------------------------------------------ application-log plants
def app_truth(window: str) -> dict[str, Any]:
    """A truth.json of `graphnet generate --app-logs` (hand-written): the three plants and a
    connection scenario; the last names the detectors meant for it itself."""

    def plant(i: int, kind: str, client: str, victim: str, logs: list[str]) -> dict[str, Any]:
        return {
            "id": f"{kind}-{i}",
            "type": kind,
            "window": window,
            "start": "2024-01-30T10:00:00Z",
            "hosts": {"attacker": client, "victims": [victim]},
            "pairs": [[client, victim]],
            "uids": [],
            "details": {"logs": logs},
        }

    own = plant(5, "exfil", "10.1.0.18", "203.0.113.7", ["conn", "http"])
    own["detectors"] = ["suspicious_http"]
    return {
        "scenarios": [
            plant(1, "dns_tunnel", "10.1.0.13", "10.2.0.1", ["conn", "dns"]),
            plant(2, "dga", "10.1.0.19", "10.2.0.1", ["conn", "dns"]),
            plant(3, "ua_beacon", "10.1.0.20", "203.0.113.9", ["conn", "http"]),
            plant(4, "beaconing", "10.1.0.21", "203.0.113.8", []),
            own,
        ]
    }


def test_truth_knows_the_application_log_plants_and_their_clients(tmp_path: Path) -> None:
    path = tmp_path / "truth.json"
    path.write_text(json.dumps(app_truth("2024-W05")))
    tunnel, dga, beacon, conn, own = load_truth(path)
    assert tunnel.detectors == ("suspicious_dns", "dns_tunnel") and tunnel.client == "10.1.0.13"
    assert tunnel.logs == ("conn", "dns") and beacon.logs == ("conn", "http")
    assert dga.detectors == ("suspicious_dns",) and dga.client == "10.1.0.19"
    assert beacon.detectors == ("suspicious_http",) and beacon.client == "10.1.0.20"
    assert conn.detectors == () and conn.client is None and conn.logs == ("conn",)
    assert own.detectors == ("suspicious_http",) and own.client == "10.1.0.18"
    assert tunnel.victims == ["10.2.0.1"]  # the DNS server: a victim as before
    conns = pd.DataFrame(
        {
            "ts": [1706608800.0],
            "uid": ["C1"],
            "src": ["10.1.0.13"],
            "dst": ["10.2.0.1"],
        }
    )
    ctx = EvalWindow(None, Settings(home=tmp_path), "2024-W05")
    ctx.__dict__["conns"] = conns
    wt = window_truth(ctx, load_truth(path))
    assert [p["id"] for p in wt.plants] == ["dns_tunnel-1", "dga-2", "ua_beacon-3", "exfil-5"]
    assert wt.clients_of("suspicious_dns") == ["10.1.0.13", "10.1.0.19"]
    assert wt.clients_of("suspicious_http") == ["10.1.0.18", "10.1.0.20"]
    assert wt.clients_of("dns_tunnel") == ["10.1.0.13"] and wt.clients_of("lda") == []
    assert wt.hosts["10.1.0.21"] == "attacker" and wt.hosts["10.2.0.1"] == "victim"
    other = EvalWindow(None, ctx.settings, "2024-W06")
    other.__dict__["conns"] = conns
    assert window_truth(other, load_truth(path)).plants == []


def test_record_detectors_are_measured_at_host_level_against_the_plants_clients(
    synthetic_archive: tuple[Settings, Path, dict], tmp_path: Path
) -> None:
    st, _, truth = synthetic_archive
    window = truth["scenarios"][0]["window"]
    path = tmp_path / "truth.json"
    plants = app_truth(window)["scenarios"][:3]
    path.write_text(json.dumps({"scenarios": [*truth["scenarios"], *plants]}))

    def dns(ctx: Context) -> DetectorRun:
        scores = pd.Series({"10.1.0.20": 5.0, "10.1.0.13": 4.0, "10.1.0.19": 1.0})
        records = pd.Series({"D1": 3.0, "D2": 1.0})  # uids of records, not of connections
        return DetectorRun(
            "suspicious_dns", ctx.window, "", host_scores=scores, conn_scores=records, alerts=7.0
        )

    def http(ctx: Context) -> DetectorRun:
        scores = pd.Series({"10.1.0.20": 2.0, "10.1.0.11": 1.0})
        return DetectorRun("suspicious_http", ctx.window, "", host_scores=scores, alerts=0.0)

    fake = {"suspicious_dns": dns, "suspicious_http": http}
    steps = tuple(
        Step(s.name, fake[s.name], s.description, kind=s.kind) if s.name in fake else s
        for s in default_steps()
    )
    res = evaluate(
        None, path, window, st, detectors=["suspicious_dns", "suspicious_http"], steps=steps
    )
    json.dumps(res, allow_nan=False)
    d = res["detectors"]["suspicious_dns"]
    assert d["level"] == "host" and "by_type" not in d and "pair" not in d
    assert d["clients"] == ["10.1.0.13", "10.1.0.19"]
    assert d["host_ranks"] == {"10.1.0.13": 2.0, "10.1.0.19": 3.0}
    assert d["ap"] == pytest.approx((1 / 2 + 2 / 3) / 2)  # positives at ranks 2 and 3
    assert d["alerts_per_day"] == pytest.approx(7.0 / res["days"])
    h = res["detectors"]["suspicious_http"]
    assert h["clients"] == ["10.1.0.20"] and h["host_ranks"] == {"10.1.0.20": 1.0}
    assert h["auc"] == 1.0 and h["ap"] == 1.0
    by_type = {p["type"]: p for p in res["plants"]}
    assert set(by_type) == {"dns_tunnel", "dga", "ua_beacon"}
    assert by_type["dns_tunnel"]["ranks"] == {"suspicious_dns": 2.0, "dns_tunnel": None}
    assert by_type["dga"]["ranks"] == {"suspicious_dns": 3.0}
    assert by_type["ua_beacon"]["ranks"] == {"suspicious_http": 1.0}
    comb = res["combined"]
    for p in res["plants"]:
        assert p["client"] == next(s["hosts"]["attacker"] for s in plants if s["id"] == p["id"])
        assert p["combined"] == comb["host_ranks"][p["client"]]
        assert p["unplanted_above"] == comb["unplanted_above"][p["client"]]
    assert by_type["ua_beacon"]["combined"] == 1.0 and by_type["ua_beacon"]["unplanted_above"] == 0
    # a window without plants: no "plants"; no client to find, so no AUC / AP
    plain = evaluate(
        None, synthetic_archive[1], window, st, detectors=["suspicious_dns"], steps=steps
    )
    d = plain["detectors"]["suspicious_dns"]
    assert "plants" not in plain and d["level"] == "host" and d["clients"] == []
    assert d["auc"] is None and d["ap"] is None and d["host_ranks"] == {}
