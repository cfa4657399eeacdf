"""Real captures with a known bad host: where does the combined ranking put it?

Issue 15's question for real logs: each labelled capture of the shared data folder that has a
known bad host (`CAPTURES`) is ingested **alone, with graphnet's defaults** (a fresh home and a
cleared graph, the window kind the command line chooses for a new home: `auto`, hour windows
for a capture shorter than a day, day windows up to two weeks), every window is analysed as
`graphnet analyse --all` does (`graphnet.pipeline.analyse`, findings saved), and each window is
ranked as `graphnet risk` does (`graphnet.risk.risk_window`, from the stored findings, default
`RiskSettings`). Reported per capture:

- the rank of each bad host in every window it appears in (rank 1 = top; **ties pessimistic**:
  a host's rank is the number of hosts whose combined risk is at least its own, so a block of
  hosts tied at the top, or at zero, does not flatter any of them), its best rank over the
  windows and its rank in its **main window** (the one holding most of its connections);
- the capture's figures: the best-ranked bad host (the **score**: best over its bad hosts of
  the main-window rank) and each bad host's ranks;
- alerts per day: combined = hosts with combined p < alpha (`RiskResult.alerts`, as
  `graphnet risk` counts them), per detector = the `alerts` of its `DetectorRun` (what it
  raises at its own threshold, as the evaluation harness counts them); days = the observed span
  of each window's connections (at least an hour, `graphnet.windows.span_days`), summed over
  the windows;
- the steps skipped or failed in each window and why.

The bad hosts come from the capture's labels (`bad_hosts_from_labels`: the sources and/or
destinations of the connections the labels call an attack) or from the shared data README.
Nothing of the data is copied: files are read in place under the shared data folder.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graphnet import windows
from graphnet.archive import Archive
from graphnet.config import Settings
from graphnet.detectors.registry import default_steps
from graphnet.evaluation.figures import replace_block
from graphnet.evaluation.metrics import json_number
from graphnet.evaluation.truth import label_positive
from graphnet.reports.escape import md, md_host
from graphnet.store import Store

log = logging.getLogger(__name__)

CAPTURES_START = "<!-- evaluate_captures:start -->"
CAPTURES_END = "<!-- evaluate_captures:end -->"

#: the combined ranking's goal (issue 15): the bad host among the first TOP_GOAL hosts ...
TOP_GOAL = 3
#: ... with at most this many combined alerts per day
ALERTS_GOAL = 10.0


@dataclass(frozen=True)
class Capture:
    """A real capture with known bad hosts.

    `files`: glob patterns relative to the shared data folder (all matches are ingested
    together, as one capture); `fmt`: the format, None to auto-detect; `bad`: the bad hosts
    named by the data README (`truth="readme"`); with `truth="labels"` the bad hosts are the
    `roles` ("src", "dst") of the connections the labels call an attack, plus `bad`."""

    name: str
    files: tuple[str, ...]
    truth: str  # "labels" | "readme"
    source: str  # where the knowledge comes from, in words
    fmt: str | None = None
    bad: tuple[str, ...] = ()
    roles: tuple[str, ...] = ("src",)
    #: hosts the source names that the capture does not hold (listed, not ranked)
    absent_ok: tuple[str, ...] = ()


CAPTURES: tuple[Capture, ...] = (
    Capture(
        "slips test18 RemcosRAT",
        ("zeek/slips/test18-malicious-ctu-sme-11-win/zeek-labeled/conn.log.labeled",),
        "labels",
        "labels (`Malicious`): the infected host they come from and their C&C peer; the data "
        "README's second C&C peer 178.237.33.50 is not in this capture",
        roles=("src", "dst"),
        absent_ok=("178.237.33.50",),
    ),
    Capture(
        "otrf-apt29 day 1",
        ("zeek/otrf-apt29/day1/zeek/individual_zeek_logs/*_conn.log",),
        "readme",
        "data README: C2 192.168.0.4 (port 8443), inferred from traffic",
        bad=("192.168.0.4",),
    ),
    Capture(
        "otrf-apt29 day 2",
        ("zeek/otrf-apt29/day2/zeek/individual_zeek_logs/*_conn.log",),
        "readme",
        "data README: C2 192.168.0.4 (port 443), inferred from traffic",
        bad=("192.168.0.4",),
    ),
    Capture(
        "stratosphere 002 port scanning",
        ("zeek/stratosphere/002-zeek-scenario-port-scanning/conn.log",),
        "readme",
        "data README: nmap scans from 172.16.1.11",
        bad=("172.16.1.11",),
    ),
    Capture(
        "ctu-binetflow test5-mixed",
        ("netflow/ctu-binetflow/test5-mixed.binetflow",),
        "labels",
        "labels (`flow=Malware-…`): their source addresses",
        roles=("src",),
    ),
)

#: captures of the shared data folder left out, and why
LEFT_OUT: tuple[tuple[str, str], ...] = (
    (
        "netflow/ctu-binetflow/test2-malicious, test3-mixed, test4-malicious, test11-portscan",
        "no label in the file and no bad host named by the data README",
    ),
    (
        "zeek/slips/port-scans/{horizontal,vertical}",
        "not labelled, and the data README names no scanner",
    ),
    (
        "zeek/stratosphere/normal-2023-02-20",
        "labelled, but benign only: no bad host (its false alarms are in the figures above)",
    ),
)


# ----------------------------------------------------------------------------- pure parts


def pessimistic_ranks(risk: pd.Series) -> pd.Series:
    """Rank of every host by combined risk, 1 = top, ties pessimistic: the number of hosts
    whose risk is at least the host's (NaN risk counts as the lowest)."""
    r = pd.Series(risk, dtype="float64").fillna(-np.inf)
    return r.rank(ascending=False, method="max").astype("float64")


def bad_hosts_from_labels(frame: pd.DataFrame, roles: Sequence[str] = ("src",)) -> list[str]:
    """The hosts the label columns (`label`, `detailed_label`, `attack_type`: see
    `graphnet.evaluation.truth.label_positive`) show as bad: the `roles` ("src", "dst") of the
    connections labelled as an attack, most such connections first."""
    if frame.empty:
        return []
    pos = label_positive(frame).fillna(False).to_numpy(dtype=bool)
    hosts = pd.concat(
        [frame.loc[pos, r].astype(str) for r in roles if r in frame.columns], ignore_index=True
    )
    if hosts.empty:
        return []
    counts = hosts.value_counts(sort=False)
    order = sorted(counts.items(), key=lambda kv: (-int(kv[1]), str(kv[0])))
    return [str(h) for h, _ in order]


def host_connections(conns: pd.DataFrame, hosts: Iterable[str]) -> dict[str, int]:
    """Connections each host takes part in (as source or destination)."""
    src = conns["src"].astype(str) if len(conns) else pd.Series(dtype=object)
    dst = conns["dst"].astype(str) if len(conns) else pd.Series(dtype=object)
    return {h: int(((src == h) | (dst == h)).sum()) for h in hosts}


def summarise(
    per_window: Sequence[dict[str, Any]], bad: Sequence[str], key: str = "ranks"
) -> dict[str, dict[str, Any]]:
    """Per bad host, from the windows' ranks (`key`) and `bad_connections`: its best rank over
    the windows (and where), its main window (most of its connections; the earlier on a tie)
    and its rank there. A host in no window gets None."""
    out: dict[str, dict[str, Any]] = {}
    for h in bad:
        seen = [w for w in per_window if w["bad_connections"].get(h, 0) > 0]
        ranked = [w for w in seen if w[key].get(h) is not None]
        if not seen:
            out[h] = {
                "connections": 0,
                "best_rank": None,
                "best_window": None,
                "main_window": None,
                "main_rank": None,
            }
            continue
        main = max(seen, key=lambda w: (w["bad_connections"][h], -per_window.index(w)))
        best = min(ranked, key=lambda w: w[key][h]) if ranked else None
        out[h] = {
            "connections": sum(w["bad_connections"][h] for w in seen),
            "best_rank": None if best is None else best[key][h],
            "best_window": None if best is None else best["window"],
            "main_window": main["window"],
            "main_rank": main[key].get(h),
            "main_hosts": main["hosts"],
        }
    return out


def _best(values: Iterable[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return min(got) if got else None


def capture_score(hosts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The capture's figures from `summarise`: the best-ranked bad host (by main-window rank,
    then best rank) with both ranks."""
    cands = [(h, r) for h, r in hosts.items() if r["main_rank"] is not None]
    if not cands:
        return {
            "host": None,
            "main_rank": None,
            "best_rank": _best(r["best_rank"] for r in hosts.values()),
        }
    h, r = min(cands, key=lambda kv: (kv[1]["main_rank"], kv[1]["best_rank"] or np.inf, kv[0]))
    return {
        "host": h,
        "main_rank": r["main_rank"],
        "best_rank": _best(x["best_rank"] for x in hosts.values()),
    }


def goal_met(score: dict[str, Any], alerts_per_day: float | None) -> bool:
    """Issue 15's goal: the best-ranked bad host within the first TOP_GOAL hosts of its main
    window (pessimistic ranks) and at most ALERTS_GOAL combined alerts a day."""
    rank = score.get("main_rank")
    return bool(
        rank is not None
        and rank <= TOP_GOAL
        and alerts_per_day is not None
        and alerts_per_day <= ALERTS_GOAL
    )


# ----------------------------------------------------------------------------- running


def capture_files(root: Path, capture: Capture) -> list[Path]:
    """The capture's files under the shared data folder (sorted; none when absent)."""
    out: list[Path] = []
    for pattern in capture.files:
        out.extend(sorted(p for p in root.glob(pattern) if p.is_file()))
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")


def evaluate_capture(store: Store, capture: Capture, root: Path, work: Path) -> dict[str, Any]:
    """Ingest one capture alone (fresh home, graph cleared) with the defaults, analyse every
    window, rank every window; see the module docstring for the figures."""
    from graphnet import ingest, pipeline
    from graphnet.risk import RiskSettings, combine, risk_window, window_hosts

    files = capture_files(root, capture)
    base: dict[str, Any] = {
        "capture": capture.name,
        "files": list(capture.files),
        "truth": capture.truth,
        "source": capture.source,
    }
    if not files:
        return {**base, "skipped": f"not found under {root}"}
    t0 = time.perf_counter()
    home = work / f"home-{_slug(capture.name)}"
    home.mkdir(parents=True, exist_ok=True)
    store.clear()
    settings = Settings(home=home, window="auto")  # the command line's default (from_env)
    ing = ingest.ingest(store, files, settings, fmt=capture.fmt)
    archive = Archive(settings)
    wins = archive.windows()
    cols = ("ts", "src", "dst")
    all_conns = archive.connections(wins, cols, labels=capture.truth == "labels", complete=True)
    bad = list(capture.bad)
    if capture.truth == "labels":
        bad = [*bad, *(h for h in bad_hosts_from_labels(all_conns, capture.roles) if h not in bad)]
    listed_absent = [h for h in capture.absent_ok if h not in bad]
    if not bad:
        return {**base, "skipped": "the labels name no bad host", "connections": ing.accepted}
    analysis = pipeline.analyse(store, settings, all_windows=True)
    rs = RiskSettings()
    by_window = {w.window: w for w in analysis.windows}
    detectors = [s.name for s in default_steps() if s.kind is not None]
    per_window: list[dict[str, Any]] = []
    for w in wins:
        conns = archive.connections([w], cols, complete=True)
        days = windows.span_days(conns, w)
        rr = risk_window(store, w, settings, rs)
        ranks = pessimistic_ranks(rr.table["risk"]) if len(rr.table) else pd.Series(dtype=float)
        wa = by_window.get(w)
        det_alerts: dict[str, float | None] = {}
        steps: list[dict[str, str]] = []
        run_scores: dict[str, pd.Series | pd.DataFrame] = {}
        run_evidence: dict[str, dict[str, str]] = {}
        if wa is not None:
            for name, run in wa.runs.items():  # as `graphnet risk --fresh` takes them
                if run.host_scores is not None and not run.skipped and len(run.host_scores):
                    run_scores[name] = run.host_scores
                    run_evidence[name] = run.evidence
            for o in wa.outcomes:
                if o.status != "ok":
                    steps.append({"step": o.name, "status": o.status, "reason": o.message})
            for d in detectors:
                got = wa.runs.get(d)
                det_alerts[d] = None if got is None or got.skipped else got.alerts
        fresh = combine(run_scores, window_hosts(store, w), rs, run_evidence)
        fresh_ranks = pessimistic_ranks(fresh["risk"]) if len(fresh) else pd.Series(dtype="float64")
        per_window.append(
            {
                "window": w,
                "connections": len(conns),
                "days": days,
                "hosts": rr.hosts,
                "ranks": {h: float(ranks[h]) if h in ranks.index else None for h in bad},
                "ranks_fresh": {
                    h: float(fresh_ranks[h]) if h in fresh_ranks.index else None for h in bad
                },
                "bad_connections": host_connections(conns, bad),
                "alerts": rr.alerts,
                "alerts_fresh": int((fresh["p"] < rs.alpha).sum()) if len(fresh) else 0,
                "top_fresh": [str(h) for h in fresh.index[:5]],
                "detector_alerts": det_alerts,
                "not_ok": steps,
                "top": [str(h) for h in rr.table.index[:5]],
            }
        )
    hosts = summarise(per_window, bad)
    hosts_fresh = summarise(per_window, bad, "ranks_fresh")
    days = sum(w["days"] for w in per_window)
    det_per_day: dict[str, float | None] = {}
    for d in detectors:
        vals = [w["detector_alerts"].get(d) for w in per_window]
        known = [float(v) for v in vals if v is not None]
        det_per_day[d] = sum(known) / days if known and days else None
    ts = all_conns["ts"].to_numpy(dtype="float64") if len(all_conns) else np.array([])
    span = (float(np.nanmin(ts)), float(np.nanmax(ts))) if len(ts) else (None, None)
    score = capture_score(hosts)
    score_fresh = capture_score(hosts_fresh)
    apd = sum(w["alerts"] for w in per_window) / days if days else None
    apd_fresh = sum(w["alerts_fresh"] for w in per_window) / days if days else None
    return json_number(
        {
            **base,
            "connections": ing.accepted,
            "rejected": ing.rejected,
            "span": span,
            "window_kind": ing.window_kind,
            "windows": per_window,
            "bad": bad,
            "absent": listed_absent,
            "bad_hosts": hosts,
            "score": score,
            "alerts_per_day": apd,
            "bad_hosts_fresh": hosts_fresh,
            "score_fresh": score_fresh,
            "alerts_per_day_fresh": apd_fresh,
            "detector_alerts_per_day": det_per_day,
            "days": days,
            "met": goal_met(score, apd),
            "met_fresh": goal_met(score_fresh, apd_fresh),
            "seconds": time.perf_counter() - t0,
        }
    )


def evaluate_captures(
    store: Store,
    root: Path | None,
    work: Path,
    *,
    names: Sequence[str] | None = None,
    out: Path | None = None,
    clear: bool = False,
) -> dict[str, Any]:
    """Every capture of `CAPTURES` (or those named) found under `root`, each ingested alone.
    The graph is CLEARED before each: pass `clear=True` to confirm, against a scratch Neo4j.
    With `out`, the block between CAPTURES_START and CAPTURES_END of that markdown file is
    replaced (appended when absent)."""
    if not clear:
        raise ValueError("evaluate_captures clears the graph for every capture: pass clear=True")
    chosen = [c for c in CAPTURES if not names or c.name in names]
    results: list[dict[str, Any]] = []
    for c in chosen:
        if root is None:
            results.append({"capture": c.name, "skipped": "no shared data folder"})
            continue
        log.info("capture %s", c.name)
        results.append(evaluate_capture(store, c, root, work))
    data = {"captures": results, "left_out": [list(x) for x in LEFT_OUT]}
    if out is not None:
        write_captures(out, data)
    return data


# ----------------------------------------------------------------------------- markdown


def _num(x: Any, digits: int = 1) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.0f}" if x == int(x) and digits <= 1 else f"{x:.{digits}f}"
    return str(x)


def _span(span: Sequence[float | None] | None) -> str:
    if not span or span[0] is None or span[1] is None:
        return "–"
    a = dt.datetime.fromtimestamp(float(span[0]), dt.UTC)
    secs = float(span[1]) - float(span[0])
    length = f"{secs / 3600:.1f} h" if secs >= 3600 else f"{secs / 60:.0f} min"
    return f"{a:%Y-%m-%d %H:%M} + {length}"


def _host_ranks(c: dict[str, Any], key: str) -> str:
    parts = []
    for h, r in (c.get(key) or {}).items():
        if r.get("main_window") is None:
            parts.append(f"{md_host(h)} (not in the capture)")
            continue
        parts.append(
            f"{md_host(h)}: #{_num(r.get('main_rank'))}"
            + (
                f" (best #{_num(r.get('best_rank'))} in {md(r.get('best_window'))})"
                if r.get("best_window") and r.get("best_window") != r.get("main_window")
                else ""
            )
        )
    for h in c.get("absent") or []:
        parts.append(f"{md_host(h)} (not in the capture)")
    return "; ".join(parts)


def captures_markdown(results: dict[str, Any]) -> str:
    """The captures' figures as a markdown block between CAPTURES_START and CAPTURES_END
    (every log-derived string escaped)."""
    caps = results.get("captures", [])
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    dets = sorted(
        {d for c in caps for d in (c.get("detector_alerts_per_day") or {})},
        key=lambda d: (
            [s.name for s in default_steps()].index(d)
            if d in {s.name for s in default_steps()}
            else 99
        ),
    )
    lines = [
        CAPTURES_START,
        "",
        f"_Produced by `python bench/evaluate_captures.py` "
        f"(`graphnet.evaluation.captures`) on {stamp}._",
        "",
        "| capture | connections | span | windows | bad host | rank: stored findings "
        "(best) | rank: full host scores (best) | hosts ranked | alerts/day: stored "
        "| alerts/day: full | goal met: stored / full | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in caps:
        if c.get("skipped"):
            cells = [md(c["capture"]), f"skipped: {md(c['skipped'])}", *([""] * 10)]
            lines.append("| " + " | ".join(cells) + " |")
            continue
        score = c.get("score") or {}
        fresh = c.get("score_fresh") or {}
        main_hosts = (c.get("bad_hosts") or {}).get(score.get("host") or "", {}).get("main_hosts")
        met = " / ".join("yes" if c.get(k) else "**no**" for k in ("met", "met_fresh"))
        host = score.get("host") or fresh.get("host")
        lines.append(
            f"| {md(c['capture'])} | {c['connections']:,} | {_span(c.get('span'))} "
            f"| {len(c['windows'])} {md(c['window_kind'])} "
            f"| {md_host(host) if host else '–'} "
            f"| {_num(score.get('main_rank'))} ({_num(score.get('best_rank'))}) "
            f"| {_num(fresh.get('main_rank'))} ({_num(fresh.get('best_rank'))}) "
            f"| {_num(main_hosts)} "
            f"| {_num(c.get('alerts_per_day'))} | {_num(c.get('alerts_per_day_fresh'))} "
            f"| {met} | {_num(c.get('seconds'))} |"
        )
    lines += [
        "",
        "Alerts per day per detector (its own threshold; – : skipped in every window):",
        "",
    ]
    lines.append("| capture | " + " | ".join(md(d) for d in dets) + " | combined |")
    lines.append("|---|" + "---|" * (len(dets) + 1))
    for c in caps:
        if c.get("skipped"):
            continue
        per = c.get("detector_alerts_per_day") or {}
        cells = [_num(per.get(d)) for d in dets]
        lines.append(
            f"| {md(c['capture'])} | " + " | ".join(cells) + f" | {_num(c.get('alerts_per_day'))} |"
        )
    lines += [
        "",
        "Per capture: where the knowledge comes from, every bad host's rank, the steps "
        "that did not run:",
        "",
    ]
    for c in caps:
        if c.get("skipped"):
            continue
        lines.append(
            f"- **{md(c['capture'])}** ({md(c['source'])}): stored findings "
            f"{_host_ranks(c, 'bad_hosts')}; full host scores {_host_ranks(c, 'bad_hosts_fresh')}."
        )
        reasons: dict[str, set[str]] = {}
        for w in c["windows"]:
            for s in w.get("not_ok", []):
                reasons.setdefault(f"{s['step']} {s['status']}", set()).add(str(s["reason"]))
        if reasons:
            text = "; ".join(
                f"{md(k)} ({md(' / '.join(sorted(v)))})" for k, v in sorted(reasons.items())
            )
            lines.append(f"  Not run: {text}.")
        tops = "; ".join(
            f"{md(w['window'])}: "
            + ", ".join(md_host(h) for h in w["top"][:3])
            + " / "
            + ", ".join(md_host(h) for h in (w.get("top_fresh") or [])[:3])
            for w in c["windows"]
        )
        lines.append(f"  First 3 hosts per window (stored / full): {tops}.")
    left = results.get("left_out") or []
    if left:
        lines += ["", "Left out: " + "; ".join(f"`{a}` ({md(b)})" for a, b in left) + "."]
    lines += ["", CAPTURES_END, ""]
    return "\n".join(lines)


def write_captures(path: Path, results: dict[str, Any]) -> None:
    """Replace the captures block of a markdown file (append it when absent)."""
    replace_block(path, captures_markdown(results), CAPTURES_START, CAPTURES_END)


def to_json(results: dict[str, Any]) -> str:
    """The results as JSON text."""
    return json.dumps(json_number(results), indent=2, default=str)
