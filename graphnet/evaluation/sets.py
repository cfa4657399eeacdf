"""The data sets behind docs/evaluation.md: generated networks and labelled real logs.

`evaluate_all` generates a network per seed (graphnet.generate), ingests it, evaluates every
window with planted scenarios; then, per seed, a network with application logs (dns.log and
http.log, `GenerateOptions.app_logs`) and only the application-log plants, evaluated the same
way; then ingests each labelled real log set of `LABELLED_SETS` found under the shared data
folder alone (hour windows) and evaluates it against its labels; the figures go to
docs/evaluation.md (`figures.write_figures`).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from graphnet.archive import Archive
from graphnet.config import Settings
from graphnet.evaluation.figures import write_figures
from graphnet.evaluation.harness import evaluate
from graphnet.evaluation.metrics import json_number, pooled
from graphnet.store import Store

log = logging.getLogger(__name__)


#: labelled real log sets under the shared data folder (path, format or None, window kind)
LABELLED_SETS: tuple[tuple[str, str | None, str], ...] = (
    ("zeek/slips/test18-malicious-ctu-sme-11-win/zeek-labeled/conn.log.labeled", None, "hour"),
    ("zeek/stratosphere/normal-2023-02-20/conn.log.labeled", None, "hour"),
    ("netflow/ctu-binetflow/test5-mixed.binetflow", None, "hour"),
)


#: the data sets `evaluate_all` can produce, in order
SETS: tuple[str, ...] = ("generated", "applogs", "labelled")


def merge_hourly_logs(src: Path, dst: Path, logs: Sequence[str] = ("conn",)) -> list[Path]:
    """Concatenate a generated network's hourly gzip Zeek logs into one file per week and log
    (`logs`: conn, and dns / http for a network with application logs; gzip members and
    header blocks concatenate: `zcat`-compatible and read as one log). Ingest records each
    file in its ledger, so fewer files ingest much faster."""
    dst.mkdir(parents=True, exist_ok=True)
    days = sorted(p for p in src.iterdir() if p.is_dir())
    out = []
    for i in range(0, len(days), 7):
        for name in logs:
            path = dst / f"week{i // 7 + 1}.{name}.log.gz"
            with path.open("wb") as fh:
                for d in days[i : i + 7]:
                    for f in sorted(d.glob(f"{name}.*.log.gz")):
                        fh.write(f.read_bytes())
            out.append(path)
    return out


def _fresh(store: Store, home: Path, window_kind: str) -> Settings:
    store.clear()
    home.mkdir(parents=True, exist_ok=True)
    return Settings(home=home, window=window_kind)


def evaluate_all(
    store: Store,
    work: Path,
    *,
    seeds: Sequence[int] = (1, 2, 3),
    weeks: int = 4,
    hosts: int = 60,
    scale: int | None = None,
    shared_data: Path | None = None,
    out: Path | None = None,
    detectors: Sequence[str] | None = None,
    clear: bool = False,
    sets: Sequence[str] = SETS,
) -> dict[str, Any]:
    """Produce the figures of docs/evaluation.md: for each seed a generated network
    (graphnet.generate, `weeks` x `hosts`) ingested with graphnet.ingest and evaluated on every
    window with planted scenarios; for each seed a network of the same size with application
    logs (dns.log, http.log) and only the application-log plants (`APP_SCENARIOS`: DNS
    tunnelling, a DGA-like client, a rare-user-agent http beacon), evaluated the same way;
    then every labelled real log set of LABELLED_SETS found under `shared_data`, ingested alone
    in hour windows and evaluated against its labels. `sets` chooses among them (SETS; all by
    default: the figures of docs/evaluation.md are the full run's).

    The graph is CLEARED before each data set: pass `clear=True` to confirm, against a
    scratch Neo4j. With `out`, the figures replace the block between FIGURES_START and
    FIGURES_END of that markdown file (appended when absent)."""
    if not clear:
        raise ValueError("evaluate_all clears the graph for every data set: pass clear=True")
    unknown = [x for x in sets if x not in SETS]
    if unknown:
        raise ValueError(f"unknown data set(s) {', '.join(unknown)}; choose from {', '.join(SETS)}")
    from graphnet import generate as gen
    from graphnet import ingest

    results: dict[str, Any] = {"generated": [], "applogs": [], "labelled": []}
    for part, name, logs in (
        ("generated", "generated", ("conn",)),
        ("applogs", "applogs", ("conn", "dns", "http")),
    ):
        if part not in sets:
            continue
        app = part == "applogs"
        for seed in seeds:
            t0 = time.perf_counter()
            src = work / f"{name}-{seed}"
            if not (src / "truth.json").exists():
                opts = gen.GenerateOptions(weeks=weeks, hosts=hosts, seed=seed, scale=scale)
                if app:
                    opts.app_logs, opts.scenarios = True, tuple(gen.APP_SCENARIOS)
                gen.generate(src, opts)
            files = merge_hourly_logs(src, work / f"{name}-{seed}-weekly", logs)
            st = _fresh(store, work / f"home-{name}-{seed}", "week")
            ing = ingest.ingest(store, files, st)
            log.info("%s network, seed %d: ingested in %.0f s", name, seed, ing.seconds)
            res = evaluate(store, src / "truth.json", None, st, detectors=detectors)
            entry: dict[str, Any] = {
                "seed": seed,
                "weeks": weeks,
                "hosts": hosts,
                "connections": ing.accepted,
                "seconds": time.perf_counter() - t0,
                "result": res,
            }
            if app:
                entry["records"] = {
                    k: sum(f.records.get(k, 0) for f in ing.files) for k in ("dns", "http")
                }
            results[part].append(entry)
    root = shared_data if "labelled" in sets else None
    for rel, fmt, kind in LABELLED_SETS if root is not None else ():
        assert root is not None
        path = root / rel
        if not path.exists():
            log.info("labelled set %s not found, skipped", path)
            continue
        t0 = time.perf_counter()
        st = _fresh(store, work / ("home-" + re.sub(r"[^A-Za-z0-9]+", "-", rel)), kind)
        ing = ingest.ingest(store, [path], st, window=kind, fmt=fmt)
        try:
            res = evaluate(store, None, None, st, detectors=detectors)
        except ValueError:  # no labelled attack: false alarms only, on every window
            per = [
                evaluate(store, None, w, st, detectors=detectors) for w in Archive(st).windows()[1:]
            ]
            res = {"window": None, "windows": per, **pooled(per)}
        results["labelled"].append(
            {
                "set": rel,
                "window_kind": kind,
                "connections": ing.accepted,
                "seconds": time.perf_counter() - t0,
                "result": json_number(res),
            }
        )
    if out is not None:
        write_figures(out, results)
    return json_number(results)
