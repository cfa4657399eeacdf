"""The content of a change report: plain data (strings as logged, numbers, PNG bytes of the
charts) that `graphnet.reports.model` fills from the store, `graphnet.reports.charts` draws and
`graphnet.reports.html`, `markdown` and `jsondoc` turn into HTML, Markdown and JSON.

This is the lowest module of the package: it imports nothing from graphnet, so
model -> charts -> types and html / markdown / jsondoc -> types run one way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


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
    the expected band (`series`: the rows of the entity in the time charts the volume step
    stored, `graphnet.detectors.volume.stored_series`, kept out of the JSON; None with a
    `note` when none is stored)."""

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
class AppRecord:
    """One of the worst records of a `suspicious_dns` / `suspicious_http` finding, as logged
    (what the finding's evidence keeps of it; empty: not kept)."""

    #: dns: the query name; http: the URI (host and URI as one string when the host is unknown)
    name: str
    uid: str = ""
    #: dns: the name's registered domain; http: the Host header
    domain: str = ""
    #: dns: query type and response code; http: method and status
    detail: str = ""
    #: http: the user agent
    agent: str = ""


@dataclass
class AppClientItem:
    """A client of a `suspicious_dns` or `suspicious_http` finding: its worst query name (or
    request), how many of its records fell below the detector's threshold, to how many
    registered domains (http: hosts), and its worst records."""

    host: str
    finding_id: str
    score: float
    worst: str  # the worst query name, or host and URI of the worst request
    below: int | None = None  # records below the threshold
    records_total: int | None = None  # the client's records in the window
    domains: int | None = None  # registered domains (http: hosts) of the records below it
    server: str = ""  # the server of the worst record (resolver or web server)
    internal: bool | None = None
    explanation: str = ""
    records: list[AppRecord] = field(default_factory=list)
    records_more: int = 0  # further worst records the finding keeps, not listed
    status: str = "new"
    cypher: str = ""
    link: str | None = None

    def below_text(self, what: str) -> str:
        """`120 of 400 queries` (what: `queries` or `requests`)."""
        if self.below is None:
            return "–"
        if self.records_total is None:
            return f"{self.below:,} {what}"
        return f"{self.below:,} of {self.records_total:,} {what}"


@dataclass
class TunnelClient:
    host: str
    subdomains: int | None = None  # distinct subdomains of the domain it asked for
    internal: bool | None = None


@dataclass
class TunnelItem:
    """A `dns_tunnel` finding: a registered domain with more distinct subdomains in the window
    than the window's threshold, and the clients that asked for them."""

    domain: str
    finding_id: str
    score: float  # distinct subdomains / threshold
    subdomains: int | None = None
    threshold: float | None = None
    queries: int | None = None
    txt_null: int | None = None
    nxdomain: int | None = None
    clients_total: int = 0
    clients: list[TunnelClient] = field(default_factory=list)  # most subdomains first
    examples: list[str] = field(default_factory=list)  # longest names of its first client
    explanation: str = ""
    status: str = "new"
    cypher: str = ""
    link: str | None = None

    def threshold_text(self) -> str:
        return "–" if self.threshold is None else f"{self.threshold:,.0f}"


#: head of the tables of the application-log sections
DNS_HEAD = (
    "client",
    "where",
    "score",
    "worst query name",
    "below the threshold",
    "registered domains",
    "status",
)
HTTP_HEAD = (
    "client",
    "where",
    "score",
    "worst request (host and URI)",
    "below the threshold",
    "hosts",
    "status",
)
DNS_RECORD_HEAD = ("query name", "registered domain", "type and response code", "uid")
HTTP_RECORD_HEAD = ("host", "URI", "method and status", "user agent", "uid")
TUNNEL_HEAD = (
    "registered domain",
    "distinct subdomains",
    "threshold",
    "× threshold",
    "queries",
    "TXT or NULL",
    "NXDOMAIN",
    "clients",
    "status",
)


def rank_text(rank: float) -> str:
    """A rank as shown: `#3`, or `#2.5` for an average rank of tied hosts."""
    if not math.isfinite(rank):
        return "–"
    r = round(rank, 1)  # ranks come back from p-values with float noise (3.0000000001)
    return f"#{r:.0f}" if r == int(r) else f"#{r:.1f}"


@dataclass
class Reason:
    """Why one detector puts a host high in the combined ranking: the host's rank and score by
    that detector, and the explanation of its best finding about the host (as logged)."""

    detector: str
    rank: float  # the host's rank by this detector (1 = its highest score; ties share a rank)
    score: float | None = None
    contribution: float = 0.0  # what the detector adds to the host's combined risk
    explanation: str = ""
    kind: str = ""  # the kind of the best finding
    finding_id: str = ""

    def label(self) -> str:
        return f"{self.detector} {rank_text(self.rank)}"


@dataclass
class RankedHost:
    """A row of "Who to look at": a host of the combined ranking and the detectors that put
    it there (those contributing to its risk, most first)."""

    rank: int
    host: str
    risk: float
    p: float | None
    internal: bool | None = None
    reasons: list[Reason] = field(default_factory=list)
    cypher: str = ""
    link: str | None = None

    def detectors_text(self) -> str:
        return ", ".join(r.label() for r in self.reasons) or "–"

    def p_text(self) -> str:
        return "–" if self.p is None or not math.isfinite(self.p) else f"{self.p:.2g}"


@dataclass
class Ranking:
    """The combined risk ranking of the window's hosts (`graphnet.risk.risk_window`, from the
    stored findings of every detector): the first section of the report. Without a `method`
    it was not computed and `note` says why."""

    method: str = ""
    hosts: int = 0  # hosts of the window ranked
    alerts: int = 0  # hosts whose combined p is below `alpha`
    alpha: float = 0.001
    detectors: list[str] = field(default_factory=list)
    ranked: int = 0  # hosts with any risk (the others are not listed)
    top: list[RankedHost] = field(default_factory=list)
    note: str = ""

    def headline(self) -> str:
        """The section's first line: how many alerts the ranking raises, and from what."""
        if not self.method:
            return self.note or "no combined ranking for this window"
        a, n = self.alerts, self.hosts
        if a == 0:
            alerts = f"No alert: none of the {n:,} hosts has a combined p below {self.alpha:g}."
        elif a == 1:
            alerts = f"1 alert: 1 of {n:,} hosts has a combined p below {self.alpha:g}."
        else:
            alerts = f"{a:,} alerts: {a:,} of {n:,} hosts have a combined p below {self.alpha:g}."
        k = len(self.detectors)
        det = f"{k} detector{'s' if k != 1 else ''}" + (
            f" ({', '.join(self.detectors)})" if self.detectors else ""
        )
        return (
            f"{alerts} Combined risk from the stored findings of {det}, {self.method} fusion "
            f"of their ranks; {self.ranked:,} host{' has' if self.ranked == 1 else 's have'} "
            "any risk."
        )


@dataclass
class FindingGroupItem:
    """A host's (or a conversation's) findings in the window, ranked across detectors
    (`graphnet.grouping`): the best one's text and the baseline it was judged against."""

    rank: int
    hosts: list[str]
    score: float
    count: int
    detectors: list[str]
    explanation: str
    baseline: str = ""
    finding_ids: list[str] = field(default_factory=list)


#: head of the tables of finding groups
GROUP_HEAD = ("rank", "hosts", "score", "findings", "detectors", "best finding", "judged against")


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
    #: "Who to look at", the first section (None: not collected, e.g. a hand-made report)
    ranking: Ranking | None = None
    #: the findings grouped by host and by conversation, the top groups (`grouping.TOP_GROUPS`)
    host_groups: list[FindingGroupItem] = field(default_factory=list)
    host_groups_total: int = 0
    conversation_groups: list[FindingGroupItem] = field(default_factory=list)
    conversation_groups_total: int = 0
    #: the application-log sections: `suspicious_dns` and `suspicious_http` clients, worst
    #: first, and `dns_tunnel` domains, most subdomains first (the top `applogs.APP_TOP`)
    dns_clients: list[AppClientItem] = field(default_factory=list)
    dns_clients_total: int = 0
    http_clients: list[AppClientItem] = field(default_factory=list)
    http_clients_total: int = 0
    dns_tunnels: list[TunnelItem] = field(default_factory=list)
    dns_tunnels_total: int = 0

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
