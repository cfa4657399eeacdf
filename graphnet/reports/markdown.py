"""Render a `Report` as Markdown (`render_markdown`), charts referenced as PNG files.

Every log-derived string goes through `graphnet.reports.escape.md` (Markdown syntax and
`<`/`>` backslash-escaped, so no raw HTML reaches a renderer); hosts through `md_host`, which
isolates right-to-left text; Cypher through `fence`, whose code block no backtick run inside
can close.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from graphnet.reports.describe import KIND_TITLES
from graphnet.reports.escape import Md, fence, md, md_host, md_pair
from graphnet.reports.formatting import (
    RANKING_HEAD,
    change_rows,
    counts_text,
    how_text,
    size,
    step_rows,
    summary_rows,
    tree_rows,
    where,
)
from graphnet.reports.types import (
    DNS_HEAD,
    DNS_RECORD_HEAD,
    GROUP_HEAD,
    HTTP_HEAD,
    HTTP_RECORD_HEAD,
    TUNNEL_HEAD,
    AppClientItem,
    Chart,
    EdgeItem,
    FindingGroupItem,
    FindingItem,
    RankedHost,
    Ranking,
    Report,
    TunnelItem,
)


def _md_table(head: Sequence[Any], rows: Iterable[Sequence[Any]]) -> Md:
    lines = [
        "| " + " | ".join(md(h) for h in head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
    ]
    n = 0
    for row in rows:
        lines.append("| " + " | ".join(md(c) if c != "" else "" for c in row) + " |")
        n += 1
    if not n:
        return Md("_none_")
    return Md("\n".join(lines))


def _md_link(href: str | None, text: str = "open in Neo4j Browser") -> str:
    if not href:
        return ""
    return f"[{md(text)}](<{href}>)"


def _md_edges(items: Sequence[EdgeItem], kind: str) -> list[str]:
    out: list[str] = []
    if kind == "new":
        out.append(
            _md_table(
                [
                    "source → destination",
                    "connections",
                    "bytes",
                    "services",
                    "ports",
                    "connection states and TCP histories",
                ],
                [
                    (
                        md_pair(e.src, e.dst),
                        f"{e.conns:,}",
                        size(e.bytes),
                        counts_text(e.services),
                        counts_text(e.ports),
                        how_text(e),
                    )
                    for e in items
                ],
            )
        )
    elif kind == "services":
        out.append(
            _md_table(
                [
                    "source → destination",
                    "new services",
                    "new ports",
                    "connections",
                    "connection states and TCP histories",
                ],
                [
                    (
                        md_pair(e.src, e.dst),
                        ", ".join(e.new_services) or "–",
                        ", ".join(e.new_ports) or "–",
                        f"{e.conns:,}",
                        how_text(e),
                    )
                    for e in items
                ],
            )
        )
    else:
        out.append(
            _md_table(
                [
                    "source → destination",
                    "connections before",
                    "baseline windows it talked in",
                    "services",
                ],
                [
                    (
                        md_pair(e.src, e.dst),
                        f"{e.conns:,}",
                        "–" if e.seen_in is None else str(e.seen_in),
                        counts_text(e.services),
                    )
                    for e in items
                ],
            )
        )
    return out


def _md_queries(items: Sequence[EdgeItem]) -> list[str]:
    if not items:
        return []
    out = ["<details><summary>Cypher for each row</summary>", ""]
    for e in items:
        out.append(f"- {md_pair(e.src, e.dst)} {_md_link(e.link)}")
        out.append("")
        out.append(fence(e.cypher))
        out.append("")
    out.append("</details>")
    return out


def _md_finding(f: FindingItem) -> list[str]:
    hosts = " → ".join(md_host(h) for h in f.hosts) or "–"
    out = [
        f"#### {md(KIND_TITLES.get(f.kind, f.kind))}: {hosts} (score {f.score:.2f})",
        "",
        md(f.explanation or "(no explanation)"),
        "",
        f"Status {md(f.status)} · id {md(f.id)} {_md_link(f.link)}",
        "",
    ]
    if f.parts:
        out += [_md_table(["part of the score", "value"], f.parts), ""]
    if f.evidence:
        out += [_md_table(["evidence", "value"], f.evidence), ""]
    if f.cypher:
        out += [fence(f.cypher), ""]
    return out


def _md_why(h: RankedHost) -> Md:
    if not h.reasons:
        return Md("–")
    return Md(
        " · ".join(
            f"**{md(r.detector)}**: {md(r.explanation or '(no finding text)')}" for r in h.reasons
        )
    )


def _md_ranking(rk: Ranking) -> list[str]:
    """The "Who to look at" section: the alerts first, then the top hosts."""
    out = ["## Who to look at", "", md(rk.headline()), ""]
    if rk.method and rk.note:
        out += [f"> {md(rk.note)}", ""]
    if not rk.top:
        return out
    rows = [
        (
            Md(str(h.rank)),  # numbers formatted here: nothing to escape
            md_host(h.host),
            Md(f"{h.risk:.1f}"),
            Md(h.p_text()),
            h.detectors_text(),
            _md_why(h),
            Md(_md_link(h.link, "open")),
        )
        for h in rk.top
    ]
    out += [_md_table(RANKING_HEAD, rows), ""]
    if rk.ranked > len(rk.top):
        out += [f"_showing {len(rk.top):,} of {rk.ranked:,} hosts with any risk_", ""]
    out += ["<details><summary>Cypher for each host</summary>", ""]
    for h in rk.top:
        out += [f"- {md_host(h.host)} {_md_link(h.link)}", "", fence(h.cypher), ""]
    out += ["</details>", ""]
    return out


def _md_groups(r: Report) -> list[str]:
    """The findings by host and by conversation: the top groups, the rest one flag away."""
    if not r.host_groups and not r.conversation_groups:
        return []
    out = ["## Findings by host and by conversation", ""]

    def rows(groups: Sequence[FindingGroupItem]) -> list[tuple[Any, ...]]:
        return [
            (
                Md(str(g.rank)),
                Md(" → ".join(md_host(h) for h in g.hosts)),
                Md(f"{g.score:.2f}"),
                Md(str(g.count)),
                ", ".join(g.detectors),
                g.explanation,
                g.baseline or "–",
            )
            for g in groups
        ]

    for title, groups, total in (
        ("Hosts", r.host_groups, r.host_groups_total),
        ("Conversations", r.conversation_groups, r.conversation_groups_total),
    ):
        if not groups:
            continue
        out += [f"### {title}", "", _md_table(GROUP_HEAD, rows(groups)), ""]
        if total > len(groups):
            out += [
                f"_showing {len(groups):,} of {total:,}; every one: `graphnet findings "
                f"--window {md(r.window)} --all`_",
                "",
            ]
    return out


def _md_more(shown: int, total: int, what: str, window: str, kind: str) -> list[str]:
    if total <= shown:
        return []
    return [
        f"_showing {shown:,} of {total:,} {what}; every one: `graphnet findings --window "
        f"{md(window)} --kind {kind} --all`_",
        "",
    ]


def _md_status(status: str, finding_id: str, link: str | None) -> str:
    return f"Status {md(status)} · id {md(finding_id)} {_md_link(link)}".rstrip()


def _md_clients(r: Report, kind: str) -> list[str]:
    """The section of `suspicious_dns` or `suspicious_http`: the clients, worst first, each
    with its worst records (left out when the window has no such finding)."""
    dns = kind == "suspicious_dns"
    items: Sequence[AppClientItem] = r.dns_clients if dns else r.http_clients
    total = r.dns_clients_total if dns else r.http_clients_total
    if not items:
        return []
    what = "queries" if dns else "requests"
    out = [
        "## Suspicious DNS queries, by client" if dns else "## Suspicious web requests, by client",
        "",
        md(
            f"Clients with {what} whose words no client's profile expects ({kind}: Apache "
            f"Spot's {'DNS' if dns else 'proxy'} suspicious connects), worst first."
        ),
        "",
        _md_table(
            DNS_HEAD if dns else HTTP_HEAD,
            [
                (
                    md_host(c.host),
                    where(c.internal),
                    Md(f"{c.score:.2f}"),
                    c.worst or "–",
                    c.below_text(what),
                    "–" if c.domains is None else f"{c.domains:,}",
                    c.status,
                )
                for c in items
            ],
        ),
        "",
    ]
    out += _md_more(len(items), total, "clients", r.window, kind)
    for c in items:
        out += [
            f"### {md_host(c.host)} ({where(c.internal)}, score {c.score:.2f})",
            "",
            md(c.explanation or "(no explanation)"),
            "",
        ]
        rows: list[tuple[str, ...]]
        if dns:
            rows = [
                (x.name or "–", x.domain or "–", x.detail or "–", x.uid or "–") for x in c.records
            ]
        else:
            rows = [
                (x.domain or "–", x.name or "–", x.detail or "–", x.agent or "–", x.uid or "–")
                for x in c.records
            ]
        out += [_md_table(DNS_RECORD_HEAD if dns else HTTP_RECORD_HEAD, rows), ""]
        if c.records_more:
            out += [
                f"_showing {len(c.records):,} of the {len(c.records) + c.records_more:,} "
                f"worst {what} the finding keeps_",
                "",
            ]
        out += [_md_status(c.status, c.finding_id, c.link), ""]
        if c.cypher:
            out += [fence(c.cypher), ""]
    return out


def _md_tunnel(t: TunnelItem) -> list[str]:
    subdomains = "–" if t.subdomains is None else f"{t.subdomains:,}"
    out = [
        f"### {md(t.domain or '–')} ({subdomains} distinct subdomains, {t.score:.1f} × the "
        f"threshold of {t.threshold_text()})",
        "",
        md(t.explanation or "(no explanation)"),
        "",
        _md_table(
            ["client", "where", "distinct subdomains"],
            [
                (
                    md_host(c.host),
                    where(c.internal),
                    "–" if c.subdomains is None else f"{c.subdomains:,}",
                )
                for c in t.clients
            ],
        ),
        "",
    ]
    if t.clients_total > len(t.clients):
        out += [f"_showing {len(t.clients):,} of {t.clients_total:,} clients_", ""]
    if t.examples:
        out += ["Longest names asked by its first client:", ""]
        out += [f"- {md(x)}" for x in t.examples]
        out.append("")
    out += [_md_status(t.status, t.finding_id, t.link), ""]
    if t.cypher:
        out += [fence(t.cypher), ""]
    return out


def _md_tunnels(r: Report) -> list[str]:
    """The `dns_tunnel` section: the registered domains, most distinct subdomains first, each
    with its clients (left out when the window has no such finding)."""
    if not r.dns_tunnels:
        return []

    def n(v: int | None) -> str:
        return "–" if v is None else f"{v:,}"

    out = [
        "## DNS tunnelling, by registered domain",
        "",
        md(
            "Registered domains with more distinct subdomains in this window than its threshold "
            "(dns_tunnel: learned from the window's domains), most first."
        ),
        "",
        _md_table(
            TUNNEL_HEAD,
            [
                (
                    t.domain or "–",
                    n(t.subdomains),
                    t.threshold_text(),
                    Md(f"{t.score:.1f}"),
                    n(t.queries),
                    n(t.txt_null),
                    n(t.nxdomain),
                    f"{t.clients_total:,}",
                    t.status,
                )
                for t in r.dns_tunnels
            ],
        ),
        "",
    ]
    out += _md_more(len(r.dns_tunnels), r.dns_tunnels_total, "domains", r.window, "dns_tunnel")
    for t in r.dns_tunnels:
        out += _md_tunnel(t)
    return out


def render_markdown(report: Report, chart_files: Mapping[str, str] | None = None) -> str:
    """The report as Markdown; charts are referenced as files (`chart_files`: chart key ->
    path relative to the Markdown file) and left out when not given."""
    r = report
    files = chart_files or {}

    def img(c: Chart | None) -> list[str]:
        if c is None or c.key not in files:
            return []
        return [f"![{md(c.alt)}]({files[c.key]})", ""]

    out: list[str] = [
        f"# What changed in {md(r.window)}",
        "",
        f"{md(r.start[:10])} – {md(r.end[:10])} (UTC) · compared with "
        f"{md(r.previous or 'no earlier window')} and the baseline "
        f"{md(', '.join(r.baseline) or '(none yet)')} · generated {md(r.generated)}",
        "",
    ]
    if r.ranking is not None:
        out += _md_ranking(r.ranking)
    out += _md_groups(r)
    out += ["## At a glance", ""]
    for n in r.notes:
        out += [f"> {md(n)}", ""]
    out += [
        _md_table(
            ["", "this window", f"previous ({r.previous or '–'})", "baseline mean", "vs baseline"],
            summary_rows(r),
        ),
        "",
    ]
    if r.baseline:
        out += [_md_table(["change against the baseline", "count"], change_rows(r)), ""]
    kinds = ", ".join(
        f"{KIND_TITLES.get(k, k)}: {n}" for k, n in sorted(r.findings_by_kind.items())
    )
    out += [f"Findings: {md(kinds or 'none for this window')}", ""]
    for c in r.charts:
        out += img(c)

    if r.baseline:
        out += ["## What is new, what is gone", "", "### New hosts", ""]
        out += [
            _md_table(
                ["host", "where", "peers", "connections", "bytes"],
                [
                    (
                        md_host(h.host),
                        where(h.internal),
                        f"{h.peers:,}",
                        f"{h.conns:,}",
                        size(h.bytes),
                    )
                    for h in r.new_hosts
                ],
            ),
            "",
        ]
        if r.new_hosts:
            out += ["<details><summary>Cypher for each host</summary>", ""]
            for h in r.new_hosts:
                out += [f"- {md_host(h.host)} {_md_link(h.link)}", "", fence(h.cypher), ""]
            out += ["</details>", ""]
        for title, items, total, kind in (
            ("New host pairs", r.new_edges, r.new_edges_total, "new"),
            (
                "New services between hosts that already talked",
                r.new_services,
                r.new_services_total,
                "services",
            ),
            (
                f"Host pairs of {r.previous or 'the previous window'} that did not talk in "
                f"{r.window}",
                r.vanished_edges,
                r.vanished_edges_total,
                "vanished",
            ),
        ):
            out += [f"### {md(title)}", ""]
            out += _md_edges(items, kind)
            out.append("")
            if total > len(items):
                out += [f"_showing {len(items):,} of {total:,}_", ""]
            out += _md_queries(items)
            out.append("")

    out += ["## Hosts whose place in the network changed", ""]
    if not r.shifts:
        out += ["_no centrality\\_shift findings for this window_", ""]
    for s in r.shifts:
        out += _md_finding(s.finding)
        out += img(s.chart)

    out += ["## Deviating connections and paths, by host", ""]
    if not r.deviations:
        out += ["_no deviating connections or paths for this window_", ""]
    for g in r.deviations:
        out += [
            f"### {md_host(g.host)} ({where(g.internal)}, {len(g.findings)} finding(s), highest "
            f"score {g.max_score:.2f})",
            "",
        ]
        for f in g.findings:
            out += _md_finding(f)

    if r.volume:
        out += ["## Volume anomalies: flows per bucket against the expected band", ""]
        for v in r.volume:
            out += [
                f"### {md_host(v.host)} (score {v.score:.2f}, {md(v.finding_id)})",
                "",
                md(v.explanation or "(no explanation)"),
                "",
            ]
            if v.summary():
                out += [md(v.summary()), ""]
            if v.note:
                out += [f"> {md(v.note)}", ""]
            out += img(v.chart)

    out += _md_clients(r, "suspicious_dns")
    out += _md_clients(r, "suspicious_http")
    out += _md_tunnels(r)

    out += ["## Novelty of the window's connections", ""]
    if r.novelty_chart is not None:
        out += img(r.novelty_chart)
    else:
        out += [f"> {md(r.novelty_note or 'no novelty scores')}", ""]
    for t in r.trees:
        out += [f"### Fingerprint of {md_pair(t.src, t.dst)}", "", md(t.describe()), ""]
        out += img(t.chart)
        out += [_md_table(["component", "baseline values (count)"], tree_rows(t)), ""]

    out += ["## About this report", ""]
    if r.analysis:
        out += [
            "### Analysis steps run for this window",
            "",
            _md_table(["step", "outcome", "message"], step_rows(r)),
            "",
        ]
    if r.legend:
        out += [
            "### Connection states and TCP history letters",
            "",
            _md_table(["field", "code", "meaning"], r.legend),
            "",
        ]
    if r.browser_url:
        out += [f"Links open the query in Neo4j Browser at {md(r.browser_url)}.", ""]
    else:
        out += [
            "No Neo4j Browser address is known: paste the Cypher of an item into Neo4j "
            "Browser to open it.",
            "",
        ]
    return "\n".join(out).rstrip() + "\n"
