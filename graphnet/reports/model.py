"""What a change report says, collected from the store (`build_report`).

The `Report` dataclasses (`graphnet.reports.types`) hold plain data (strings as logged, numbers,
PNG bytes of the charts); `graphnet.reports.render` turns them into HTML, Markdown and JSON and
escapes every string that comes from logs at the point where it is inserted.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from graphnet import features, windows
from graphnet.config import Settings
from graphnet.findings import cypher_literal
from graphnet.reports.types import (
    Count,
    EdgeItem,
    FindingItem,
    FingerprintTree,
    HostGroup,
    HostItem,
    RankedHost,
    Ranking,
    Reason,
    Report,
    ShiftItem,
    Totals,
    TreeBranch,
    TreeLeaf,
    VolumeItem,
    volume_numbers,
)

log = logging.getLogger(__name__)

HISTORY_WINDOWS = 12  # windows shown in trend and metric-history charts
DEVIATION_KINDS = (
    "novel_connection",
    "deviating_path",
    "suspicious_connect",
    "volume_anomaly",
    "first_behaviour",
)
KIND_TITLES = {
    "centrality_shift": "centrality shift",
    "novel_connection": "novel connection",
    "deviating_path": "deviating path",
    "suspicious_connect": "suspicious connect",
    "volume_anomaly": "volume anomaly",
    "first_behaviour": "first-time behaviour",
}
# components drawn in a fingerprint tree (plus any other component a finding names as novel)
TREE_COMPONENTS = ("proto", "service", "dport", "conn_state", "history")
TREE_LEAVES = 5
VOLUME_TOP = 5  # volume_anomaly findings drawn as a time chart with their band
RANKING_TOP = 10  # hosts listed in "Who to look at"
REASON_CHARS = 240  # a reason is one sentence: longer explanations are cut
NOVELTY_RESULT = "novelty"  # the novelty step's stored per-connection scores
NOVELTY_COLUMNS = ("src", "dst", "score", "uniqueness", "uid")


# ============================================================================================
# Cypher for Neo4j Browser
# ============================================================================================
cypher_string = cypher_literal


def _list_literal(values: Iterable[str]) -> str:
    return "[" + ", ".join(cypher_string(v) for v in values) + "]"


def host_query(host: str, window: str) -> str:
    """Cypher: a host's conversations in a window."""
    return (
        f"MATCH p = (h:Host {{id: {cypher_string(host)}}})"
        f"-[r:TALKED {{window: {cypher_string(window)}}}]-(:Host)\n"
        "RETURN p ORDER BY r.conns DESC LIMIT 200"
    )


def edge_query(src: str, dst: str, windows_: Sequence[str]) -> str:
    """Cypher: the TALKED edges of one directed pair in some windows."""
    return (
        f"MATCH p = (a:Host {{id: {cypher_string(src)}}})-[r:TALKED]->"
        f"(b:Host {{id: {cypher_string(dst)}}})\n"
        f"WHERE r.window IN {_list_literal(windows_)}\n"
        "RETURN p"
    )


def finding_query(finding_id: str) -> str:
    """Cypher: a finding with the hosts it is about and their edges in its window."""
    return (
        f"MATCH (f:Finding {{id: {cypher_string(finding_id)}}})-[a:ABOUT]->(h:Host)\n"
        "OPTIONAL MATCH e = (h)-[:TALKED {window: f.window}]->(:Host)<-[:ABOUT]-(f)\n"
        "RETURN f, a, h, e"
    )


def normalise_browser_url(url: str | None) -> str | None:
    """`http://host:7474` or `.../browser` -> `http://host:7474/browser/`."""
    if not url:
        return None
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    path = parts.path or "/"
    if path in ("", "/"):
        path = "/browser/"
    if not path.endswith("/"):
        path += "/"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def browser_link(base: str | None, query: str) -> str | None:
    """`<base>?cmd=edit&arg=<query>`: opens Neo4j Browser with the query in its editor."""
    b = normalise_browser_url(base)
    if not b or not query:
        return None
    return f"{b}?cmd=edit&arg={urllib.parse.quote(query, safe='')}"


# ============================================================================================
# describing values
# ============================================================================================
def histogram(keys: Sequence[Any] | None, counts: Sequence[Any] | None) -> list[tuple[str, int]]:
    if not keys:
        return []
    ns = list(counts or [])
    out = [
        (str(k), int(ns[i]) if i < len(ns) and ns[i] is not None else 0) for i, k in enumerate(keys)
    ]
    return sorted(out, key=lambda kv: (-kv[1], kv[0]))


def meaning(component: str, value: str) -> str:
    """What a component value means, for the report ('' when the value speaks for itself)."""
    if component == "conn_state":
        return features.CONN_STATES.get(value, "unknown state")
    if component == "history":
        if value == "other":
            return "histories folded together (not among the most frequent)"
        return features.describe_history(value)
    if component == "dport":
        if value == "dyn":
            return "a dynamic port (49152 and above)"
        if value == "other":
            return "ports folded together (not among the most frequent)"
        return ""
    if component in ("orig_act", "resp_act", "hour") or component.endswith("_bin"):
        return features.describe_value(component, value)
    if value == "-":
        return "unknown"
    return ""


def counts_of(
    component: str, keys: Sequence[Any] | None, ns: Sequence[Any] | None, limit: int = 4
) -> list[Count]:
    return [Count(k, n, meaning(component, k)) for k, n in histogram(keys, ns)[:limit]]


def _fmt_number(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "n/a"
        if v == int(v) and abs(v) < 1e15:
            return f"{int(v):,}"
        return f"{v:.3g}"
    return str(v)


def _is_window_list(v: Any) -> bool:
    if not isinstance(v, list) or not v:
        return False
    try:
        for x in v:
            windows.kind_of(str(x))
    except ValueError:
        return False
    return True


def describe_parts(parts: Mapping[str, Any], limit: int = 6) -> list[tuple[str, str]]:
    """A finding's named sub-scores as (name, text), largest first."""

    def weight(item: tuple[str, Any]) -> float:
        v = item[1]
        if isinstance(v, dict):
            for k in ("z", "score", "bits", "value"):
                if isinstance(v.get(k), int | float) and not isinstance(v.get(k), bool):
                    return abs(float(v[k]))
            return 0.0
        if isinstance(v, int | float) and not isinstance(v, bool):
            return abs(float(v))
        return 0.0

    items = sorted(parts.items(), key=lambda kv: -weight(kv))
    out = []
    for name, v in items[:limit]:
        label = name[5:] if name.startswith("part_") else name
        if isinstance(v, dict):
            if {"previous", "current"} <= set(v):
                text = f"{_fmt_number(v['previous'])} → {_fmt_number(v['current'])}"
                if "z" in v:
                    text += f" (z {_fmt_number(v['z'])})"
            else:
                text = ", ".join(f"{k} {_fmt_number(x)}" for k, x in v.items())
        elif isinstance(v, list):
            text = ", ".join(_fmt_number(x) for x in v[:8])
        else:
            text = _fmt_number(v)
        if label in features.COMPONENTS and label not in ("conn_state", "history"):
            label = f"{label} ({features.COMPONENTS[label]})"
        out.append((label, text))
    return out


def describe_evidence(evidence: Mapping[str, Any], limit: int = 10) -> list[tuple[str, str]]:
    """A finding's evidence as (name, text); conn_state and TCP history values are shown with
    their meanings."""
    out: list[tuple[str, str]] = []
    top_comp = evidence.get("top_component")
    for key, v in list(evidence.items())[:limit]:
        if key == "top_value" and top_comp in features.COMPONENTS and isinstance(v, str):
            m = meaning(str(top_comp), v)
            out.append((key, f"{v} ({m})" if m else v))
            continue
        comp = next(
            (
                c
                for c in (
                    "conn_state",
                    "history",
                    "orig_act",
                    "resp_act",
                    "dport",
                    "service",
                    "proto",
                )
                if key in (c, c + "s") or key.startswith(c + "_") or key.endswith("_" + c)
            ),
            None,
        )
        if key == "history" and _is_window_list(v):
            out.append(("earlier windows", ", ".join(str(x) for x in v)))
            continue
        if comp and isinstance(v, str):
            m = meaning(comp, v)
            out.append((key, f"{v} ({m})" if m else v))
        elif comp and isinstance(v, dict):
            pieces = []
            for k, n in sorted(
                v.items(), key=lambda kv: -float(kv[1]) if isinstance(kv[1], int | float) else 0
            )[:6]:
                m = meaning(comp, str(k))
                pieces.append(f"{k} ×{_fmt_number(n)}" + (f" ({m})" if m else ""))
            out.append((key, ", ".join(pieces)))
        elif comp and isinstance(v, list) and all(isinstance(x, str) for x in v):
            pieces = [f"{x} ({meaning(comp, x)})" if meaning(comp, x) else x for x in v[:6]]
            out.append((key, ", ".join(pieces)))
        elif isinstance(v, dict) and any(c in v for c in features.COMPONENTS):
            pieces = []
            for c, x in v.items():
                m = meaning(c, str(x)) if c in features.COMPONENTS else ""
                pieces.append(f"{c} {x}" + (f" ({m})" if m else ""))
            out.append((key, "; ".join(pieces)))
        elif isinstance(v, list):
            shown = ", ".join(
                _fmt_number(x) if not isinstance(x, dict | list) else json.dumps(x, default=str)
                for x in v[:8]
            )
            more = f" … (+{len(v) - 8})" if len(v) > 8 else ""
            out.append((key, shown + more))
        elif isinstance(v, dict):
            out.append((key, json.dumps(v, default=str, sort_keys=True)[:300]))
        else:
            out.append((key, _fmt_number(v)))
    return out


# ============================================================================================
# collecting from the store
# ============================================================================================
def _window_list(store: Any) -> list[str]:
    return [str(r["window"]) for r in store.read("windows_list")]


def default_window(store: Any, now: dt.datetime | None = None) -> str | None:
    """The window a report is for when none is given: the latest window of the graph that has
    ended, else the latest window."""
    present = _window_list(store)
    if not present:
        return None
    now = now or dt.datetime.now(dt.UTC)
    ended = []
    for w in present:
        try:
            if windows.bounds(w)[1] <= now:
                ended.append(w)
        except ValueError:
            continue
    return ended[-1] if ended else present[-1]


def _totals(row: Mapping[str, Any]) -> Totals:
    return Totals(
        window=str(row["window"]),
        hosts=int(row.get("hosts") or 0),
        edges=int(row.get("edges") or 0),
        connections=int(row.get("connections") or 0),
        bytes=float(row.get("bytes") or 0.0),
        internal_hosts=int(row.get("internal_hosts") or 0),
    )


def _mean(ts: Sequence[Totals]) -> Totals | None:
    if not ts:
        return None
    n = len(ts)
    return Totals(
        window=f"mean of {n}",
        hosts=sum(t.hosts for t in ts) / n,
        edges=sum(t.edges for t in ts) / n,
        connections=sum(t.connections for t in ts) / n,
        bytes=sum(t.bytes for t in ts) / n,
        internal_hosts=sum(t.internal_hosts for t in ts) / n,
    )


def _edge(row: Mapping[str, Any], windows_: Sequence[str], browser: str | None) -> EdgeItem:
    q = edge_query(str(row["src"]), str(row["dst"]), windows_)
    return EdgeItem(
        src=str(row["src"]),
        dst=str(row["dst"]),
        conns=int(row.get("conns") or 0),
        bytes=float(row.get("bytes") or 0.0),
        src_internal=row.get("src_internal"),
        dst_internal=row.get("dst_internal"),
        services=counts_of("service", row.get("service_k"), row.get("service_n")),
        ports=counts_of("dport", row.get("dport_k"), row.get("dport_n")),
        states=counts_of("conn_state", row.get("conn_state_k"), row.get("conn_state_n")),
        histories=counts_of("history", row.get("history_k"), row.get("history_n"), limit=3),
        new_services=[str(s) for s in row.get("new_services") or []],
        new_ports=[str(p) for p in row.get("new_ports") or []],
        seen_in=row.get("seen_in"),
        cypher=q,
        link=browser_link(browser, q),
    )


def _finding_item(f: Any, browser: str | None) -> FindingItem:
    q = f.cypher or finding_query(f.id)
    return FindingItem(
        id=f.id,
        kind=f.kind,
        score=float(f.score),
        hosts=list(f.hosts),
        explanation=f.explanation or "",
        status=f.status,
        detector=f.detector,
        parts=describe_parts(f.parts or {}),
        evidence=describe_evidence(f.evidence or {}),
        cypher=q,
        link=browser_link(browser, q),
    )


def _shift_metric(parts: Mapping[str, Any], available: set[str]) -> str | None:
    best, best_z = None, -1.0
    for name, v in parts.items():
        if name not in available or not isinstance(v, dict):
            continue
        z = v.get("z")
        if isinstance(z, int | float) and abs(float(z)) > best_z:
            best, best_z = name, abs(float(z))
    if best is None and "pagerank" in available:
        return "pagerank"
    return best


def resolve_browser_url(settings: Settings, browser_url: str | None = None) -> str | None:
    """The Neo4j Browser address for links: the one given, else $GRAPHNET_BROWSER_URL, else
    graphnet's local Neo4j (when it is the configured server)."""
    if browser_url:
        return normalise_browser_url(browser_url)
    env = os.environ.get("GRAPHNET_BROWSER_URL")
    if env:
        return normalise_browser_url(env)
    try:
        from graphnet import browser

        info = browser.browser_address(settings)
    except Exception:  # no local server, unreadable state: links are optional
        return None
    return normalise_browser_url(info)


def novelty_scores(settings: Settings, window: str) -> Any:
    """The per-connection novelty scores the novelty step stored for a window (the archive's
    `novelty` result: `score`, `uniqueness` and, when stored, `src`, `dst`, `uid`), or None
    when the window was not scored."""
    from graphnet.archive import Archive

    archive = Archive(settings)
    try:
        got = archive.read_result(window, NOVELTY_RESULT, columns=NOVELTY_COLUMNS)
    except (ValueError, KeyError):  # a table without some of the columns: read it whole
        got = archive.read_result(window, NOVELTY_RESULT)
    if got is None:
        return None
    frame = got.frame
    if not {"score", "uniqueness"} <= set(frame.columns):
        return None
    return frame[[c for c in NOVELTY_COLUMNS if c in frame.columns]]


def _histograms(
    rows: Sequence[Mapping[str, Any]], window: str
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]], int]:
    """Edge rows (window, props) -> summed component histograms of the baseline windows and of
    `window`, and the baseline's connections."""
    base: dict[str, dict[str, int]] = {}
    cur: dict[str, dict[str, int]] = {}
    conns = 0
    for r in rows:
        props = r["props"] or {}
        target = cur if r["window"] == window else base
        if r["window"] != window:
            conns += int(props.get("conns") or 0)
        for key, val in props.items():
            if not key.endswith("_k") or key[:-2] not in features.COMPONENTS:
                continue
            comp = key[:-2]
            h = target.setdefault(comp, {})
            for k, n in histogram(val, props.get(f"{comp}_n")):
                h[k] = h.get(k, 0) + n
    return base, cur, conns


def _tree_for(store: Any, f: Any, window: str, baseline: Sequence[str]) -> FingerprintTree | None:
    """The fingerprint of a novel connection's pair as a tree; for a new pair, what the
    destination usually receives (or else what the source usually sends)."""
    if len(f.hosts) < 2:
        return None
    src, dst = str(f.hosts[0]), str(f.hosts[1])
    rows = store.read("report_pair_history", src=src, dst=dst, windows=[*baseline, window])
    base_hist, cur_hist, base_conns = _histograms(rows, window)
    level = "pair"
    if base_conns == 0 and baseline:
        for lvl, name, host in (
            ("server", "report_server_history", dst),
            ("client", "report_client_history", src),
        ):
            wider = store.read(name, host=host, windows=list(baseline))
            b, _, n = _histograms(wider, window)
            if n:
                base_hist, base_conns, level = b, n, lvl
                break
    novel = _novel_values(f)
    comps = list(TREE_COMPONENTS) + [c for c in novel if c not in TREE_COMPONENTS]
    branches = []
    for comp in comps:
        base = base_hist.get(comp, {})
        cur = cur_hist.get(comp, {})
        nv = novel.get(comp)
        items = sorted(base.items(), key=lambda kv: (-kv[1], kv[0]))
        leaves = [
            TreeLeaf(k, meaning(comp, k), n, cur.get(k, 0) if cur else None, novel=(nv == k))
            for k, n in items[:TREE_LEAVES]
        ]
        shown = {lf.value for lf in leaves}
        if nv is not None and nv not in shown:
            leaves.append(
                TreeLeaf(
                    nv,
                    meaning(comp, nv),
                    base.get(nv, 0),
                    cur.get(nv, 0) if cur else None,
                    novel=True,
                )
            )
            shown.add(nv)
        # other values of the window the baseline never had (not the reported novelty)
        fresh = sorted(
            ((k, n) for k, n in cur.items() if k not in base and k not in shown),
            key=lambda kv: (-kv[1], kv[0]),
        )[:2]
        leaves += [TreeLeaf(k, meaning(comp, k), 0, n) for k, n in fresh]
        branches.append(
            TreeBranch(
                component=comp,
                description=features.COMPONENTS.get(comp, comp),
                leaves=leaves,
                more=max(0, len(items) - TREE_LEAVES),
                novel=comp in novel,
            )
        )
    return FingerprintTree(
        finding_id=f.id,
        src=src,
        dst=dst,
        baseline_windows=list(baseline),
        baseline_connections=base_conns,
        branches=branches,
        level=level,
    )


def _novel_values(f: Any) -> dict[str, str]:
    """Component -> value a novel_connection finding calls new (from its evidence and parts)."""
    ev = f.evidence or {}
    out: dict[str, str] = {}
    for key in ("novel", "novel_values", "new_values"):
        v = ev.get(key)
        if isinstance(v, dict):
            out.update({str(k): str(x) for k, x in v.items() if str(k) in features.COMPONENTS})
        elif isinstance(v, list):
            for x in v:
                if isinstance(x, dict) and "component" in x and "value" in x:
                    out[str(x["component"])] = str(x["value"])
    values: dict[str, str] = {}
    for key in ("values", "components", "connection", "example"):
        v = ev.get(key)
        if isinstance(v, dict):
            values.update({str(k): str(x) for k, x in v.items() if str(k) in features.COMPONENTS})
    top_c, top_v = ev.get("top_component"), ev.get("top_value")
    if isinstance(top_c, str) and top_c in features.COMPONENTS and top_v is not None:
        out.setdefault(top_c, str(top_v))
    # parts: components with excess bits, the largest first, valued from the evidence
    parts = f.parts or {}
    scored = []
    for name, v in parts.items():
        comp = name[5:] if name.startswith("part_") else name
        num = v.get("bits") if isinstance(v, dict) else v
        if comp in features.COMPONENTS and isinstance(num, int | float) and num > 0:
            scored.append((float(num), comp))
    for _, comp in sorted(scored, reverse=True)[:2]:
        if comp in values:
            out.setdefault(comp, values[comp])
    return out


# ============================================================================================
# who to look at: the combined risk ranking
# ============================================================================================
def _finite(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _sentence(text: str | None) -> str:
    """A finding's explanation as one line of at most `REASON_CHARS` characters."""
    s = " ".join(str(text or "").split())
    return s if len(s) <= REASON_CHARS else s[: REASON_CHARS - 1].rstrip() + "…"


def best_findings(found: Iterable[Any], of_kind: Mapping[str, str]) -> dict[tuple[str, str], Any]:
    """(detector, host) -> the detector's highest-scoring finding about the host, of the
    findings the ranking counts (not marked benign), as `graphnet.risk` attributes them."""
    best: dict[tuple[str, str], Any] = {}
    for f in found:
        if f.status == "benign":
            continue
        d = of_kind.get(f.kind, f.detector or f.kind)
        for h in f.hosts:
            key = (d, str(h))
            cur = best.get(key)
            if cur is None or float(f.score) > float(cur.score):
                best[key] = f
    return best


def ranking_from(
    result: Any,
    found: Sequence[Any],
    window: str,
    browser: str | None,
    of_kind: Mapping[str, str],
    *,
    top: int = RANKING_TOP,
    alpha: float = 0.001,
) -> Ranking:
    """The "Who to look at" section from a `graphnet.risk.RiskResult`: its first `top` hosts
    with any risk, each with the detectors that contribute to it (most first), their rank, and
    the explanation of their best finding about the host (from `found`, the window's
    findings)."""
    table = result.table
    ranking = Ranking(
        method=str(result.method),
        hosts=int(result.hosts),
        alerts=int(result.alerts),
        alpha=float(alpha),
        detectors=[str(d) for d in result.detectors],
    )
    risky = table[table["risk"] > 0] if len(table) and "risk" in table.columns else table.iloc[:0]
    ranking.ranked = len(risky)
    best = best_findings(found, of_kind)
    head = risky.head(max(0, top))
    for host, row in zip(head.index, head.to_dict("records"), strict=True):
        reasons = []
        for d in ranking.detectors:
            contribution = _finite(row.get(f"contribution_{d}"))
            if contribution is None or contribution <= 0:
                continue
            f = best.get((d, str(host)))
            reasons.append(
                Reason(
                    detector=d,
                    rank=_finite(row.get(f"rank_{d}")) or math.nan,
                    score=_finite(row.get(f"score_{d}")),
                    contribution=contribution,
                    explanation=_sentence(f.explanation) if f is not None else "",
                    kind=f.kind if f is not None else "",
                    finding_id=f.id if f is not None else "",
                )
            )
        reasons.sort(key=lambda r: -r.contribution)
        q = host_query(str(host), window)
        ranking.top.append(
            RankedHost(
                rank=int(row["rank"]),
                host=str(host),
                risk=float(row["risk"]),
                p=_finite(row.get("p")),
                reasons=reasons,
                cypher=q,
                link=browser_link(browser, q),
            )
        )
    if not ranking.ranked:
        ranking.note = (
            "no host has any risk: the findings the ranking counts (those not marked benign) "
            "put no host among a detector's top ranks"
        )
    return ranking


def collect_ranking(
    store: Any,
    window: str,
    settings: Settings,
    found: Sequence[Any],
    browser: str | None,
    *,
    top: int = RANKING_TOP,
    analysed: bool = False,
) -> Ranking:
    """The "Who to look at" section: the window's hosts ranked by `graphnet.risk.risk_window`
    from the stored findings of every detector (it reads them, it never runs a detector).
    Nothing stored or any failure leaves a note instead of a ranking, never breaks the report."""
    if not found:
        if analysed:
            return Ranking(
                note=f"The analysis of {window} stored no findings, so no host stands out. "
                f"Run `graphnet analyse --window {window}` to analyse it again."
            )
        return Ranking(
            note=f"No findings are stored for {window}: it has not been analysed yet. Run "
            f"`graphnet analyse --window {window}` to rank its hosts."
        )
    try:
        from graphnet.detectors.registry import detector_of_kind
        from graphnet.risk import RiskSettings, risk_window

        risk = RiskSettings()
        result = risk_window(store, window, settings, risk)
        ranking = ranking_from(
            result, found, window, browser, detector_of_kind(), top=top, alpha=risk.alpha
        )
        hosts = [h.host for h in ranking.top]
        if hosts:
            internal = {
                str(r["host"]): r.get("internal") for r in store.read("report_hosts", hosts=hosts)
            }
            for h in ranking.top:
                h.internal = internal.get(h.host)
    except Exception as exc:  # the ranking is the first section, not a condition of the rest
        log.warning("no combined ranking for %s: %s", window, exc, exc_info=True)
        return Ranking(
            note=f"The combined ranking could not be computed ({type(exc).__name__}: {exc}). "
            f"The sections below list the findings of {window} by kind."
        )
    return ranking


def build_report(
    store: Any,
    window: str | None,
    settings: Settings,
    *,
    baseline_windows: int = 4,
    top: int = 20,
    browser_url: str | None = None,
    charts: bool = True,
    now: dt.datetime | None = None,
    ranking_top: int = RANKING_TOP,
) -> Report:
    """Collect the change report of `window` (default: the latest window that has ended).

    First, who to look at: the `ranking_top` hosts of the combined risk ranking
    (`graphnet.risk.risk_window`, from the window's stored findings) with the reason each
    contributing detector gives. Then it compares the window with the previous window holding
    data and with its baseline (the `baseline_windows` windows with data before it): sizes, new
    hosts, new edges, new services between pairs that already talked, vanished edges; the
    window's findings (top centrality shifts with their metric history, deviating connections
    and paths grouped by host, the stored time charts of the top volume anomalies), the
    novelty-versus-uniqueness scatter when per-connection scores are stored, and the
    fingerprint of the pairs of the top novel connections. Everything is read from the graph
    and the stored results; no detector runs and nothing is refitted. `browser_url` (default:
    `resolve_browser_url`) makes every item a link that opens its Cypher in Neo4j Browser.

    Raises ConfigError for a malformed window and NotEnoughHistory for an empty graph."""
    from graphnet import findings as findings_mod
    from graphnet.errors import ConfigError, NotEnoughHistory
    from graphnet.reports import charts as charts_mod

    present = _window_list(store)
    if window is None:
        window = default_window(store, now)
        if window is None:
            raise NotEnoughHistory("the graph holds no windows yet", hint="ingest logs first")
    try:
        start, end = windows.bounds(window)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    browser = resolve_browser_url(settings, browser_url)
    report = Report(
        window=window,
        generated=(now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
        start=start.isoformat(),
        end=end.isoformat(),
        browser_url=browser,
        top=top,
    )
    if window not in present:
        report.notes.append(f"the graph holds no connections in {window}")
    before = [w for w in present if w < window]
    baseline = before[-baseline_windows:] if baseline_windows > 0 else []
    report.baseline = baseline
    report.previous = before[-1] if before else None
    calendar_prev = windows.previous(window)[0]
    if report.previous and report.previous != calendar_prev:
        report.notes.append(
            f"no data in {calendar_prev}; compared with {report.previous}, the latest earlier "
            "window holding data"
        )

    hist_windows = [w for w in present if w <= window][-HISTORY_WINDOWS:]
    if window not in hist_windows:
        hist_windows.append(window)
    totals = {r["window"]: _totals(r) for r in store.read("report_totals", windows=hist_windows)}
    report.current = totals.get(window, Totals(window))
    report.previous_totals = totals.get(report.previous) if report.previous else None
    base_rows = [t for w, t in totals.items() if w in baseline]
    missing = [w for w in baseline if w not in totals]
    if missing:
        base_rows += [_totals(r) for r in store.read("report_totals", windows=missing)]
    report.baseline_mean = _mean(base_rows)
    report.history = [totals[w] for w in hist_windows if w in totals]

    # -- what changed in the graph ------------------------------------------------------------
    if baseline:
        counts = store.read(
            "report_change_counts", window=window, baseline=baseline, previous=report.previous
        )[0]
        report.new_hosts_total = int(counts["new_hosts"])
        report.new_edges_total = int(counts["new_edges"])
        report.vanished_edges_total = int(counts["vanished_edges"])
        for r in store.read("report_new_hosts", window=window, baseline=baseline, limit=top):
            q = host_query(str(r["host"]), window)
            report.new_hosts.append(
                HostItem(
                    host=str(r["host"]),
                    internal=r.get("internal"),
                    peers=int(r["peers"] or 0),
                    conns=int(r["conns"] or 0),
                    bytes=float(r["bytes"] or 0.0),
                    cypher=q,
                    link=browser_link(browser, q),
                )
            )
        report.new_edges = [
            _edge(r, [window], browser)
            for r in store.read("report_new_edges", window=window, baseline=baseline, limit=top)
        ]
        svc = store.read("report_new_services", window=window, baseline=baseline)
        report.new_services_total = len(svc)
        report.new_services = [_edge(r, [*baseline, window], browser) for r in svc[:top]]
        if report.previous:
            report.vanished_edges = [
                _edge(r, [report.previous, window], browser)
                for r in store.read(
                    "report_vanished_edges",
                    window=window,
                    previous=report.previous,
                    baseline=baseline,
                    limit=top,
                )
            ]
    else:
        report.notes.append(
            f"{window} is the first window in the graph: there is no baseline to compare it with "
            "yet, so new and vanished hosts, edges and services are not listed"
        )

    # -- analysis steps, findings and who to look at -------------------------------------------
    rows = store.read("report_analysis", window=window)
    if rows and rows[0].get("steps"):
        try:
            report.analysis = list(json.loads(rows[0]["steps"]))
        except (TypeError, ValueError):
            report.analysis = []
    found = findings_mod.load(store, window=window)
    report.ranking = collect_ranking(
        store, window, settings, found, browser, top=ranking_top, analysed=bool(rows)
    )
    for f in found:
        report.findings_by_kind[f.kind] = report.findings_by_kind.get(f.kind, 0) + 1
    shift_findings = [f for f in found if f.kind == "centrality_shift"]
    report.shifts_total = len(shift_findings)
    shift_top = shift_findings[:top]
    metric_rows: dict[str, dict[str, dict[str, Any]]] = {}
    if shift_top:
        for r in store.read(
            "report_host_history",
            hosts=[f.hosts[0] for f in shift_top if f.hosts],
            windows=hist_windows,
        ):
            metric_rows.setdefault(str(r["host"]), {})[str(r["window"])] = r["metrics"] or {}
    for f in shift_top:
        item = ShiftItem(finding=_finding_item(f, browser))
        host = f.hosts[0] if f.hosts else ""
        per_window = metric_rows.get(host, {})
        available = set().union(*[set(m) for m in per_window.values()]) if per_window else set()
        item.metric = _shift_metric(f.parts or {}, available)
        if item.metric:
            item.history = [
                (w, float(m[item.metric]))
                for w, m in sorted(per_window.items())
                if isinstance(m.get(item.metric), int | float)
            ]
        report.shifts.append(item)

    deviations = [f for f in found if f.kind in DEVIATION_KINDS]
    report.deviations_total = len(deviations)
    internal = {}
    hosts_needed = sorted({f.hosts[0] for f in deviations[: top * 3] if f.hosts})
    if hosts_needed:
        rows = store.read("report_hosts", hosts=hosts_needed)
        internal = {r["host"]: r["internal"] for r in rows}
    groups: dict[str, HostGroup] = {}
    for f in deviations[: top * 3]:
        host = f.hosts[0] if f.hosts else "(no host)"
        g = groups.get(host)
        if g is None:
            if len(groups) >= top:
                continue
            g = groups[host] = HostGroup(host, internal.get(host), float(f.score))
        g.findings.append(_finding_item(f, browser))
        g.max_score = max(g.max_score, float(f.score))
    report.deviations = sorted(groups.values(), key=lambda g: (-g.max_score, g.host))

    # findings come highest score first (findings.load)
    volume_top = [f for f in found if f.kind == "volume_anomaly"][:VOLUME_TOP]
    if volume_top:
        report.volume = _volume_items(settings, window, volume_top, charts)

    # -- novelty and fingerprints ----------------------------------------------------------
    novel = [f for f in found if f.kind == "novel_connection"]
    try:
        scores = novelty_scores(settings, window)
    except Exception as exc:  # an unreadable stored result: the report goes on
        log.warning("novelty scores of %s could not be read: %s", window, exc)
        scores = None
        report.notes.append(f"the stored novelty scores of {window} could not be read: {exc}")
    if scores is None or len(scores) == 0:
        report.novelty_note = (
            "no per-connection novelty scores were stored for this window (the novelty scorer "
            "has not run for it), so the novelty-versus-uniqueness chart is left out"
        )
    elif charts:
        highlight = [(str(f.hosts[0]), str(f.hosts[1])) for f in novel[:5] if len(f.hosts) >= 2]
        report.novelty_chart = charts_mod.novelty_scatter(scores, highlight)
    for f in novel[: min(top, 5)]:
        tree = _tree_for(store, f, window, baseline)
        if tree is None:
            continue
        if charts:
            tree.chart = charts_mod.fingerprint_tree(tree)
        report.trees.append(tree)

    # -- legend ---------------------------------------------------------------------------
    report.legend = legend_for(report)

    if charts:
        report.charts = [
            c
            for c in (
                charts_mod.overview(report.current, report.previous_totals, report.baseline_mean),
                charts_mod.trend(report.history, window),
            )
            if c is not None
        ]
        for s in report.shifts:
            if s.metric and len(s.history) >= 2:
                s.chart = charts_mod.metric_history(
                    s.finding.hosts[0] if s.finding.hosts else "",
                    s.metric,
                    s.history,
                    window,
                    key=f"shift-{len(report.all_charts())}",
                )
    return report


def _volume_items(
    settings: Settings, window: str, found: Sequence[Any], charts: bool
) -> list[VolumeItem]:
    """Time charts of the top `volume_anomaly` findings, from the series the volume step stored
    when it ran (`graphnet.detectors.volume.stored_series`: the same fit as the findings; the
    report never refits). A finding whose entity has no stored rows (the window was analysed
    before the series were kept, or not at all) gets a note instead of a chart; anything that
    fails leaves a note on the item, never breaks the report."""
    from graphnet.reports import charts as charts_mod

    rerun = f"no time chart stored: run `graphnet analyse --window {window} --only volume`"
    try:
        from graphnet.archive import Archive
        from graphnet.detectors import volume as volume_mod

        items = [
            VolumeItem(volume_mod.finding_entity(f), f.id, f.explanation or "", float(f.score))
            for f in found
        ]
        stored = volume_mod.stored_series(Archive(settings), window)
    except Exception as exc:  # an unreadable stored result, ...: the report goes on
        log.warning("no volume time charts for %s: %s", window, exc)
        return [
            VolumeItem(
                str(f.hosts[0]) if f.hosts else "",
                f.id,
                f.explanation or "",
                float(f.score),
                note=f"no time chart: the stored series could not be read ({exc})",
            )
            for f in found
        ]
    has_entity = stored is not None and "entity" in stored.columns
    for item in items:
        if not item.host:
            item.note = "no time chart: the finding names no host"
            continue
        rows = stored[stored["entity"] == item.host] if has_entity and stored is not None else None
        if rows is None or rows.empty:
            item.note = rerun
            continue
        frame = rows.drop(columns=["entity"])
        if "bucket" in frame.columns:
            frame = frame.sort_values("bucket", kind="stable")
        frame = frame.reset_index(drop=True)
        try:
            nums = volume_numbers(frame)
        except Exception as exc:  # a stored frame without the expected columns
            log.warning("no volume time chart for %s in %s: %s", item.host, window, exc)
            item.note = f"no time chart: the stored series is not readable ({exc})"
            continue
        item.series = frame
        for k, v in nums.items():
            setattr(item, k, v)
        if charts:
            try:
                item.chart = charts_mod.volume_band(
                    item.host, frame, key=f"volume-{item.finding_id}"
                )
            except Exception as exc:  # pragma: no cover - a drawing problem is not fatal
                log.warning("volume chart of %s failed: %s", item.host, exc)
                item.note = f"no time chart: {exc}"
    return items


def legend_for(report: Report) -> list[tuple[str, str, str]]:
    """conn_state codes and TCP history letters that appear in the report, with meanings."""
    states: set[str] = set()
    letters: set[str] = set()
    edge_lists = [report.new_edges, report.new_services, report.vanished_edges]
    for items in edge_lists:
        for e in items:
            states.update(c.value for c in e.states)
            for h in e.histories:
                if h.value not in ("-", "other"):
                    letters.update(ch.lower() for ch in h.value)
    out = [
        ("conn_state", s, features.CONN_STATES[s])
        for s in sorted(states)
        if s in features.CONN_STATES
    ]
    out += [
        (
            "history",
            ch,
            f"{features.HISTORY_LETTERS[ch]} (upper case: originator, lower case: responder)",
        )
        for ch in sorted(letters)
        if ch in features.HISTORY_LETTERS
    ]
    return out
