"""Render a `Report` as one self-contained HTML page (`render_html`).

`string.Template` templates filled through `graphnet.reports.escape.fill`, which HTML-escapes
every value unless it is an `Html` fragment built here. Inline CSS, charts as data: URIs, no
script, no external resource, and a Content-Security-Policy that forbids scripts even if
something slipped through. Hosts and other log text that may hold right-to-left letters sit in
their own `<bdi>` element.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from string import Template
from typing import Any

from graphnet.reports.describe import KIND_TITLES
from graphnet.reports.escape import Html, cypher_text, esc, fill, join
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
    FindingItem,
    HostGroup,
    RankedHost,
    Ranking,
    Report,
    TunnelItem,
    VolumeItem,
)

CSS = Html("""
body{font-family:-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Helvetica,Arial,sans-serif;
margin:0;background:#f8f9fa;color:#212529;font-size:14px;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:24px 28px 48px;background:#fff}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:32px 0 8px;padding-bottom:4px;
border-bottom:2px solid #e9ecef}h3{font-size:16px;margin:20px 0 6px}
.sub{color:#495057;margin:0 0 16px}.muted{color:#868e96}
table{border-collapse:collapse;width:100%;margin:8px 0 12px;font-size:13px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e9ecef;vertical-align:top}
th{background:#f1f3f5;font-weight:600}td.n{text-align:right;white-space:nowrap}
tr:nth-child(even) td{background:#fcfcfd}
.host{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;word-break:break-all}
#ranking td:nth-child(2){min-width:10em}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;
background:#e7f5ff;color:#1864ab;margin-right:6px}
.b-centrality_shift{background:#fff4e6;color:#d9480f}.b-novel_connection{background:#fff5f5;
color:#c92a2a}.b-deviating_path{background:#f3f0ff;color:#5f3dc4}
.b-suspicious_connect{background:#fff0f6;color:#a61e4d}.b-volume_anomaly{background:#ebfbee;
color:#2b8a3e}.b-first_behaviour{background:#e6fcf5;color:#087f5b}
.b-beacon{background:#fff9db;color:#e67700}.b-long_connection{background:#e3fafc;
color:#0b7285}.b-strobe{background:#f8f0fc;color:#862e9c}
.b-suspicious_dns{background:#fff4e6;color:#d9480f}.b-suspicious_http{background:#f4fce3;
color:#5c940d}.b-dns_tunnel{background:#edf2ff;color:#364fc7}
.card{border:1px solid #dee2e6;border-radius:6px;padding:10px 14px;margin:10px 0}
.score{font-weight:600}.expl{margin:6px 0}.internal{color:#2b8a3e}.external{color:#c92a2a}
img{max-width:100%;height:auto;display:block;margin:8px 0}
details.cypher summary{cursor:pointer;color:#1864ab;font-size:12px}
pre{background:#f1f3f5;padding:8px;overflow-x:auto;font-size:12px;white-space:pre-wrap;
word-break:break-all}a{color:#1864ab}.note{background:#fff9db;border-left:4px solid #fab005;
padding:6px 10px;margin:6px 0}.kv td:first-child{width:28%;color:#495057}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:12px}
.lead{font-size:15px;font-weight:600;margin:6px 0 10px}ul.why{margin:0;padding-left:16px}
ul.why li{margin:0 0 3px}
""")

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; \
style-src 'unsafe-inline'">
<title>$title</title>
<style>$css</style>
</head>
<body><main>
$body
</main></body>
</html>
""")
HEADER = Template("""<h1>What changed in $window</h1>
<p class="sub">$start – $end (UTC) · compared with $previous and the baseline $baseline ·
generated $generated</p>""")
SECTION = Template("""<section id="$id"><h2>$title</h2>
$body
</section>""")
TABLE = Template("""<table><thead><tr>$head</tr></thead><tbody>
$rows
</tbody></table>""")
IMG = Template("""<figure><img src="data:image/png;base64,$data" alt="$alt"
width="$width"><figcaption class="muted">$title</figcaption></figure>""")
CYPHER = Template("""<details class="cypher"><summary>Cypher$open_text</summary>
<pre><code>$query</code></pre></details>""")
LINK = Template("""<a href="$href" rel="noopener noreferrer">$text</a>""")
FINDING = Template("""<div class="card"><div><span class="badge b-$kind">$kind_title</span>
<span class="score">score $score</span> · <span class="host">$hosts</span>
<span class="muted">· $status · $id</span> $open</div>
<p class="expl">$explanation</p>
$details
$cypher
</div>""")

VOLUME = Template("""<h3>$host <span class="muted">score $score · $id</span></h3>
<p class="expl">$expl</p>""")


def _img(chart: Chart | None, width: int = 1100) -> Html:
    if chart is None or not chart.png:
        return Html("")
    data = base64.b64encode(chart.png).decode("ascii")
    return fill(IMG, data=data, alt=chart.alt, width=str(width), title=chart.title)


def _table(head: Sequence[Any], rows: Iterable[Sequence[Any]], numeric: Sequence[int] = ()) -> Html:
    head_html = join(fill(Template("<th>$h</th>"), h=h) for h in head)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            cls = ' class="n"' if i in numeric else ""
            cells.append(Html(f"<td{cls}>") + esc(cell) + Html("</td>"))
        body.append(Html("<tr>") + join(cells) + Html("</tr>"))
    if not body:
        return Html('<p class="muted">none</p>')
    return fill(TABLE, head=head_html, rows=join(body, "\n"))


def _link(href: str | None, text: str = "open in Neo4j Browser") -> Html:
    if not href:
        return Html("")
    return fill(LINK, href=href, text=text)


def _cypher(query: str, link: str | None) -> Html:
    if not query:
        return Html("")
    return fill(
        CYPHER,
        query=cypher_text(query),
        open_text=" (paste into Neo4j Browser)" if not link else "",
    )


def _isolated(text: str) -> Html:
    """Log text in its own `<bdi>`: its direction cannot reorder the text around it."""
    return Html("<bdi>") + esc(text) + Html("</bdi>")


def _host(host: str, internal: bool | None = None) -> Html:
    cls = f" {where(internal)}" if internal is not None else ""
    return Html(f'<bdi class="host{cls}">') + esc(host) + Html("</bdi>")


def _pair(e: EdgeItem) -> Html:
    return join([_host(e.src, e.src_internal), " → ", _host(e.dst, e.dst_internal)])


def _open_cell(query: str, link: str | None) -> Html:
    return join([_link(link, "open"), _cypher(query, link)])


def _edge_table(items: Sequence[EdgeItem], kind: str) -> Html:
    rows: list[tuple[Any, ...]]
    if kind == "new":
        head = [
            "source → destination",
            "connections",
            "bytes",
            "services",
            "ports",
            "connection states and TCP histories",
            "Browser",
        ]
        rows = [
            (
                _pair(e),
                f"{e.conns:,}",
                size(e.bytes),
                counts_text(e.services),
                counts_text(e.ports),
                how_text(e),
                _open_cell(e.cypher, e.link),
            )
            for e in items
        ]
        return _table(head, rows, numeric=(1, 2))
    if kind == "services":
        head = [
            "source → destination",
            "new services",
            "new ports",
            "connections",
            "connection states and TCP histories",
            "Browser",
        ]
        rows = [
            (
                _pair(e),
                ", ".join(e.new_services) or "–",
                ", ".join(e.new_ports) or "–",
                f"{e.conns:,}",
                how_text(e),
                _open_cell(e.cypher, e.link),
            )
            for e in items
        ]
        return _table(head, rows, numeric=(3,))
    head = [
        "source → destination",
        "connections before",
        "bytes before",
        "baseline windows it talked in",
        "services",
        "Browser",
    ]
    rows = [
        (
            _pair(e),
            f"{e.conns:,}",
            size(e.bytes),
            "–" if e.seen_in is None else str(e.seen_in),
            counts_text(e.services),
            _open_cell(e.cypher, e.link),
        )
        for e in items
    ]
    return _table(head, rows, numeric=(1, 2, 3))


def _more(shown: int, total: int) -> Html:
    if total > shown:
        return fill(
            Template('<p class="muted">showing $shown of $total</p>'),
            shown=f"{shown:,}",
            total=f"{total:,}",
        )
    return Html("")


def _kv(rows: Sequence[tuple[str, str]]) -> Html:
    if not rows:
        return Html("")
    body = join(
        Html("<tr><td>") + esc(k) + Html("</td><td>") + esc(v) + Html("</td></tr>") for k, v in rows
    )
    return Html('<table class="kv"><tbody>') + body + Html("</tbody></table>")


def _finding(f: FindingItem) -> Html:
    details = []
    if f.parts:
        details.append(Html("<h4>Parts of the score</h4>") + _kv(f.parts))
    if f.evidence:
        details.append(Html("<h4>Evidence</h4>") + _kv(f.evidence))
    return fill(
        FINDING,
        kind=f.kind,
        kind_title=KIND_TITLES.get(f.kind, f.kind),
        score=f"{f.score:.2f}",
        hosts=join((_isolated(h) for h in f.hosts), " → ") or "–",
        status=f.status,
        id=f.id,
        open=_link(f.link),
        explanation=f.explanation or "(no explanation)",
        details=join(details),
        cypher=_cypher(f.cypher, f.link),
    )


def _group(g: HostGroup) -> Html:
    head = fill(
        Template(
            '<h3>$host <span class="muted">$where · $n finding(s), highest score $score</span></h3>'
        ),
        host=_host(g.host, g.internal),
        where=where(g.internal),
        n=str(len(g.findings)),
        score=f"{g.max_score:.2f}",
    )
    return head + join(_finding(f) for f in g.findings)


def _volume(v: VolumeItem) -> Html:
    head = fill(
        VOLUME,
        host=_host(v.host),
        score=f"{v.score:.2f}",
        id=v.finding_id,
        expl=v.explanation or "(no explanation)",
    )
    parts = [head]
    if v.summary():
        parts.append(fill(Template("<p>$s</p>"), s=v.summary()))
    if v.note:
        parts.append(fill(Template('<p class="note">$n</p>'), n=v.note))
    parts.append(_img(v.chart, width=1000))
    return join(parts)


def _why(h: RankedHost) -> Html:
    if not h.reasons:
        return Html('<span class="muted">–</span>')
    items = [
        fill(
            Template("<li><b>$d</b>: $e</li>"),
            d=r.detector,
            e=_isolated(r.explanation) if r.explanation else Html("(no finding text)"),
        )
        for r in h.reasons
    ]
    return Html('<ul class="why">') + join(items) + Html("</ul>")


def _ranking(rk: Ranking) -> Html:
    """The "Who to look at" section: the alerts first, then the top hosts."""
    parts = [fill(Template('<p class="lead">$t</p>'), t=rk.headline())]
    if rk.method and rk.note:
        parts.append(fill(Template('<p class="note">$n</p>'), n=rk.note))
    if rk.top:
        rows = [
            (
                str(h.rank),
                _host(h.host, h.internal),
                f"{h.risk:.1f}",
                h.p_text(),
                h.detectors_text(),
                _why(h),
                _open_cell(h.cypher, h.link),
            )
            for h in rk.top
        ]
        parts.append(_table(RANKING_HEAD, rows, numeric=(0, 2, 3)))
        parts.append(_more(len(rk.top), rk.ranked))
    return fill(SECTION, id="ranking", title="Who to look at", body=join(parts))


def _hosts(hosts: Sequence[str]) -> Html:
    """Hosts in order, each isolated, joined by arrows."""
    parts: list[Any] = []
    for i, h in enumerate(hosts):
        if i:
            parts.append(" → ")
        parts.append(_host(h))
    return join(parts)


def _groups(r: Report) -> Html:
    """The findings by host and by conversation: the top groups, the rest one flag away."""
    parts: list[Html] = []
    for title, groups, total in (
        ("Hosts", r.host_groups, r.host_groups_total),
        ("Conversations", r.conversation_groups, r.conversation_groups_total),
    ):
        if not groups:
            continue
        parts.append(fill(Template("<h3>$t</h3>"), t=title))
        rows = [
            (
                str(g.rank),
                _hosts(g.hosts),
                f"{g.score:.2f}",
                str(g.count),
                ", ".join(g.detectors),
                _isolated(g.explanation),
                g.baseline or "–",
            )
            for g in groups
        ]
        parts.append(_table(GROUP_HEAD, rows, numeric=(0, 2, 3)))
        if total > len(groups):
            parts.append(
                fill(
                    Template('<p class="muted">showing $n of $t; every one: <code>$c</code></p>'),
                    n=f"{len(groups):,}",
                    t=f"{total:,}",
                    c=f"graphnet findings --window {r.window} --all",
                )
            )
    if not parts:
        return Html("")
    return fill(
        SECTION, id="groups", title="Findings by host and by conversation", body=join(parts)
    )


APP_ITEM = Template("""<div class="card"><h3>$title</h3>
<p class="expl">$explanation</p>
$table
$more
<div class="muted">$status · $id $open</div>
$cypher
</div>""")


def _n(v: int | None) -> str:
    return "–" if v is None else f"{v:,}"


def _text(value: str) -> Html:
    """A logged string in a table cell, isolated; '–' when empty."""
    return _isolated(value) if value else Html("–")


def _app_more(shown: int, total: int, what: str, window: str, kind: str) -> Html:
    if total <= shown:
        return Html("")
    return fill(
        Template('<p class="muted">showing $n of $t $what; every one: <code>$c</code></p>'),
        n=f"{shown:,}",
        t=f"{total:,}",
        what=what,
        c=f"graphnet findings --window {window} --kind {kind} --all",
    )


def _app_client(c: AppClientItem, dns: bool) -> Html:
    what = "queries" if dns else "requests"
    rows: list[tuple[Any, ...]]
    if dns:
        rows = [(_text(x.name), _text(x.domain), _text(x.detail), x.uid or "–") for x in c.records]
    else:
        rows = [
            (_text(x.domain), _text(x.name), _text(x.detail), _text(x.agent), x.uid or "–")
            for x in c.records
        ]
    more = (
        fill(
            Template('<p class="muted">showing $n of the $t worst $what the finding keeps</p>'),
            n=f"{len(c.records):,}",
            t=f"{len(c.records) + c.records_more:,}",
            what=what,
        )
        if c.records_more
        else Html("")
    )
    return fill(
        APP_ITEM,
        title=join(
            [
                _host(c.host, c.internal),
                fill(
                    Template(' <span class="muted">$w · score $s</span>'),
                    w=where(c.internal),
                    s=f"{c.score:.2f}",
                ),
            ]
        ),
        explanation=_isolated(c.explanation or "(no explanation)"),
        table=_table(DNS_RECORD_HEAD if dns else HTTP_RECORD_HEAD, rows),
        more=more,
        status=c.status,
        id=c.finding_id,
        open=_link(c.link),
        cypher=_cypher(c.cypher, c.link),
    )


def _app_clients(r: Report, kind: str) -> Html:
    """The section of `suspicious_dns` or `suspicious_http`: the clients, worst first, each
    with its worst records (left out when the window has no such finding)."""
    dns = kind == "suspicious_dns"
    items: Sequence[AppClientItem] = r.dns_clients if dns else r.http_clients
    total = r.dns_clients_total if dns else r.http_clients_total
    if not items:
        return Html("")
    what = "queries" if dns else "requests"
    intro = fill(
        Template(
            '<p class="muted">Clients with $what whose words no client\'s profile expects '
            "(<code>$kind</code>: Apache Spot's $which suspicious connects), worst "
            "first.</p>"
        ),
        what=what,
        kind=kind,
        which="DNS" if dns else "proxy",
    )
    rows = [
        (
            _host(c.host, c.internal),
            where(c.internal),
            f"{c.score:.2f}",
            _text(c.worst),
            c.below_text(what),
            _n(c.domains),
            c.status,
        )
        for c in items
    ]
    parts = [
        intro,
        _table(DNS_HEAD if dns else HTTP_HEAD, rows, numeric=(2, 5)),
        _app_more(len(items), total, "clients", r.window, kind),
        join(_app_client(c, dns) for c in items),
    ]
    return fill(
        SECTION,
        id="dns" if dns else "http",
        title="Suspicious DNS queries, by client" if dns else "Suspicious web requests, by client",
        body=join(parts),
    )


def _tunnel(t: TunnelItem) -> Html:
    clients = _table(
        ["client", "where", "distinct subdomains"],
        [(_host(c.host, c.internal), where(c.internal), _n(c.subdomains)) for c in t.clients],
        numeric=(2,),
    )
    if t.clients_total > len(t.clients):
        clients = clients + fill(
            Template('<p class="muted">showing $n of $t clients</p>'),
            n=f"{len(t.clients):,}",
            t=f"{t.clients_total:,}",
        )
    if t.examples:
        clients = clients + fill(
            Template('<p>Longest names asked by its first client:</p><ul class="why">$li</ul>'),
            li=join(Html("<li>") + _isolated(x) + Html("</li>") for x in t.examples),
        )
    return fill(
        APP_ITEM,
        title=join(
            [
                _host(t.domain or "–"),
                fill(
                    Template(
                        ' <span class="muted">$n distinct subdomains, $r × the threshold of '
                        "$t</span>"
                    ),
                    n=_n(t.subdomains),
                    r=f"{t.score:.1f}",
                    t=t.threshold_text(),
                ),
            ]
        ),
        explanation=_isolated(t.explanation or "(no explanation)"),
        table=clients,
        more=Html(""),
        status=t.status,
        id=t.finding_id,
        open=_link(t.link),
        cypher=_cypher(t.cypher, t.link),
    )


def _tunnels(r: Report) -> Html:
    """The `dns_tunnel` section: the registered domains, most distinct subdomains first, each
    with its clients (left out when the window has no such finding)."""
    if not r.dns_tunnels:
        return Html("")
    rows = [
        (
            _host(t.domain or "–"),
            _n(t.subdomains),
            t.threshold_text(),
            f"{t.score:.1f}",
            _n(t.queries),
            _n(t.txt_null),
            _n(t.nxdomain),
            f"{t.clients_total:,}",
            t.status,
        )
        for t in r.dns_tunnels
    ]
    parts = [
        Html(
            '<p class="muted">Registered domains with more distinct subdomains in this window '
            "than its threshold (<code>dns_tunnel</code>: learned from the window's domains), "
            "most first.</p>"
        ),
        _table(TUNNEL_HEAD, rows, numeric=(1, 2, 3, 4, 5, 6, 7)),
        _app_more(len(r.dns_tunnels), r.dns_tunnels_total, "domains", r.window, "dns_tunnel"),
        join(_tunnel(t) for t in r.dns_tunnels),
    ]
    return fill(
        SECTION, id="tunnel", title="DNS tunnelling, by registered domain", body=join(parts)
    )


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page."""
    r = report
    body: list[Html] = [
        fill(
            HEADER,
            window=r.window,
            start=r.start[:10],
            end=r.end[:10],
            previous=r.previous or "no earlier window",
            baseline=(", ".join(r.baseline) if r.baseline else "(none yet)"),
            generated=r.generated,
        )
    ]
    if r.ranking is not None:
        body.append(_ranking(r.ranking))
    body.append(_groups(r))
    notes = join(fill(Template('<p class="note">$n</p>'), n=n) for n in r.notes)
    kinds = join(
        fill(
            Template('<span class="badge b-$k">$t: $n</span>'),
            k=k,
            t=KIND_TITLES.get(k, k),
            n=str(n),
        )
        for k, n in sorted(r.findings_by_kind.items())
    ) or Html('<span class="muted">no findings for this window</span>')
    summary = join(
        [
            notes,
            _table(
                [
                    "",
                    "this window",
                    f"previous ({r.previous or '–'})",
                    "baseline mean",
                    "vs baseline",
                ],
                summary_rows(r),
                numeric=(1, 2, 3, 4),
            ),
            _table(["change against the baseline", "count"], change_rows(r), numeric=(1,))
            if r.baseline
            else Html(""),
            Html("<p>Findings: ") + kinds + Html("</p>"),
            join(_img(c) for c in r.charts),
        ]
    )
    body.append(fill(SECTION, id="summary", title="At a glance", body=summary))

    if r.baseline:
        new_hosts = _table(
            ["host", "where", "peers", "connections", "bytes", "Browser"],
            [
                (
                    _host(h.host, h.internal),
                    where(h.internal),
                    f"{h.peers:,}",
                    f"{h.conns:,}",
                    size(h.bytes),
                    _open_cell(h.cypher, h.link),
                )
                for h in r.new_hosts
            ],
            numeric=(2, 3, 4),
        )
        parts = [
            Html("<h3>New hosts</h3>"),
            new_hosts,
            _more(len(r.new_hosts), r.new_hosts_total),
            Html("<h3>New host pairs</h3>"),
            _edge_table(r.new_edges, "new"),
            _more(len(r.new_edges), r.new_edges_total),
            Html("<h3>New services between hosts that already talked</h3>"),
            _edge_table(r.new_services, "services"),
            _more(len(r.new_services), r.new_services_total),
            fill(
                Template("<h3>Host pairs of $p that did not talk in $w</h3>"),
                p=r.previous or "the previous window",
                w=r.window,
            ),
            _edge_table(r.vanished_edges, "vanished"),
            _more(len(r.vanished_edges), r.vanished_edges_total),
        ]
        body.append(
            fill(SECTION, id="changes", title="What is new, what is gone", body=join(parts))
        )

    shift_parts = []
    for s in r.shifts:
        shift_parts.append(_finding(s.finding))
        if s.chart is not None:
            shift_parts.append(_img(s.chart, width=560))
    if not r.shifts:
        shift_parts.append(
            Html('<p class="muted">no centrality_shift findings for this window</p>')
        )
    shift_parts.append(_more(len(r.shifts), r.shifts_total))
    body.append(
        fill(
            SECTION,
            id="shifts",
            title="Hosts whose place in the network changed",
            body=join(shift_parts),
        )
    )

    dev_parts = [_group(g) for g in r.deviations]
    if not r.deviations:
        dev_parts.append(
            Html('<p class="muted">no deviating connections or paths for this window</p>')
        )
    body.append(
        fill(
            SECTION,
            id="deviations",
            title="Deviating connections and paths, by host",
            body=join(dev_parts),
        )
    )

    if r.volume:
        body.append(
            fill(
                SECTION,
                id="volume",
                title="Volume anomalies: flows per bucket against the expected band",
                body=join(_volume(v) for v in r.volume),
            )
        )

    body.append(_app_clients(r, "suspicious_dns"))
    body.append(_app_clients(r, "suspicious_http"))
    body.append(_tunnels(r))

    nov = (
        [_img(r.novelty_chart, width=800)]
        if r.novelty_chart
        else [fill(Template('<p class="note">$n</p>'), n=r.novelty_note or "no novelty scores")]
    )
    for t in r.trees:
        nov.append(
            fill(
                Template("<h3>Fingerprint of $pair</h3>"),
                pair=join([_host(t.src), " → ", _host(t.dst)]),
            )
        )
        nov.append(fill(Template('<p class="muted">$d</p>'), d=t.describe()))
        nov.append(_img(t.chart, width=1000))
        nov.append(_kv(tree_rows(t)))
    body.append(
        fill(SECTION, id="novelty", title="Novelty of the window's connections", body=join(nov))
    )

    tail = []
    if r.analysis:
        tail.append(Html("<h3>Analysis steps run for this window</h3>"))
        tail.append(_table(["step", "outcome", "message"], step_rows(r)))
    if r.legend:
        tail.append(Html("<h3>Connection states and TCP history letters</h3>"))
        tail.append(_table(["field", "code", "meaning"], r.legend))
    if r.browser_url:
        tail.append(
            fill(
                Template('<p class="muted">Links open the query in Neo4j Browser at $url.</p>'),
                url=r.browser_url,
            )
        )
    else:
        tail.append(
            Html(
                '<p class="muted">No Neo4j Browser address is known: paste the Cypher '
                "of an item into Neo4j Browser to open it.</p>"
            )
        )
    body.append(fill(SECTION, id="about", title="About this report", body=join(tail)))
    return fill(PAGE, title=f"graphnet: what changed in {r.window}", css=CSS, body=join(body, "\n"))
