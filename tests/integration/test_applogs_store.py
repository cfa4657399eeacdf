"""The DNS / proxy suspicious connects and DNS tunnelling from what `graphnet ingest` stored:
generated conn, dns and http logs ingested into a real Neo4j, then `graphnet analyse`'s
pipeline. The steps read the archive's dns/http records (the default source) and score
exactly as from the same records given as frames; the plants lead; the findings are saved and
their Browser queries name the graph's RESOLVED / REQUESTED edges."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from graphnet import findings, ingest, pipeline
from graphnet.config import Settings
from graphnet.detectors.applogs import STEPS, AppLogsSource, FrameLogs
from graphnet.detectors.applogs.steps import run_dns, run_http, run_tunnel
from graphnet.detectors.contract import Context
from graphnet.generate import GenerateOptions, generate
from tests.unit.applogs_helpers import load


@pytest.mark.parametrize("seed", [1, 2])
def test_app_log_steps_from_the_archive(store, tmp_path: Path, seed: int) -> None:  # type: ignore[no-untyped-def]
    logs = tmp_path / "logs"
    opts = GenerateOptions(
        weeks=2,
        hosts=60,
        scale=3000,
        seed=seed,
        app_logs=True,
        scenarios=("dns_tunnel", "dga", "ua_beacon"),
    )
    generate(logs, opts)
    truth = json.loads((logs / "truth.json").read_text())
    plants = {s["type"]: s for s in truth["scenarios"]}
    window = plants["dns_tunnel"]["window"]
    settings = Settings.from_env()
    files = sorted(p for p in logs.rglob("*.log.gz"))
    res = ingest.ingest(store, files, settings)
    assert not res.failed

    done = pipeline.analyse_window(store, settings, window, list(STEPS))
    assert [o.status for o in done.outcomes] == ["ok", "ok", "ok"], done.to_json()

    # the archive's records score exactly as the same records given as frames
    frames = {"dns": load(logs, "dns"), "http": load(logs, "http")}
    for run in (run_dns, run_http, run_tunnel):
        mine = run(Context.of(settings, window, save=False))
        given = run(
            Context.of(settings, window, save=False, options=(AppLogsSource(FrameLogs(frames)),))
        )
        assert mine.host_scores is not None and given.host_scores is not None
        pd.testing.assert_frame_equal(
            pd.DataFrame(mine.host_scores), pd.DataFrame(given.host_scores), check_names=False
        )

    tunnel = findings.load(store, window=window, kind="dns_tunnel")
    assert tunnel and tunnel[0].hosts[0] == plants["dns_tunnel"]["hosts"]["attacker"]
    assert tunnel[0].evidence["domain"] == plants["dns_tunnel"]["details"]["domain"]
    assert "RESOLVED" in tunnel[0].cypher and "Domain" in tunnel[0].cypher
    # the finding's domain is a Domain of the graph (one registered-domain rule for both)
    resolved = store.read("browser/dns_domains", window=window)
    assert (tunnel[0].hosts[0], tunnel[0].evidence["domain"]) in {
        (r["client"], r["domain"]) for r in resolved
    }
    dns = findings.load(store, window=window, kind="suspicious_dns")
    assert {plants["dns_tunnel"]["hosts"]["attacker"], plants["dga"]["hosts"]["attacker"]} <= {
        f.hosts[0] for f in dns[:3]
    }
    http = findings.load(store, window=window, kind="suspicious_http")
    assert {f.id for f in http} == {f.id for f in done.runs["suspicious_http"].findings}
    ranked = done.runs["suspicious_http"].host_scores
    assert ranked is not None
    assert plants["ua_beacon"]["hosts"]["attacker"] in list(ranked.index[:3])
    assert "REQUESTED" in http[0].cypher
    # the saved Browser query of a client: its findings beside what it resolved and requested
    tunneller = plants["dns_tunnel"]["hosts"]["attacker"]
    (row,) = store.read("browser/dns_http_client", host=tunneller, window=window)
    assert {"dns_tunnel", "suspicious_dns"} <= {f["kind"] for f in row["findings"]}
    assert row["resolved"][0]["domain"] == plants["dns_tunnel"]["details"]["domain"]
    beaconer = plants["ua_beacon"]["hosts"]["attacker"]
    (row,) = store.read("browser/dns_http_client", host=beaconer, window=window)
    assert row["requested"] and all(r["user_agents"] for r in row["requested"])
