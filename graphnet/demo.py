"""`graphnet demo`: generate a realistic network with planted attacks, ingest it, run every
analysis, and compare what was found with the ground truth.

The demo works on the graph the settings point at. It refuses to touch a graph that holds
other data (ingested by the user), and replaces a graph made by an earlier demo run.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphnet import findings as findings_mod
from graphnet import ingest as ingest_mod
from graphnet import pipeline
from graphnet.config import Settings
from graphnet.errors import ConfigError
from graphnet.store import Store

log = logging.getLogger(__name__)

#: which finding kinds are expected to reveal each planted scenario type
EXPECTED: dict[str, tuple[str, ...]] = {
    "attack_server": ("centrality_shift", "suspicious_connect", "novel_connection"),
    "lateral_movement": ("deviating_path", "novel_connection", "first_behaviour"),
    "beaconing": (
        "novel_connection",
        "suspicious_connect",
        "volume_anomaly",
        "first_behaviour",
        "beacon",
    ),
    "handshake_anomaly": ("novel_connection",),
    "new_protocol": ("novel_connection",),
    "new_host": ("novel_connection", "centrality_shift", "first_behaviour"),
}


@dataclass
class Detection:
    scenario: str
    type: str
    window: str
    hosts: list[str]
    found: bool
    kind: str | None = None
    rank: int | None = None  # rank of the matching finding among its kind in that window
    of: int = 0  # findings of that kind in that window
    score: float | None = None
    explanation: str = ""


@dataclass
class DemoResult:
    data_dir: Path
    records: int
    generated_seconds: float
    ingest_seconds: float
    analysis_seconds: float
    windows: list[str]
    steps: dict[str, list[dict[str, Any]]]
    detections: list[Detection]
    findings_per_window: dict[str, dict[str, int]] = field(default_factory=dict)
    report: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "data_dir": str(self.data_dir),
            "records": self.records,
            "seconds": {
                "generate": round(self.generated_seconds, 1),
                "ingest": round(self.ingest_seconds, 1),
                "analyse": round(self.analysis_seconds, 1),
            },
            "windows": self.windows,
            "steps": self.steps,
            "findings": self.findings_per_window,
            "detections": [d.__dict__ for d in self.detections],
            "report": self.report,
        }


def _scenario_hosts(s: dict[str, Any]) -> list[str]:
    hosts: list[str] = []
    for v in s.get("hosts", {}).values():
        for h in v if isinstance(v, list) else [v]:
            if isinstance(h, str) and "/" not in h and h not in hosts:
                hosts.append(h)
    return hosts


def match_truth(
    truth: dict[str, Any], by_window: dict[str, list[findings_mod.Finding]]
) -> list[Detection]:
    """For each planted scenario, the best-ranked finding of an expected kind in its window
    that names the scenario's attacker (or, when it has none, one of its hosts)."""
    out = []
    for s in truth.get("scenarios", []):
        hosts = _scenario_hosts(s)
        key = s.get("hosts", {}).get("attacker")
        wanted = {key} if isinstance(key, str) else set(hosts)
        best: Detection | None = None
        found = by_window.get(s["window"], [])
        for kind in EXPECTED.get(s["type"], ()):
            ranked = [f for f in found if f.kind == kind]
            for rank, f in enumerate(ranked, start=1):
                if wanted & set(f.hosts):
                    cand = Detection(
                        s["id"],
                        s["type"],
                        s["window"],
                        hosts,
                        True,
                        kind,
                        rank,
                        len(ranked),
                        f.score,
                        f.explanation,
                    )
                    if best is None or (cand.rank or 0) < (best.rank or 0):
                        best = cand
                    break
        out.append(best or Detection(s["id"], s["type"], s["window"], hosts, False))
    return out


def run_demo(
    store: Store,
    settings: Settings,
    out: Path | None = None,
    weeks: int = 4,
    hosts: int = 120,
    seed: int = 7,
    scale: int | None = None,
    report_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
    ingest_progress: ingest_mod.Progress | None = None,
) -> DemoResult:
    """Generate, ingest, analyse every window, and match the findings with the truth."""
    from graphnet import browser
    from graphnet.generate import GenerateOptions, generate

    say = progress or (lambda msg: log.info("%s", msg))
    meta = store.read("demo_meta")
    held = ingest_mod.stats(store)
    if held["connections"] and not (meta and meta[0]["demo"]):
        raise ConfigError(
            f"the graph already holds {held['connections']:,} connections of your own",
            hint="the demo needs an empty graph: `graphnet reset` it, or point NEO4J_URI at "
            "another server",
        )
    data = out or settings.home / "demo" / f"seed{seed}-w{weeks}-h{hosts}"
    opts = GenerateOptions(weeks=weeks, hosts=hosts, seed=seed, scale=scale)
    t0 = time.perf_counter()
    truth_path = data / "truth.json"
    if truth_path.exists():
        truth = json.loads(truth_path.read_text())
        records = int(truth.get("records", 0))
        say(f"using the network generated earlier in {data}")
    else:
        say(f"generating {weeks} weeks of traffic for {hosts} hosts (seed {seed}) into {data}")
        res = generate(data, opts)
        records = res.records
        truth = json.loads(truth_path.read_text())
    generated = time.perf_counter() - t0

    if held["connections"]:
        say("replacing the graph of an earlier demo run")
        ingest_mod.reset(store, settings)
    store.write("demo_mark")
    t0 = time.perf_counter()
    say("ingesting")
    # the truth names week windows: a demo home gets them whatever `auto` would choose
    weekly = settings if settings.window != "auto" else dataclasses.replace(settings, window="week")
    result = ingest_mod.ingest(store, [data], weekly, progress=ingest_progress)
    records = records or result.accepted
    ingested = time.perf_counter() - t0

    t0 = time.perf_counter()
    windows = [r["window"] for r in store.read("windows_list")]
    steps: dict[str, list[dict[str, Any]]] = {}
    for w in windows:
        say(f"analysing {w}")
        analysis = pipeline.analyse_window(store, settings, w, mark=True)
        steps[w] = [o.to_json() for o in analysis.outcomes]
    analysed = time.perf_counter() - t0

    by_window = {w: findings_mod.load(store, window=w) for w in windows}
    counts = {
        w: {k: sum(1 for f in fs if f.kind == k) for k in findings_mod.KINDS}
        for w, fs in by_window.items()
    }
    detections = match_truth(truth, by_window)
    report_path = None
    try:
        from graphnet import reports

        attack_windows = sorted({d.window for d in detections}) or windows[-1:]
        for w in attack_windows:
            paths = reports.generate_report(
                store, settings, w, report_dir, browser_url=browser.browser_address(settings)
            )
            report_path = str(paths["html"])
    except Exception:  # the demo still shows its findings when a report cannot be written
        log.exception("writing the report failed")
    return DemoResult(
        data,
        records,
        generated,
        ingested,
        analysed,
        windows,
        steps,
        detections,
        counts,
        report_path,
    )
