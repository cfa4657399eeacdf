"""Figures of the evaluation as Markdown tables, for docs/evaluation.md.

`figures_markdown` renders the results of `graphnet.evaluation.sets.evaluate_all`; `write_figures`
replaces the block between `FIGURES_START` and `FIGURES_END` of a markdown file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from graphnet.evaluation.metrics import MAX_UNPLANTED_ABOVE, criterion_met

FIGURES_START = "<!-- evaluate_all:start -->"
FIGURES_END = "<!-- evaluate_all:end -->"


def _f(x: Any, digits: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _windows_of(res: dict[str, Any]) -> list[dict[str, Any]]:
    return list(res.get("windows") or [res])


def figures_markdown(results: dict[str, Any]) -> str:
    """The figures as markdown tables."""
    lines = [FIGURES_START, ""]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines.append(f"_Produced by `graphnet.evaluation.sets.evaluate_all` on {stamp}._")
    lines.append("")
    for g in results.get("generated", []):
        lines.append(
            f"#### Generated network, seed {g['seed']} ({g['weeks']} weeks, {g['hosts']} hosts, "
            f"{g['connections']:,} connections)"
        )
        lines.append("")
        for w in _windows_of(g["result"]):
            scen = ", ".join(f"{s['type']}" for s in w.get("scenarios", []))
            lines.append(
                f"Window {w['window']} — {scen} ({w['positives']:,} planted of "
                f"{w['connections']:,} connections, {w['hosts']:,} hosts)"
            )
            lines.append("")
            lines += _detector_table(w)
            lines += _type_table(w)
            lines += _rank_table(w)
    lines += _criterion_table(results.get("generated", []))
    lines += applogs_markdown(results.get("applogs", []))
    for lab in results.get("labelled", []):
        lines.append(
            f"#### Labelled logs: `{lab['set']}` ({lab['connections']:,} connections, "
            f"{lab['window_kind']} windows)"
        )
        lines.append("")
        res = lab["result"]
        if res.get("windows") and res.get("window") is None:
            lines.append(f"{len(res['windows'])} windows; means over windows:")
            lines.append("")
            lines += _detector_table({"detectors": res["detectors"], "combined": res["combined"]})
        else:
            for w in _windows_of(res):
                lines.append(
                    f"Window {w['window']} ({w['positives']:,} labelled attack "
                    f"connections of {w['connections']:,})"
                )
                lines.append("")
                lines += _detector_table(w)
    lines += [FIGURES_END, ""]
    return "\n".join(lines)


def _detector_table(w: dict[str, Any]) -> list[str]:
    rows = [
        "| detector | level | ROC AUC | AP | P@k (k) | alerts/day |",
        "|---|---|---|---|---|---|",
    ]
    for name, d in {**w["detectors"], "combined": w.get("combined", {})}.items():
        if not d.get("available"):
            rows.append(f"| {name} | not available | | | | |")
            continue
        rows.append(
            f"| {name} | {d.get('level') or 'host'} | {_f(d.get('auc'))} | {_f(d.get('ap'))} | "
            f"{_f(d.get('precision_at_k'), 2)} ({d.get('k')}) | {_f(d.get('alerts_per_day'), 1)} |"
        )
    return [*rows, ""]


def _type_table(w: dict[str, Any]) -> list[str]:
    names = [n for n, d in w["detectors"].items() if d.get("by_type")]
    types = sorted({t for n in names for t in w["detectors"][n]["by_type"]})
    if not types:
        return []
    rows = ["| connections of | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for t in types:
        cells = [_f((w["detectors"][n]["by_type"].get(t) or {}).get("auc")) for n in names]
        rows.append(f"| {t} | " + " | ".join(cells) + " |")
    return [
        "ROC AUC per scenario (positives: its connections; negatives: unplanted ones):",
        "",
        *rows,
        "",
    ]


def _rank_table(w: dict[str, Any]) -> list[str]:
    attackers = {a: s["type"] for s in w.get("scenarios", []) for a in s.get("attackers", [])}
    if not attackers:
        return []
    names = [n for n, d in w["detectors"].items() if d.get("host_ranks")]
    rows = [
        "| attacker (scenario) | "
        + " | ".join([*names, "combined", "unplanted above", "met"])
        + " |",
        "|---|" + "---|" * (len(names) + 3),
    ]
    above = w.get("combined", {}).get("unplanted_above") or {}
    for a, t in attackers.items():
        cells = [_f((w["detectors"][n]["host_ranks"] or {}).get(a), 1) for n in names]
        cells.append(_f((w.get("combined", {}).get("host_ranks") or {}).get(a), 1))
        n_above = above.get(a)
        cells.append(_f(n_above))
        cells.append("–" if n_above is None else ("yes" if criterion_met(n_above) else "**no**"))
        rows.append(f"| {a} ({t}) | " + " | ".join(cells) + " |")
    return [
        f"Rank of each attacker among the window's {w['hosts']:,} hosts (combined: "
        f"unplanted hosts ranked above it; met: at most {MAX_UNPLANTED_ABOVE}):",
        "",
        *rows,
        "",
    ]


def _criterion_table(generated: Sequence[dict[str, Any]]) -> list[str]:
    """Issue 7's criterion over every generated window: each attacker's combined rank and the
    unplanted hosts above it (met: at most 2)."""
    rows = [
        "| seed | window | scenario | attacker | combined rank | unplanted above | met |",
        "|---|---|---|---|---|---|---|",
    ]
    met = total = 0
    for g in generated:
        for w in _windows_of(g["result"]):
            comb = w.get("combined", {})
            above = comb.get("unplanted_above") or {}
            for s in w.get("scenarios", []):
                for a in s.get("attackers", []):
                    n = above.get(a)
                    ok = criterion_met(n)
                    met += ok
                    total += 1
                    rank = _f((comb.get("host_ranks") or {}).get(a), 1)
                    rows.append(
                        f"| {g['seed']} | {w['window']} | {s['type']} | {a} | {rank} | "
                        f"{_f(n)} | {'yes' if ok else '**no**'} |"
                    )
    if not total:
        return []
    return [
        f"#### Criterion: at most {MAX_UNPLANTED_ABOVE} unplanted hosts above each planted "
        f"attacker (met for {met} of {total})",
        "",
        *rows,
        "",
    ]


#: a plant in the top TOP_PLANT of each detector meant to find it (the issue's "top 3")
TOP_PLANT = 3


def _app_windows(applogs: Sequence[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """(seed, window result) of every window with application-log plants."""
    return [(g["seed"], w) for g in applogs for w in _windows_of(g["result"]) if w.get("plants")]


def _plant_detectors(windows: Sequence[tuple[int, dict[str, Any]]]) -> list[str]:
    """The detectors meant for some plant, in the windows' (registry) order."""
    meant = {d for _, w in windows for p in w["plants"] for d in p["detectors"]}
    names: list[str] = []
    for n in [n for _, w in windows for n in w["detectors"]] + sorted(meant):
        if n in meant and n not in names:
            names.append(n)
    return names


def applogs_markdown(applogs: Sequence[dict[str, Any]]) -> list[str]:
    """The application-log detectors on the generated networks with dns.log and http.log: each
    plant's client ranked by the detectors meant to find it and in the combined ranking, and
    those detectors' host-level figures per window."""
    windows = _app_windows(applogs)
    if not windows:
        return []
    names = _plant_detectors(windows)
    lines = ["#### Application logs (dns.log, http.log)", ""]
    for g in applogs:
        rec = g.get("records") or {}
        lines.append(
            f"- Seed {g['seed']}: {g['weeks']} weeks, {g['hosts']} hosts, "
            f"{g['connections']:,} connections, {rec.get('dns', 0):,} dns and "
            f"{rec.get('http', 0):,} http records"
        )
    lines += [
        "",
        "Rank of each plant's client among the window's hosts by the detectors meant to find it "
        f"(1 = top, ties averaged; top {TOP_PLANT}: by each of them) and in the combined "
        f"ranking of all detectors (unplanted hosts ranked above it; met: at most "
        f"{MAX_UNPLANTED_ABOVE}):",
        "",
        "| seed | window | plant | client | "
        + " | ".join([*names, f"top {TOP_PLANT}", "combined", "unplanted above", "met"])
        + " |",
        "|---|---|---|---|" + "---|" * (len(names) + 4),
    ]
    for seed, w in windows:
        for p in w["plants"]:
            ranks = p.get("ranks") or {}
            cells = [_f(ranks.get(n), 1) if n in p["detectors"] else "" for n in names]
            mine = [ranks.get(n) for n in p["detectors"]]
            top = bool(mine) and all(r is not None and r <= TOP_PLANT for r in mine)
            n_above = p.get("unplanted_above")
            cells += [
                "yes" if top else "**no**",
                _f(p.get("combined"), 1),
                _f(n_above),
                "–" if n_above is None else ("yes" if criterion_met(n_above) else "**no**"),
            ]
            lines.append(
                f"| {seed} | {w['window']} | {p['type']} | {p['client']} | "
                + " | ".join(cells)
                + " |"
            )
    lines += [
        "",
        "The same detectors per window, at host level (positives: the clients of the window's "
        "plants meant for the detector; hosts it did not score share its bottom ranks), and "
        "what they raise at their thresholds per day:",
        "",
        "| seed | window | detector | level | positives | hosts | ROC AUC | AP | P@k (k) "
        "| alerts/day |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for seed, w in windows:
        for n in names:
            d = w["detectors"].get(n) or {}
            meant = ", ".join(p["type"] for p in w["plants"] if n in p["detectors"]) or "none"
            if not d.get("available"):
                lines.append(
                    f"| {seed} | {w['window']} | {n} | not available | {meant} | "
                    f"{w['hosts']:,} | | | | |"
                )
                continue
            lines.append(
                f"| {seed} | {w['window']} | {n} | {d.get('level') or 'host'} | {meant} | "
                f"{w['hosts']:,} | {_f(d.get('auc'))} | {_f(d.get('ap'))} | "
                f"{_f(d.get('precision_at_k'), 2)} ({d.get('k')}) | "
                f"{_f(d.get('alerts_per_day'), 1)} |"
            )
    return [*lines, ""]


def replace_block(path: Path, block: str, start: str, end: str) -> None:
    """Replace the block between the markers `start` and `end` of a markdown file with `block`
    (which holds both markers); append it when the file has none."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = head + block.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text, encoding="utf-8")


def write_figures(path: Path, results: dict[str, Any]) -> None:
    """Replace the figures block of a markdown file (append it when absent)."""
    replace_block(path, figures_markdown(results), FIGURES_START, FIGURES_END)
