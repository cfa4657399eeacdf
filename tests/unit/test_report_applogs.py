"""The report's application-log sections (suspicious DNS, suspicious HTTP, DNS tunnelling) from
hand-written findings shaped as the steps store them (`graphnet.detectors.applogs.steps`), no
database: what each section shows, its bounds and order, and hostile log strings kept inert in
Markdown, HTML and JSON."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from graphnet.findings import Finding
from graphnet.reports import Report, render_html, render_json, render_markdown
from graphnet.reports.applogs import (
    APP_RECORDS,
    APP_TOP,
    TEXT_MAX,
    TUNNEL_CLIENTS,
    TUNNEL_EXAMPLES,
    app_sections,
    shorten,
)

W = "2024-W11"
BROWSER = "http://127.0.0.1:7474/browser/"
XSS = "<script>alert(1)</script>"
#: a query name with every kind of Markdown / HTML trouble in it
QNAME = "a|b`c`\n[x](javascript:alert(1))<b>.evil.com"
QNAME_MD = "a\\|b\\`c\\` \\[x\\]\\(javascript:alert\\(1\\)\\)\\<b\\>.evil.com"
QNAME_HTML = "a|b`c`\n[x](javascript:alert(1))&lt;b&gt;.evil.com"
URI = "/x?q=<img src=x onerror=alert(2)>|`y`"
AGENT = "Mozilla/5.0 [z](javascript:alert(3)) *bold*"
HOSTILE_DOMAIN = "*t|unnel*.com"


def dns_finding(
    src: str,
    score: float,
    examples: list[str],
    *,
    below: int = 120,
    total: int = 400,
    domains: int = 3,
    kept: bool = True,
) -> Finding:
    """A `suspicious_dns` finding as `steps._findings` stores it (`kept`: with the examples'
    registered domains and types, as findings analysed since they are kept)."""
    ev: dict[str, Any] = {
        "uids": [f"C{src[-1]}{i}" for i in range(len(examples))],
        "examples": examples,
        "queries": total,
        "domains": domains,
        "servers": 1,
        "first": 1710115200.0,
        "last": 1710118800.0,
        "variant": "graphnet",
        "fit_on": "history",
    }
    if kept:
        ev["example_domains"] = [x.rsplit(".", 2)[-2] + ".com" for x in examples]
        ev["example_details"] = [
            "TXT NOERROR" if i == 0 else "A NXDOMAIN" for i in range(len(examples))
        ]
    return Finding(
        kind="suspicious_dns",
        window=W,
        score=score,
        hosts=[src, "10.0.0.53"],
        explanation=f"{src} asked 10.0.0.53 for {examples[0]} (TXT NOERROR): word 'w' was never "
        f"seen for {src} (P = 1.0e-12); {below} of its {total} queries in this window are "
        f"below P = 1e-10 (to {domains} registered domains)",
        parts={
            "p": 1e-12,
            "word": "0_8_3_5_6_2_TXT_NOERROR",
            "novelty": 1,
            "suspicious_queries": below,
        },
        evidence=ev,
        cypher="MATCH (h:Host {id: '" + src + "'})-[r:RESOLVED {window: '2024-W11'}]->(x) "
        "RETURN h, r, x",
        detector="suspicious_dns",
    )


def http_finding(src: str, score: float, kept: bool = True) -> Finding:
    ev: dict[str, Any] = {
        "uids": ["CH1", "CH2"],
        "examples": [f"evil.example{URI}", "www.example.com/index.html"],
        "requests": 9,
        "domains": 2,
        "servers": 2,
        "variant": "graphnet",
        "fit_on": "history",
    }
    if kept:
        ev["example_hosts"] = ["evil.example", "www.example.com"]
        ev["example_details"] = ["POST 200", "GET 404"]
        ev["example_agents"] = [AGENT, "-"]
    return Finding(
        kind="suspicious_http",
        window=W,
        score=score,
        hosts=[src, "203.0.113.9"],
        explanation=f"{src} requested http://evil.example{URI} from 203.0.113.9 (POST 200)",
        parts={"p": 1e-13, "word": "w", "novelty": 2, "suspicious_requests": 7},
        evidence=ev,
        detector="suspicious_http",
    )


def tunnel_finding(domain: str, score: float, per_client: dict[str, int]) -> Finding:
    clients = sorted(per_client, key=lambda h: (-per_client[h], h))
    return Finding(
        kind="dns_tunnel",
        window=W,
        score=score,
        hosts=clients,
        explanation=f"{clients[0]} asked {per_client[clients[0]]} distinct subdomains of {domain}",
        parts={"subdomains": sum(per_client.values()), "ratio": score, "threshold": 193.0},
        evidence={
            "domain": domain,
            "queries": 903,
            "clients": len(per_client),
            "txt_null": 700,
            "nxdomain": 3,
            "first": 1710115200.0,
            "last": 1710118800.0,
            "uids": ["CT1"],
            "examples": [f"{'a' * 40}.{domain}", f"{XSS}.{domain}"],
            "per_client": per_client,
            "alert": True,
        },
        detector="dns_tunnel",
    )


def report_of(found: list[Finding]) -> Report:
    a = app_sections(found, BROWSER)
    a.set_internal({"10.0.0.5": True, XSS: False})
    return Report(
        window=W,
        generated="2024-03-18T06:00:00+00:00",
        start="2024-03-11T00:00:00+00:00",
        end="2024-03-18T00:00:00+00:00",
        browser_url=BROWSER,
        dns_clients=a.dns,
        dns_clients_total=a.dns_total,
        http_clients=a.http,
        http_clients_total=a.http_total,
        dns_tunnels=a.tunnels,
        dns_tunnels_total=a.tunnels_total,
    )


def hostile_findings() -> list[Finding]:
    return [
        dns_finding("10.0.0.5", 23.0, [QNAME, "b.example.com"]),
        http_finding(XSS, 12.0),
        tunnel_finding(HOSTILE_DOMAIN, 4.2, {"10.0.0.5": 800, XSS: 5}),
    ]


def section(text: str, start: str, end: str = "\n## ") -> str:
    i = text.index(start)
    j = text.find(end, i + len(start))
    return text[i : j if j >= 0 else len(text)]


def without_code(markdown: str) -> str:
    return re.sub(r"(?ms)^(`{3,})cypher\n.*?\n\1$", "", markdown)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> _Tags:
    p = _Tags()
    p.feed(page)
    p.close()
    return p


# ------------------------------------------------------------------------- the model
def test_client_rows_hold_what_the_finding_stored() -> None:
    a = app_sections(hostile_findings(), BROWSER)
    (c,) = a.dns
    assert (c.host, c.score, c.worst, c.below, c.records_total, c.domains, c.server) == (
        "10.0.0.5",
        23.0,
        QNAME,
        120,
        400,
        3,
        "10.0.0.53",
    )
    assert c.below_text("queries") == "120 of 400 queries"
    assert [(x.name, x.domain, x.detail, x.uid) for x in c.records] == [
        (QNAME, "evil.com", "TXT NOERROR", "C50"),
        ("b.example.com", "example.com", "A NXDOMAIN", "C51"),
    ]
    assert c.link and c.link.startswith(BROWSER + "?cmd=edit&arg=MATCH")
    (h,) = a.http
    # the example is host and URI joined: the URI is what follows the stored host
    assert [(x.domain, x.name, x.detail, x.agent, x.uid) for x in h.records] == [
        ("evil.example", URI, "POST 200", AGENT, "CH1"),
        ("www.example.com", "/index.html", "GET 404", "-", "CH2"),
    ]
    assert (h.worst, h.below, h.records_total, h.domains) == (f"evil.example{URI}", 7, 9, 2)
    (t,) = a.tunnels
    assert (t.domain, t.subdomains, t.threshold, t.score, t.queries, t.clients_total) == (
        HOSTILE_DOMAIN,
        805,
        193.0,
        4.2,
        903,
        2,
    )
    assert [(x.host, x.subdomains) for x in t.clients] == [("10.0.0.5", 800), (XSS, 5)]
    assert t.examples == [f"{'a' * 40}.{HOSTILE_DOMAIN}", f"{XSS}.{HOSTILE_DOMAIN}"]
    assert a.hosts() == {"10.0.0.5", XSS}


def test_findings_stored_before_the_examples_details_show_their_examples() -> None:
    a = app_sections(
        [dns_finding("10.0.0.7", 5.0, ["x.example.com"], kept=False), http_finding("h", 4.0, False)]
    )
    assert [(x.name, x.domain, x.detail) for x in a.dns[0].records] == [("x.example.com", "", "")]
    # without the host the URI column holds the example as stored: host and URI
    r0 = a.http[0].records[0]
    assert (r0.domain, r0.name, r0.agent) == ("", f"evil.example{URI}", "")
    text = render_markdown(report_of([dns_finding("10.0.0.7", 5.0, ["x.example.com"], kept=False)]))
    assert "| x.example.com | – | – | C70 |" in text


def test_sections_are_bounded_and_sorted() -> None:
    found = [
        dns_finding(f"10.1.0.{i % 7}", float(i % 4), [f"n{j}.example.com" for j in range(10)])
        for i in range(APP_TOP + 6)
    ]
    found += [
        tunnel_finding(f"d{i}.com", 2.0, {f"10.2.0.{k}": 10 + k % 3 for k in range(9)})
        for i in range(APP_TOP + 2)
    ]
    a = app_sections(reversed(found))
    assert a.dns_total == APP_TOP + 6 and len(a.dns) == APP_TOP
    keys = [(-c.score, c.host, c.finding_id) for c in a.dns]
    assert keys == sorted(keys)  # score, then host, then id, whatever order they came in
    assert a.dns[0].score == 3.0
    assert all(len(c.records) == APP_RECORDS and c.records_more == 10 - APP_RECORDS for c in a.dns)
    assert [c.records[0].name for c in a.dns[:1]] == ["n0.example.com"]  # the worst first
    assert a.tunnels_total == APP_TOP + 2 and len(a.tunnels) == APP_TOP
    assert [t.domain for t in a.tunnels] == sorted(f"d{i}.com" for i in range(APP_TOP + 2))[
        :APP_TOP
    ]
    t = a.tunnels[0]
    assert len(t.clients) == TUNNEL_CLIENTS and t.clients_total == 9
    # most subdomains first, then the host
    assert [(c.host, c.subdomains) for c in t.clients] == [
        ("10.2.0.2", 12),
        ("10.2.0.5", 12),
        ("10.2.0.8", 12),
        ("10.2.0.1", 11),
        ("10.2.0.4", 11),
    ]
    assert len(t.examples) <= TUNNEL_EXAMPLES
    assert app_sections(found) == app_sections(reversed(found))  # deterministic
    text = render_markdown(report_of(found))
    assert (
        f"_showing {APP_TOP} of {APP_TOP + 6} clients; every one: `graphnet findings --window "
        f"{W} --kind suspicious_dns --all`_" in text
    )
    assert "_showing 5 of the 10 worst queries the finding keeps_" in text
    assert "_showing 5 of 9 clients_" in text
    page = render_html(report_of(found))
    assert (
        f"showing {APP_TOP} of {APP_TOP + 2} domains; every one: <code>graphnet findings "
        f"--window {W} --kind dns_tunnel --all</code>" in page
    )


def test_long_logged_strings_are_cut() -> None:
    long_name = "x" * (TEXT_MAX + 50) + ".example.com"
    assert shorten("abc") == "abc"
    assert shorten(long_name) == "x" * TEXT_MAX + f"… (+{len(long_name) - TEXT_MAX} characters)"
    a = app_sections([dns_finding("10.0.0.5", 1.0, [long_name])])
    assert a.dns[0].worst == shorten(long_name) and a.dns[0].records[0].name == shorten(long_name)


# ------------------------------------------------------------------------- Markdown
def test_markdown_dns_section() -> None:
    text = render_markdown(report_of(hostile_findings()))
    dns = section(text, "## Suspicious DNS queries, by client")
    assert dns.splitlines()[:9] == [
        "## Suspicious DNS queries, by client",
        "",
        "Clients with queries whose words no client's profile expects \\(suspicious\\_dns: "
        "Apache Spot's DNS suspicious connects\\), worst first.",
        "",
        "| client | where | score | worst query name | below the threshold | registered "
        "domains | status |",
        "|---|---|---|---|---|---|---|",
        f"| 10\\.0.0.5 | internal | 23.00 | {QNAME_MD} | 120 of 400 queries | 3 | new |",
        "",
        "### 10\\.0.0.5 (internal, score 23.00)",
    ]
    assert (
        "| query name | registered domain | type and response code | uid |\n"
        "|---|---|---|---|\n"
        f"| {QNAME_MD} | evil.com | TXT NOERROR | C50 |\n"
        "| b.example.com | example.com | A NXDOMAIN | C51 |"
    ) in dns
    assert f"10\\.0.0.5 asked 10.0.0.53 for {QNAME_MD} \\(TXT NOERROR\\)" in dns
    assert "Status new · id " in dns and "[open in Neo4j Browser](<" + BROWSER in dns


def test_markdown_http_section() -> None:
    text = render_markdown(report_of(hostile_findings()))
    http = section(text, "## Suspicious web requests, by client")
    xss = "\\<script\\>alert\\(1\\)\\</script\\>"
    uri = "/x?q=\\<img src=x onerror=alert\\(2\\)\\>\\|\\`y\\`"
    agent = "Mozilla/5.0 \\[z\\]\\(javascript:alert\\(3\\)\\) \\*bold\\*"
    assert f"| {xss} | external | 12.00 | evil.example{uri} | 7 of 9 requests | 2 | new |" in http
    assert f"### {xss} (external, score 12.00)" in http
    assert (
        "| host | URI | method and status | user agent | uid |\n"
        "|---|---|---|---|---|\n"
        f"| evil.example | {uri} | POST 200 | {agent} | CH1 |\n"
        "| www.example.com | /index.html | GET 404 | \\- | CH2 |"
    ) in http


def test_markdown_tunnel_section() -> None:
    text = render_markdown(report_of(hostile_findings()))
    tun = section(text, "## DNS tunnelling, by registered domain")
    dom = "\\*t\\|unnel\\*.com"
    xss = "\\<script\\>alert\\(1\\)\\</script\\>"
    assert (
        "| registered domain | distinct subdomains | threshold | × threshold | queries | TXT or "
        "NULL | NXDOMAIN | clients | status |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
        f"| {dom} | 805 | 193 | 4.2 | 903 | 700 | 3 | 2 | new |"
    ) in tun
    assert f"### {dom} (805 distinct subdomains, 4.2 × the threshold of 193)" in tun
    assert (
        "| client | where | distinct subdomains |\n"
        "|---|---|---|\n"
        "| 10\\.0.0.5 | internal | 800 |\n"
        f"| {xss} | external | 5 |"
    ) in tun
    assert f"- {'a' * 40}.{dom}\n- {xss}.{dom}" in tun


def test_markdown_sections_keep_hostile_strings_inert() -> None:
    full = render_markdown(report_of(hostile_findings()))
    text = without_code(full)
    for raw in (XSS, QNAME, "[x](javascript", URI, AGENT, HOSTILE_DOMAIN, "<b>", "`c`"):
        assert raw not in text, raw
    # every table row has as many cells as its header
    for block in re.split(r"\n\s*\n", text):
        lines = [ln for ln in block.splitlines() if ln.startswith("|")]
        if len(lines) >= 2:
            assert len({len(re.split(r"(?<!\\)\|", ln)) for ln in lines}) == 1, block
    markdown_it = pytest.importorskip("markdown_it")
    mine = full[full.index("## Suspicious DNS") : full.index("## Novelty")]
    rendered = markdown_it.MarkdownIt("commonmark").enable("table").render(mine)
    tags = parse(rendered)
    names = [t for t, _ in tags.tags]
    assert "script" not in names and "img" not in names and "b" not in names
    assert "em" not in names and "strong" not in names
    for t, a in tags.tags:
        if t == "a":
            assert (a.get("href") or "").startswith(BROWSER + "?cmd=edit&arg=")
    shown = "".join(tags.text)
    for raw in (XSS, URI, AGENT, HOSTILE_DOMAIN, "[x](javascript:alert(1))<b>.evil.com"):
        assert raw in shown, raw


# ------------------------------------------------------------------------- HTML
def test_html_sections_show_the_rows_escaped() -> None:
    page = render_html(report_of(hostile_findings()))
    xss = "&lt;script&gt;alert(1)&lt;/script&gt;"
    dns = section(page, '<section id="dns">', "<section ")
    assert (
        '<tr><td><bdi class="host internal">10.0.0.5</bdi></td><td>internal</td>'
        f'<td class="n">23.00</td><td><bdi>{QNAME_HTML}</bdi></td><td>120 of 400 queries</td>'
        '<td class="n">3</td><td>new</td></tr>'
    ) in dns
    assert (
        f"<tr><td><bdi>{QNAME_HTML}</bdi></td><td><bdi>evil.com</bdi></td>"
        "<td><bdi>TXT NOERROR</bdi></td><td>C50</td></tr>"
    ) in dns
    http = section(page, '<section id="http">', "<section ")
    uri = "/x?q=&lt;img src=x onerror=alert(2)&gt;|`y`"
    assert f'<td><bdi class="host external">{xss}</bdi></td>' in http
    assert (
        f"<tr><td><bdi>evil.example</bdi></td><td><bdi>{uri}</bdi></td>"
        f"<td><bdi>POST 200</bdi></td><td><bdi>{AGENT}</bdi></td><td>CH1</td></tr>"
    ) in http
    tun = section(page, '<section id="tunnel">', "<section ")
    assert (
        '<tr><td><bdi class="host">*t|unnel*.com</bdi></td><td class="n">805</td>'
        '<td class="n">193</td><td class="n">4.2</td><td class="n">903</td>'
        '<td class="n">700</td><td class="n">3</td><td class="n">2</td><td>new</td></tr>'
    ) in tun
    assert (
        f'<tr><td><bdi class="host external">{xss}</bdi></td><td>external</td>'
        '<td class="n">5</td></tr>'
    ) in tun
    assert f"<li><bdi>{xss}.*t|unnel*.com</bdi></li>" in tun
    # the sections come after the deviations and before the novelty section
    order = re.findall(r'<section id="([a-z]+)"', page)
    assert order.index("deviations") < order.index("dns") < order.index("http")
    assert order.index("http") < order.index("tunnel") < order.index("novelty")


def test_html_sections_keep_hostile_strings_inert() -> None:
    page = render_html(report_of(hostile_findings()))
    assert XSS not in page and "<img src=x" not in page and "<b>" not in page
    tags = parse(page)
    assert "script" not in {t for t, _ in tags.tags} and "img" not in {t for t, _ in tags.tags}
    assert all(not any(k.startswith("on") for k in a) for _, a in tags.tags)
    for t, a in tags.tags:
        if t == "a":
            assert (a.get("href") or "").startswith(BROWSER + "?cmd=edit&arg=")
    shown = "".join(tags.text)
    for raw in (XSS, QNAME, URI, AGENT, HOSTILE_DOMAIN):
        assert raw in shown, raw


# ------------------------------------------------------------------------- none, JSON
def test_a_window_without_such_findings_has_no_such_section() -> None:
    r = report_of([dns_finding("10.0.0.5", 3.0, ["x.example.com"])])
    text, page = render_markdown(r), render_html(r)
    assert "## Suspicious DNS queries, by client" in text and '<section id="dns">' in page
    for md_title, html_id in (
        ("## Suspicious web requests", '<section id="http">'),
        ("## DNS tunnelling", '<section id="tunnel">'),
    ):
        assert md_title not in text and html_id not in page
    empty = report_of([])
    assert "Suspicious" not in render_markdown(empty) and "tunnelling" not in render_html(empty)


def test_json_adds_the_sections() -> None:
    data = json.loads(render_json(report_of(hostile_findings())))
    assert data["dns_clients_total"] == 1 and data["http_clients_total"] == 1
    c = data["dns_clients"][0]
    assert (c["host"], c["worst"], c["below"], c["records_total"], c["domains"]) == (
        "10.0.0.5",
        QNAME,
        120,
        400,
        3,
    )
    assert c["records"][0] == {
        "name": QNAME,
        "uid": "C50",
        "domain": "evil.com",
        "detail": "TXT NOERROR",
        "agent": "",
    }
    assert data["http_clients"][0]["records"][0]["agent"] == AGENT
    t = data["dns_tunnels"][0]
    assert (t["domain"], t["subdomains"], t["threshold"], t["clients_total"]) == (
        HOSTILE_DOMAIN,
        805,
        193.0,
        2,
    )
    assert t["clients"][1] == {"host": XSS, "subdomains": 5, "internal": False}
    assert data["format"] == "graphnet-report/1"
