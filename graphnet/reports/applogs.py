"""The application-log sections of a report, from the window's stored findings (pure: findings
in, items out): the clients of `suspicious_dns` and `suspicious_http` findings with their
worst records, and the registered domains of `dns_tunnel` findings with their clients.

What a section shows is what the finding stored (`graphnet.detectors.applogs.steps`): its
`parts` (records below the threshold; subdomains, threshold) and `evidence` (the worst records'
`uids` and `examples`, and, for findings analysed since they are kept, each example's
registered domain or Host header, type and code or method and status, and user agent). A
finding stored before those were kept shows its examples alone. Every string here came from
logs and is escaped where `markdown` and `html` insert it.

Each section is bounded (`APP_TOP` rows, `APP_RECORDS` records per client, `TUNNEL_CLIENTS`
clients and `TUNNEL_EXAMPLES` names per domain, logged strings cut at `TEXT_MAX` characters)
and sorted deterministically (score, then host or domain, then finding id).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphnet.reports.links import browser_link, finding_query
from graphnet.reports.types import AppClientItem, AppRecord, TunnelClient, TunnelItem

#: clients (domains) listed per section, worst first
APP_TOP = 10
#: worst records listed per client (a finding keeps up to 10)
APP_RECORDS = 5
#: clients listed per tunnelling domain, most distinct subdomains first
TUNNEL_CLIENTS = 5
#: example query names listed per tunnelling domain
TUNNEL_EXAMPLES = 5
#: characters of a logged string shown (a DNS name has at most 253); longer ones are cut
TEXT_MAX = 256

#: the kinds with a section of their own, and what their records are called
CLIENT_KINDS = {"suspicious_dns": "queries", "suspicious_http": "requests"}


def shorten(text: str, limit: int = TEXT_MAX) -> str:
    """`text`, cut after `limit` characters with how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… (+{len(text) - limit:,} characters)"


def _int(v: Any) -> int | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return int(v) if math.isfinite(v) else None


def _float(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v) if math.isfinite(v) else None


def _strs(v: Any) -> list[str]:
    return [str(x) for x in v] if isinstance(v, list) else []


def _at(values: Sequence[str], i: int) -> str:
    return values[i] if i < len(values) else ""


def _score(f: Any) -> float:
    s = float(f.score)
    return s if math.isfinite(s) else -math.inf


def _records(kind: str, evidence: Mapping[str, Any]) -> list[AppRecord]:
    """The finding's worst records (in the order it keeps them, worst first)."""
    examples = _strs(evidence.get("examples"))
    uids = _strs(evidence.get("uids"))
    details = _strs(evidence.get("example_details"))
    if kind == "suspicious_dns":
        domains = _strs(evidence.get("example_domains"))
        return [
            AppRecord(
                name=shorten(name),
                uid=_at(uids, i),
                domain=shorten(_at(domains, i)),
                detail=shorten(_at(details, i)),
            )
            for i, name in enumerate(examples)
        ]
    hosts = _strs(evidence.get("example_hosts"))
    agents = _strs(evidence.get("example_agents"))
    out = []
    for i, item in enumerate(examples):
        host = _at(hosts, i)
        # the example is the host and the URI joined (app_http_views.sql)
        uri = item[len(host) :] if host and item.startswith(host) else item
        out.append(
            AppRecord(
                name=shorten(uri),
                uid=_at(uids, i),
                domain=shorten(host),
                detail=shorten(_at(details, i)),
                agent=shorten(_at(agents, i)),
            )
        )
    return out


def client_item(f: Any, browser: str | None) -> AppClientItem:
    """A `suspicious_dns` / `suspicious_http` finding as a row of its section."""
    what = CLIENT_KINDS[f.kind]
    ev = f.evidence or {}
    parts = f.parts or {}
    records = _records(f.kind, ev)
    examples = _strs(ev.get("examples"))
    q = f.cypher or finding_query(f.id)
    return AppClientItem(
        host=str(f.hosts[0]) if f.hosts else "",
        finding_id=f.id,
        score=float(f.score),
        worst=shorten(examples[0]) if examples else "",
        below=_int(parts.get(f"suspicious_{what}")),
        records_total=_int(ev.get(what)),
        domains=_int(ev.get("domains")),
        server=str(f.hosts[1]) if len(f.hosts) > 1 else "",
        explanation=f.explanation or "",
        records=records[:APP_RECORDS],
        records_more=max(0, len(records) - APP_RECORDS),
        status=f.status,
        cypher=q,
        link=browser_link(browser, q),
    )


def tunnel_item(f: Any, browser: str | None) -> TunnelItem:
    """A `dns_tunnel` finding as a row of its section: its clients, most distinct subdomains
    first (the finding's `per_client`; else its hosts, in their order)."""
    ev = f.evidence or {}
    parts = f.parts or {}
    per_client = ev.get("per_client")
    if isinstance(per_client, dict) and per_client:
        counted = sorted(
            ((str(h), _int(n)) for h, n in per_client.items()),
            key=lambda hn: (-(hn[1] if hn[1] is not None else -1), hn[0]),
        )
        clients = [TunnelClient(h, n) for h, n in counted]
    else:
        clients = [TunnelClient(str(h)) for h in f.hosts]
    q = f.cypher or finding_query(f.id)
    return TunnelItem(
        domain=shorten(str(ev.get("domain") or "")),
        finding_id=f.id,
        score=float(f.score),
        subdomains=_int(parts.get("subdomains")),
        threshold=_float(parts.get("threshold")),
        queries=_int(ev.get("queries")),
        txt_null=_int(ev.get("txt_null")),
        nxdomain=_int(ev.get("nxdomain")),
        clients_total=max(len(clients), _int(ev.get("clients")) or 0),
        clients=clients[:TUNNEL_CLIENTS],
        examples=[shorten(x) for x in _strs(ev.get("examples"))[:TUNNEL_EXAMPLES]],
        explanation=f.explanation or "",
        status=f.status,
        cypher=q,
        link=browser_link(browser, q),
    )


def _top(found: Iterable[Any], kind: str, key: Callable[[Any], str]) -> tuple[list[Any], int]:
    fs = sorted((f for f in found if f.kind == kind), key=lambda f: (-_score(f), key(f), str(f.id)))
    return fs[:APP_TOP], len(fs)


def _first_host(f: Any) -> str:
    return str(f.hosts[0]) if f.hosts else ""


def _domain(f: Any) -> str:
    return str((f.evidence or {}).get("domain") or "")


@dataclass
class AppSections:
    """The three sections' rows and how many findings each kind has in the window."""

    dns: list[AppClientItem] = field(default_factory=list)
    dns_total: int = 0
    http: list[AppClientItem] = field(default_factory=list)
    http_total: int = 0
    tunnels: list[TunnelItem] = field(default_factory=list)
    tunnels_total: int = 0

    def hosts(self) -> set[str]:
        """Every host shown (whether each is internal is read from the graph)."""
        out = {c.host for c in [*self.dns, *self.http] if c.host}
        out |= {c.host for t in self.tunnels for c in t.clients if c.host}
        return out

    def set_internal(self, internal: Mapping[str, bool | None]) -> None:
        for c in [*self.dns, *self.http]:
            c.internal = internal.get(c.host)
        for t in self.tunnels:
            for tc in t.clients:
                tc.internal = internal.get(tc.host)


def app_sections(found: Iterable[Any], browser: str | None = None) -> AppSections:
    """The application-log sections of a window from its findings (`graphnet.findings.Finding`
    objects, any order): the `APP_TOP` worst of each kind."""
    found = list(found)
    dns, dns_total = _top(found, "suspicious_dns", _first_host)
    http, http_total = _top(found, "suspicious_http", _first_host)
    tunnels, tunnels_total = _top(found, "dns_tunnel", _domain)
    return AppSections(
        dns=[client_item(f, browser) for f in dns],
        dns_total=dns_total,
        http=[client_item(f, browser) for f in http],
        http_total=http_total,
        tunnels=[tunnel_item(f, browser) for f in tunnels],
        tunnels_total=tunnels_total,
    )
