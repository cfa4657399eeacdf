"""What a change report says, collected from the store (`build_report`).

The `Report` dataclasses hold plain data (strings as logged, numbers, PNG bytes of the charts);
`graphnet.reports.render` turns them into HTML, Markdown and JSON and escapes every string that
comes from logs at the point where it is inserted.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphnet import features, windows
from graphnet.config import Settings
from graphnet.findings import cypher_literal

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


# ============================================================================================
# the report content
# ============================================================================================
@dataclass
class Count:
    """A histogram entry: a value as logged, how often, and what it means (may be empty)."""

    value: str
    n: int
    meaning: str = ""


@dataclass
class Totals:
    window: str
    hosts: float = 0
    edges: float = 0
    connections: float = 0
    bytes: float = 0.0
    internal_hosts: float = 0


@dataclass
class HostItem:
    host: str
    internal: bool | None
    peers: int
    conns: int
    bytes: float
    cypher: str = ""
    link: str | None = None


@dataclass
class EdgeItem:
    src: str
    dst: str
    conns: int
    bytes: float
    src_internal: bool | None = None
    dst_internal: bool | None = None
    services: list[Count] = field(default_factory=list)
    ports: list[Count] = field(default_factory=list)
    states: list[Count] = field(default_factory=list)
    histories: list[Count] = field(default_factory=list)
    new_services: list[str] = field(default_factory=list)
    new_ports: list[str] = field(default_factory=list)
    #: vanished edges: in how many baseline windows the pair talked
    seen_in: int | None = None
    cypher: str = ""
    link: str | None = None


@dataclass
class Chart:
    """A PNG image (bytes) with a title and a text alternative."""

    key: str
    title: str
    alt: str
    png: bytes = field(repr=False, default=b"")


@dataclass
class FindingItem:
    id: str
    kind: str
    score: float
    hosts: list[str]
    explanation: str
    status: str = "new"
    detector: str = ""
    #: (name, text) pairs: the named sub-scores, most important first
    parts: list[tuple[str, str]] = field(default_factory=list)
    #: (name, text) pairs: evidence, with conn_state / TCP history meanings spelled out
    evidence: list[tuple[str, str]] = field(default_factory=list)
    cypher: str = ""
    link: str | None = None


@dataclass
class ShiftItem:
    finding: FindingItem
    metric: str | None = None
    #: (window, value) of `metric` in the snapshots up to the window
    history: list[tuple[str, float]] = field(default_factory=list)
    chart: Chart | None = None


@dataclass
class HostGroup:
    host: str
    internal: bool | None
    max_score: float
    findings: list[FindingItem] = field(default_factory=list)


@dataclass
class TreeLeaf:
    value: str
    meaning: str
    baseline: int  # connections with this value in the baseline windows
    current: int | None = None  # ... and in the window (None: unknown)
    novel: bool = False


@dataclass
class TreeBranch:
    component: str
    description: str
    leaves: list[TreeLeaf] = field(default_factory=list)
    more: int = 0  # further values not drawn
    novel: bool = False


@dataclass
class FingerprintTree:
    finding_id: str
    src: str
    dst: str
    baseline_windows: list[str]
    baseline_connections: int
    branches: list[TreeBranch] = field(default_factory=list)
    chart: Chart | None = None
    #: whose habits the baseline counts are: "pair" (src -> dst), "server" (everything dst
    #: received: the pair is new) or "client" (everything src sent: dst is new as well)
    level: str = "pair"

    def describe(self) -> str:
        k = len(self.baseline_windows)
        span = f"{self.baseline_connections:,} connections in {k} baseline window" + (
            "s" if k != 1 else ""
        )
        new = f"{self.src} → {self.dst} is a new pair"
        if self.level == "server":
            return f"{new}; what {self.dst} usually receives: {span}"
        if self.level == "client":
            return f"{new}; what {self.src} usually sends: {span}"
        return f"what {self.src} → {self.dst} usually does: {span}"


@dataclass
class VolumeItem:
    """A top `volume_anomaly` finding with its entity's flows per bucket over the window and
    the expected band (`series`: `graphnet.detectors.volume.series` output, kept out of the
    JSON; None with a `note` when it could not be computed)."""

    host: str  # a host id, or `src->dst` for an edge
    finding_id: str
    explanation: str
    score: float = 0.0
    buckets: int = 0
    buckets_out: int = 0  # buckets out of band (flagged by the detector)
    max_flows: float | None = None
    max_time: str = ""
    band_lo: float | None = None  # the band at the bucket with `max_flows`
    band_hi: float | None = None
    note: str = ""
    series: Any = field(default=None, repr=False, compare=False, metadata={"json": False})
    chart: Chart | None = None

    def summary(self) -> str:
        """One line with the numbers (empty when there is no series)."""
        if self.max_flows is None:
            return ""
        band = (
            f"expected {self.band_lo:.0f}–{self.band_hi:.0f}"
            if self.band_lo is not None and self.band_hi is not None
            else "no band"
        )
        return (
            f"{self.buckets_out:,} of {self.buckets:,} buckets out of band; max "
            f"{self.max_flows:.0f} flows at {self.max_time} ({band})"
        )


def band_arrays(frame: Any) -> tuple[Any, Any, Any, Any]:
    """(flows, band_lo, band_hi, flagged) of a `graphnet.detectors.volume.series` frame."""
    return (
        frame["flows"].to_numpy(dtype="float64"),
        frame["band_lo"].to_numpy(dtype="float64"),
        frame["band_hi"].to_numpy(dtype="float64"),
        frame["flagged"].fillna(False).to_numpy(dtype=bool),
    )


def volume_numbers(frame: Any) -> dict[str, Any]:
    """Buckets, buckets out of band, the highest bucket and the band there, of a
    `graphnet.detectors.volume.series` frame."""
    import numpy as np

    flows, lo, hi, out = band_arrays(frame)
    if not len(flows):
        return {"buckets": 0, "buckets_out": 0}
    i = int(np.nanargmax(flows)) if np.isfinite(flows).any() else 0
    when: Any = frame["time"].iloc[i]
    return {
        "buckets": len(flows),
        "buckets_out": int(out.sum()),
        "max_flows": float(flows[i]),
        "max_time": when.strftime("%Y-%m-%d %H:%M UTC") if hasattr(when, "strftime") else "",
        "band_lo": float(lo[i]) if math.isfinite(lo[i]) else None,
        "band_hi": float(hi[i]) if math.isfinite(hi[i]) else None,
    }


@dataclass
class Report:
    window: str
    generated: str
    start: str = ""
    end: str = ""
    previous: str | None = None
    baseline: list[str] = field(default_factory=list)
    browser_url: str | None = None
    current: Totals | None = None
    previous_totals: Totals | None = None
    baseline_mean: Totals | None = None
    history: list[Totals] = field(default_factory=list)
    new_hosts: list[HostItem] = field(default_factory=list)
    new_hosts_total: int = 0
    new_edges: list[EdgeItem] = field(default_factory=list)
    new_edges_total: int = 0
    new_services: list[EdgeItem] = field(default_factory=list)
    new_services_total: int = 0
    vanished_edges: list[EdgeItem] = field(default_factory=list)
    vanished_edges_total: int = 0
    shifts: list[ShiftItem] = field(default_factory=list)
    shifts_total: int = 0
    deviations: list[HostGroup] = field(default_factory=list)
    deviations_total: int = 0
    volume: list[VolumeItem] = field(default_factory=list)
    findings_by_kind: dict[str, int] = field(default_factory=dict)
    novelty_chart: Chart | None = None
    novelty_note: str = ""
    trees: list[FingerprintTree] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    analysis: list[dict[str, Any]] = field(default_factory=list)
    legend: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, code, meaning)
    notes: list[str] = field(default_factory=list)
    top: int = 20

    def all_charts(self) -> list[Chart]:
        """Every chart of the report, in reading order."""
        out = list(self.charts)
        out += [s.chart for s in self.shifts if s.chart is not None]
        out += [v.chart for v in self.volume if v.chart is not None]
        if self.novelty_chart is not None:
            out.append(self.novelty_chart)
        out += [t.chart for t in self.trees if t.chart is not None]
        return out

    def to_json(self, chart_files: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The report as JSON-ready data; a chart is its key, title, alt text and (when given)
        the file it was written to."""
        files = chart_files or {}

        def conv(obj: Any) -> Any:
            if isinstance(obj, Chart):
                return {
                    "key": obj.key,
                    "title": obj.title,
                    "alt": obj.alt,
                    "file": files.get(obj.key),
                }
            if isinstance(obj, list):
                return [conv(x) for x in obj]
            if isinstance(obj, tuple):
                return [conv(x) for x in obj]
            if isinstance(obj, dict):
                return {str(k): conv(v) for k, v in obj.items()}
            if hasattr(obj, "__dataclass_fields__"):
                return {
                    k: conv(getattr(obj, k))
                    for k, f in obj.__dataclass_fields__.items()
                    if f.metadata.get("json", True)
                }
            if isinstance(obj, float) and not math.isfinite(obj):
                return None
            return obj

        data = conv(self)
        data["format"] = "graphnet-report/1"
        return data


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
    """The per-connection novelty scores of a window, if the novelty scorer stored them (a
    Parquet file with `score` and `uniqueness` columns under the window's scores folder), else
    None."""
    import pyarrow.parquet as pq

    candidates: list[Path] = []
    for d in (settings.home / "scores" / window, settings.archive_dir / window / "scores"):
        if d.is_dir():
            candidates += sorted(d.glob("*.parquet"))
    frames = []
    for p in candidates:
        try:
            names = pq.read_schema(p).names
        except Exception:
            continue
        if {"score", "uniqueness"} <= set(names):
            cols = [c for c in ("src", "dst", "score", "uniqueness", "uid") if c in names]
            frames.append(pq.read_table(p, columns=cols).to_pandas())
    if not frames:
        return None
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


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
) -> Report:
    """Collect the change report of `window` (default: the latest window that has ended).

    Compares the window with the previous window holding data and with its baseline (the
    `baseline_windows` windows with data before it): sizes, new hosts, new edges, new services
    between pairs that already talked, vanished edges; the window's findings (top centrality
    shifts with their metric history, deviating connections and paths grouped by host), the
    novelty-versus-uniqueness scatter when per-connection scores exist, and the fingerprint of
    the pairs of the top novel connections. `browser_url` (default: `resolve_browser_url`)
    makes every item a link that opens its Cypher in Neo4j Browser.

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

    # -- findings ----------------------------------------------------------------------------
    found = findings_mod.load(store, window=window)
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
    scores = novelty_scores(settings, window)
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

    # -- analysis steps and legend ---------------------------------------------------------
    rows = store.read("report_analysis", window=window)
    if rows and rows[0].get("steps"):
        try:
            report.analysis = list(json.loads(rows[0]["steps"]))
        except (TypeError, ValueError):
            report.analysis = []
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
    """Time charts of the top `volume_anomaly` findings: the baselines are fitted once on the
    archive (as `graphnet.detectors.volume.volume_series` does), then each finding's host (or
    edge) gets its series. Anything that fails leaves a note on the item, never the report."""
    from graphnet.reports import charts as charts_mod

    items = []
    for f in found:
        hosts = [str(h) for h in f.hosts]
        edge = (f.evidence or {}).get("entity") == "edge" and len(hosts) >= 2
        entity = f"{hosts[0]}->{hosts[1]}" if edge else (hosts[0] if hosts else "")
        items.append(VolumeItem(entity, f.id, f.explanation or "", float(f.score)))
    try:
        from graphnet.detectors import volume as volume_mod

        det, _, _, conns = volume_mod.fit_window(settings, window, volume_mod.VolumeSettings())
        start, end = windows.bounds(window)
    except Exception as exc:  # no archive, not enough history, ...: the report goes on
        log.warning("no volume time charts for %s: %s", window, exc)
        for item in items:
            item.note = f"no time chart: the volume baselines could not be fitted ({exc})"
        return items
    for item in items:
        if not item.host:
            item.note = "no time chart: the finding names no host"
            continue
        try:
            frame = volume_mod.series(det, conns, item.host, start.timestamp(), end.timestamp())
            nums = volume_numbers(frame)
        except Exception as exc:
            log.warning("no volume time chart for %s in %s: %s", item.host, window, exc)
            item.note = f"no time chart: {exc}"
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
