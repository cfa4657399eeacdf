"""Render a `Report` as one self-contained HTML file, Markdown and JSON.

HTML: `string.Template` templates filled through `fill`, which HTML-escapes every value unless
it is an `Html` fragment built here (the same auto-escaping idea as jinja2's Markup). Inline
CSS, charts as data: URIs, no script, no external resource, and a Content-Security-Policy that
forbids scripts even if something slipped through. Markdown: every log-derived string goes
through `md`, which backslash-escapes Markdown syntax and `<`/`>` (so no raw HTML reaches a
renderer). Cypher goes into code blocks whose fence is longer than any backtick run inside.

Bidirectional text: both `esc` and `md` show the Unicode bidi controls (U+202E RIGHT-TO-LEFT
OVERRIDE and the like) as their code point, `[U+202E]`, instead of letting them reorder what
follows; in Cypher they become `\u202e` escapes inside the string literals (the same query).
Hosts are isolated from the text around them: in HTML each is a `<bdi>` element, in Markdown a
host holding right-to-left letters is wrapped in U+2068 FIRST STRONG ISOLATE ... U+2069 POP
DIRECTIONAL ISOLATE (`md_host`).
"""

from __future__ import annotations

import base64
import html
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from string import Template
from typing import Any

from graphnet.reports.model import KIND_TITLES
from graphnet.reports.types import (
    Chart,
    Count,
    EdgeItem,
    FindingItem,
    HostGroup,
    RankedHost,
    Ranking,
    Report,
    Totals,
    VolumeItem,
)

# ============================================================================================
# escaping
# ============================================================================================
#: characters that change the direction of the text around them (embeddings, overrides,
#: isolates, marks): shown by their code point, never obeyed
_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_FSI, _PDI = "\u2068", "\u2069"


def visible_controls(text: str) -> str:
    """`text` with every bidi control shown as `[U+XXXX]`."""
    return _BIDI_CONTROLS.sub(lambda m: f"[U+{ord(m.group()):04X}]", text)


def cypher_text(query: str) -> str:
    """A Cypher query with the bidi controls of its string literals written as `\\uXXXX`
    escapes: the same query, shown as it reads (graphnet puts log text in Cypher only inside
    string literals)."""
    return _BIDI_CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", query)


def _has_rtl(text: str) -> bool:
    return any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in text)


class Html(str):
    """HTML that is safe to insert as is (built by this module from escaped parts). Adding
    anything to it escapes that first."""

    def __add__(self, other: str) -> Html:
        return Html(str.__add__(self, esc(other)))


def esc(value: Any) -> Html:
    """HTML-escape a value (quotes too); `Html` fragments pass unchanged."""
    if isinstance(value, Html):
        return value
    return Html(html.escape(visible_controls("" if value is None else str(value)), quote=True))


def fill(template: Template, **values: Any) -> Html:
    """Fill a template; every value is escaped unless it is an `Html` fragment."""
    return Html(template.substitute({k: esc(v) for k, v in values.items()}))


def join(parts: Iterable[Any], sep: str = "") -> Html:
    return Html(sep.join(esc(p) for p in parts))


class Md(str):
    """Markdown that is safe to insert as is."""


_MD_ESCAPE = re.compile(r"([\\`*_{}\[\]()#+!|<>&~^])")
_MD_LEADING = re.compile(r"^(\s*)([-=])|^(\s*\d+)([.)])")


def md(value: Any) -> Md:
    """Markdown-escape a log-derived string: Markdown punctuation and `<`, `>`, `&` get a
    backslash (CommonMark renders them literally), line breaks become spaces, and a leading
    list or heading marker is escaped."""
    if isinstance(value, Md):
        return value
    s = visible_controls("" if value is None else str(value))
    s = re.sub(r"[\r\n\u2028\u2029]+", " ", s)
    s = _MD_ESCAPE.sub(r"\\\1", s)
    s = _MD_LEADING.sub(
        lambda m: f"{m.group(1)}\\{m.group(2)}" if m.group(2) else f"{m.group(3)}\\{m.group(4)}",
        s,
    )
    return Md(s)


def md_host(host: Any) -> Md:
    """A host id for Markdown: escaped, and isolated from the text around it (between FSI and
    PDI) when it holds right-to-left letters, so that it cannot reorder its neighbours."""
    s = md(host)
    return Md(f"{_FSI}{s}{_PDI}") if _has_rtl(s) else s


def md_pair(src: Any, dst: Any) -> Md:
    return Md(f"{md_host(src)} → {md_host(dst)}")


def mdfill(template: Template, **values: Any) -> Md:
    return Md(template.substitute({k: md(v) for k, v in values.items()}))


def fence(code: str, lang: str = "cypher") -> Md:
    """A fenced code block that no backtick run inside `code` can close (bidi controls of
    Cypher string literals written as escapes)."""
    code = cypher_text(code) if lang == "cypher" else visible_controls(code)
    longest = max((len(m) for m in re.findall(r"`+", code)), default=0)
    ticks = "`" * max(3, longest + 1)
    return Md(f"{ticks}{lang}\n{code}\n{ticks}")


# ============================================================================================
# formatting
# ============================================================================================
def number(v: float | int | None, digits: int = 0) -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and v != int(v) and digits:
        return f"{v:,.{digits}f}"
    return f"{round(v):,}"


def size(v: float | None) -> str:
    if v is None:
        return "–"
    x = float(v)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(x) < 1000 or unit == "TB":
            return f"{x:.0f} {unit}" if unit == "B" else f"{x:.1f} {unit}"
        x /= 1000
    return f"{x:.1f} TB"  # pragma: no cover


def change(cur: float, ref: float | None) -> str:
    if ref is None:
        return "–"
    if ref == 0:
        return "new" if cur else "±0"
    return f"{(cur / ref - 1) * 100:+.0f}%"


def where(internal: bool | None) -> str:
    return "internal" if internal else "external" if internal is False else "?"


def count_text(c: Count, with_meaning: bool = True) -> str:
    text = f"{c.value} ×{c.n:,}"
    if with_meaning and c.meaning:
        text += f" ({c.meaning})"
    return text


def counts_text(cs: Sequence[Count], with_meaning: bool = True) -> str:
    return ", ".join(count_text(c, with_meaning) for c in cs) or "–"


def how_text(e: EdgeItem) -> str:
    """Connection states and TCP histories of an edge, with their meanings."""
    text = counts_text(e.states)
    if e.histories and any(h.value != "-" for h in e.histories):
        text += "; TCP histories: " + counts_text(e.histories)
    return text


def _summary_rows(r: Report) -> list[tuple[str, str, str, str, str]]:
    cur = r.current or Totals(r.window)
    prev = r.previous_totals
    base = r.baseline_mean
    out = []
    for attr, label, fmt in (
        ("hosts", "hosts", number),
        ("internal_hosts", "internal hosts", number),
        ("edges", "host pairs (edges)", number),
        ("connections", "connections", number),
        ("bytes", "bytes", size),
    ):
        c = float(getattr(cur, attr))
        p = float(getattr(prev, attr)) if prev else None
        b = float(getattr(base, attr)) if base else None
        out.append(
            (
                label,
                fmt(c),
                fmt(p) if p is not None else "–",
                fmt(b) if b is not None else "–",
                change(c, b),
            )
        )
    return out


def _change_rows(r: Report) -> list[tuple[str, str]]:
    if not r.baseline:
        return []
    return [
        ("new hosts", f"{r.new_hosts_total:,}"),
        ("new host pairs (edges)", f"{r.new_edges_total:,}"),
        ("pairs using a new service or port", f"{r.new_services_total:,}"),
        (f"pairs of {r.previous} that did not talk", f"{r.vanished_edges_total:,}"),
    ]


def _step_rows(r: Report) -> list[tuple[str, str, str]]:
    return [
        (str(s.get("name", "")), str(s.get("status", "")), str(s.get("message", "")))
        for s in r.analysis
    ]


# ============================================================================================
# HTML
# ============================================================================================
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


RANKING_HEAD = (
    "rank",
    "host",
    "risk",
    "p",
    "detectors (the host's rank by each)",
    "why: each detector's best finding about the host",
    "Browser",
)


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
                _summary_rows(r),
                numeric=(1, 2, 3, 4),
            ),
            _table(["change against the baseline", "count"], _change_rows(r), numeric=(1,))
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
        rows = []
        for b in t.branches:
            vals = "; ".join(
                ("NEW " if lf.novel else "")
                + f"{lf.value} ×{lf.baseline:,}"
                + (f" ({lf.meaning})" if lf.meaning else "")
                + (f", this window {lf.current:,}" if lf.current is not None else "")
                for lf in b.leaves
            )
            rows.append((b.component + (" (novel)" if b.novel else ""), vals or "–"))
        nov.append(_kv(rows))
    body.append(
        fill(SECTION, id="novelty", title="Novelty of the window's connections", body=join(nov))
    )

    tail = []
    if r.analysis:
        tail.append(Html("<h3>Analysis steps run for this window</h3>"))
        tail.append(_table(["step", "outcome", "message"], _step_rows(r)))
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


# ============================================================================================
# Markdown
# ============================================================================================
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
    out += ["## At a glance", ""]
    for n in r.notes:
        out += [f"> {md(n)}", ""]
    out += [
        _md_table(
            ["", "this window", f"previous ({r.previous or '–'})", "baseline mean", "vs baseline"],
            _summary_rows(r),
        ),
        "",
    ]
    if r.baseline:
        out += [_md_table(["change against the baseline", "count"], _change_rows(r)), ""]
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

    out += ["## Novelty of the window's connections", ""]
    if r.novelty_chart is not None:
        out += img(r.novelty_chart)
    else:
        out += [f"> {md(r.novelty_note or 'no novelty scores')}", ""]
    for t in r.trees:
        out += [f"### Fingerprint of {md_pair(t.src, t.dst)}", "", md(t.describe()), ""]
        out += img(t.chart)
        rows = []
        for b in t.branches:
            vals = "; ".join(
                ("NEW " if lf.novel else "")
                + f"{lf.value} ×{lf.baseline:,}"
                + (f" ({lf.meaning})" if lf.meaning else "")
                + (f", this window {lf.current:,}" if lf.current is not None else "")
                for lf in b.leaves
            )
            rows.append((b.component + (" (novel)" if b.novel else ""), vals or "–"))
        out += [_md_table(["component", "baseline values (count)"], rows), ""]

    out += ["## About this report", ""]
    if r.analysis:
        out += [
            "### Analysis steps run for this window",
            "",
            _md_table(["step", "outcome", "message"], _step_rows(r)),
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


# ============================================================================================
# JSON
# ============================================================================================
def render_json(report: Report, chart_files: Mapping[str, str] | None = None) -> str:
    """The report's content as JSON (charts by reference to their files)."""
    return json.dumps(report.to_json(chart_files), indent=2, ensure_ascii=False, default=str) + "\n"
