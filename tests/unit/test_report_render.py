"""Report rendering from hand-made Report objects: hostile log strings stay text everywhere;
the "Who to look at" ranking comes first; volume charts and novelty scores are read from the
stored results."""

from __future__ import annotations

import json
import re
import sys
import types
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from graphnet.reports import (
    Chart,
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
    render_html,
    render_json,
    render_markdown,
    write_report,
)
from graphnet.reports import charts as charts_mod
from graphnet.reports.describe import describe_evidence, describe_parts, meaning
from graphnet.reports.escape import esc, fence, md
from graphnet.reports.links import (
    browser_link,
    cypher_string,
    edge_query,
    host_query,
    normalise_browser_url,
)
from graphnet.reports.types import VolumeItem, volume_numbers

XSS = "<script>alert(1)</script>"
PIPE = "svc|pipe"
STAR = "*bold*"
TICK = "`tick`"
IMG = '"><img src=x onerror=alert(2)>'
BROWSER = "http://127.0.0.1:7474/browser/"
RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: "x\u202egpj.exe" shows as "xexe.jpg"
SPOOF = f"{XSS}{RLO}gpj.exe"
RTL_HOST = "\u05e9\u05dc\u05d5\u05dd.example"  # Hebrew letters
MD_HOST = "# 1. |x| [a](b)"
FSI, PDI = "\u2068", "\u2069"


def ranked(
    rank: int,
    host: str,
    risk: float,
    p: float | None,
    reasons: list[Reason],
    internal: bool | None = None,
) -> RankedHost:
    q = host_query(host, "2024-W11")
    return RankedHost(rank, host, risk, p, internal, reasons, q, browser_link(BROWSER, q))


def hostile_ranking() -> Ranking:
    return Ranking(
        method="brown",
        hosts=14,
        alerts=2,
        alpha=0.001,
        detectors=["lda", "novelty", "volume"],
        ranked=4,
        top=[
            ranked(
                1,
                SPOOF,
                31.42,
                2.1e-6,
                [
                    Reason(
                        "volume", 1, 12.5, 9.2, f"{SPOOF} had 120 flows {STAR}", "volume_anomaly"
                    ),
                    Reason("novelty", 2, 0.9, 7.1, f"{XSS} → {IMG} using {PIPE} {TICK}"),
                ],
                internal=False,
            ),
            ranked(
                2,
                RTL_HOST,
                18.0,
                4e-4,
                [Reason("lda", 1.5, 6.1, 8.0, f"rare words {RLO}{PIPE}", "suspicious_connect")],
                internal=True,
            ),
            ranked(3, MD_HOST, 5.0, None, []),
        ],
    )


def hostile_report(with_charts: bool = False) -> Report:
    q = edge_query(XSS, "10.0.0.2", ["2024-W11"])
    edge = EdgeItem(
        src=XSS,
        dst="10.0.0.2",
        conns=12,
        bytes=3400.0,
        src_internal=False,
        dst_internal=True,
        services=[Count(PIPE, 7), Count(STAR, 3), Count(TICK, 2)],
        ports=[Count("445", 12)],
        states=[
            Count("S0", 10, meaning("conn_state", "S0")),
            Count("SF", 2, meaning("conn_state", "SF")),
        ],
        histories=[Count("ShADadFf", 2, meaning("history", "ShADadFf"))],
        new_services=[PIPE, TICK],
        new_ports=["445"],
        seen_in=2,
        cypher=q,
        link=browser_link(BROWSER, q),
    )
    finding = FindingItem(
        id="no-0123456789abcd",
        kind="novel_connection",
        score=0.91,
        hosts=[XSS, IMG],
        explanation=f"{XSS} talked to {IMG} with service {PIPE}",
        parts=describe_parts({"part_service": 7.5, "part_conn_state": 2.0}),
        evidence=describe_evidence({"conn_state": "S0", "service": STAR, "uids": ["C1", "C2"]}),
        cypher="MATCH (f:Finding {id: 'no-0123456789abcd'}) RETURN f",
        link=browser_link(BROWSER, "MATCH (f) RETURN f"),
    )
    shift = FindingItem(
        id="ce-1",
        kind="centrality_shift",
        score=6.2,
        hosts=[XSS],
        explanation="PageRank 0.01 → 0.2",
        parts=describe_parts({"pagerank": {"previous": 0.01, "current": 0.2, "z": 9.1}}),
    )
    tree = FingerprintTree(
        finding_id="no-0123456789abcd",
        src=XSS,
        dst="$x$ " + IMG,
        baseline_windows=["2024-W10"],
        baseline_connections=50,
        branches=[
            TreeBranch(
                "service",
                "service",
                [TreeLeaf(PIPE, "", 40, 1), TreeLeaf(TICK, "", 0, 9, novel=True)],
                novel=True,
            ),
            TreeBranch("conn_state", "state", [TreeLeaf("SF", meaning("conn_state", "SF"), 50, 0)]),
        ],
    )
    r = Report(
        window="2024-W11",
        generated="2024-03-18T06:00:00+00:00",
        start="2024-03-11T00:00:00+00:00",
        end="2024-03-18T00:00:00+00:00",
        previous="2024-W10",
        baseline=["2024-W09", "2024-W10"],
        browser_url=BROWSER,
        current=Totals("2024-W11", 5, 6, 100, 1e5, 3),
        previous_totals=Totals("2024-W10", 4, 5, 90, 9e4, 3),
        baseline_mean=Totals("mean of 2", 4, 5, 80, 8e4, 3),
        history=[
            Totals("2024-W09", 4, 5, 70, 7e4),
            Totals("2024-W10", 4, 5, 90, 9e4),
            Totals("2024-W11", 5, 6, 100, 1e5),
        ],
        new_hosts=[
            HostItem(
                XSS,
                False,
                1,
                12,
                3400.0,
                "MATCH (h) RETURN h",
                browser_link(BROWSER, "MATCH (h) RETURN h"),
            )
        ],
        new_hosts_total=1,
        new_edges=[edge],
        new_edges_total=1,
        new_services=[edge],
        new_services_total=1,
        vanished_edges=[edge],
        vanished_edges_total=3,
        shifts=[ShiftItem(shift, "pagerank", [("2024-W10", 0.01), ("2024-W11", 0.2)])],
        shifts_total=1,
        deviations=[HostGroup(XSS, False, 0.91, [finding])],
        deviations_total=1,
        findings_by_kind={"novel_connection": 1, "centrality_shift": 1},
        novelty_note="no scores " + XSS,
        trees=[tree],
        analysis=[{"name": "snapshot", "status": "ok", "message": XSS}],
        legend=[("conn_state", "S0", meaning("conn_state", "S0"))],
        notes=[f"a note about {XSS}"],
        ranking=hostile_ranking(),
    )
    if with_charts:
        r.charts = [
            c
            for c in (
                charts_mod.overview(r.current, r.previous_totals, r.baseline_mean),
                charts_mod.trend(r.history, r.window),
            )
            if c
        ]
        tree.chart = charts_mod.fingerprint_tree(tree)
        r.shifts[0].chart = charts_mod.metric_history(
            XSS, "pagerank", r.shifts[0].history, r.window
        )
    return r


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


def test_html_escapes_every_log_string() -> None:
    page = render_html(hostile_report())
    assert XSS not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    tags = parse(page)
    names = {t for t, _ in tags.tags}
    assert "script" not in names
    assert all(not any(k.startswith("on") for k in a) for _, a in tags.tags)
    text = "".join(tags.text)
    assert XSS in text  # shown as text
    assert IMG in text
    assert PIPE in text and STAR in text and TICK in text


def test_html_is_self_contained() -> None:
    page = render_html(hostile_report(with_charts=True))
    tags = parse(page)
    for tag, attrs in tags.tags:
        assert tag not in ("script", "link", "iframe", "object", "embed")
        if tag == "img":
            assert (attrs.get("src") or "").startswith("data:image/png;base64,")
            assert attrs.get("alt")
        if tag == "a":
            # the only links open Neo4j Browser
            assert (attrs.get("href") or "").startswith(BROWSER + "?cmd=edit&arg=")
    assert "Content-Security-Policy" in page
    assert "default-src 'none'" in page
    assert sum(1 for t, _ in tags.tags if t == "img") == 4


def test_html_links_are_url_encoded_and_attribute_escaped() -> None:
    page = render_html(hostile_report())
    hrefs = [a["href"] for t, a in parse(page).tags if t == "a" and a.get("href")]
    assert hrefs
    for h in hrefs:
        assert h is not None
        assert "<" not in h and " " not in h and "'" not in h
    # the raw page has the & of the query string escaped inside the attribute
    assert "?cmd=edit&amp;arg=" in page


def test_html_shows_meanings_of_states_and_histories() -> None:
    page = render_html(hostile_report())
    assert "S0 ×10 (connection attempt seen, no reply)" in page
    assert "originator SYN" in page


def test_markdown_escapes_every_log_string() -> None:
    full = render_markdown(hostile_report())
    # outside code blocks (which every Markdown renderer shows literally) nothing is raw
    text = re.sub(r"(?ms)^(`{3,})cypher\n.*?\n\1$", "", full)
    assert "```" in full and "```" not in text
    assert XSS not in text
    assert "\\<script\\>alert\\(1\\)\\</script\\>" in text
    assert "svc\\|pipe" in text
    assert "\\*bold\\*" in text
    assert "\\`tick\\`" in text
    # every table row has as many cells as its header
    for block in re.split(r"\n\s*\n", text):
        lines = [ln for ln in block.splitlines() if ln.startswith("|")]
        if len(lines) < 2:
            continue
        cells = [len(re.split(r"(?<!\\)\|", ln)) for ln in lines]
        assert len(set(cells)) == 1, block


def test_markdown_renders_as_text() -> None:
    markdown_it = pytest.importorskip("markdown_it")
    text = render_markdown(hostile_report())
    rendered = markdown_it.MarkdownIt("commonmark").enable("table").render(text)
    tags = parse(rendered)
    names = [t for t, _ in tags.tags]
    assert "script" not in names
    assert "img" not in names  # no chart files given
    assert "<em>bold</em>" not in rendered and "<code>tick</code>" not in rendered
    shown = "".join(tags.text)
    assert XSS in shown and PIPE in shown and STAR in shown and TICK in shown and IMG in shown


def test_markdown_code_fences_cannot_be_closed_by_content() -> None:
    block = fence("MATCH (h {id: '```'}) RETURN h")
    assert block.startswith("````cypher\n") and block.endswith("\n````")
    assert md("- item").startswith("\\-")
    assert md("1. item").startswith("1\\.")
    assert md("# title").startswith("\\#")
    assert "\n" not in md("two\nlines")


def test_json_holds_the_same_content() -> None:
    r = hostile_report()
    data = json.loads(render_json(r))
    assert data["window"] == "2024-W11"
    assert data["new_edges"][0]["src"] == XSS
    assert data["new_edges"][0]["services"][0]["value"] == PIPE
    assert data["vanished_edges_total"] == 3
    assert data["deviations"][0]["findings"][0]["hosts"] == [XSS, IMG]
    assert data["format"] == "graphnet-report/1"


def test_write_report_files(tmp_path: Path) -> None:
    r = hostile_report(with_charts=True)
    paths = write_report(r, tmp_path)
    assert paths["html"] == tmp_path / "2024-W11" / "report.html"
    for key in ("html", "markdown", "json"):
        assert paths[key].is_file() and paths[key].stat().st_size > 0
    charts = sorted(p.name for p in (tmp_path / "2024-W11" / "charts").glob("*.png"))
    assert len(charts) == 4
    assert all(
        (tmp_path / "2024-W11" / "charts" / c).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        for c in charts
    )
    text = paths["markdown"].read_text()
    for c in charts:
        assert f"(charts/{c})" in text
    data = json.loads(paths["json"].read_text())
    assert data["charts"][0]["file"].startswith("charts/")
    # a re-written report without charts drops the stale chart files
    r.charts = []
    r.trees[0].chart = None
    r.shifts[0].chart = None
    write_report(r, tmp_path)
    assert not list((tmp_path / "2024-W11" / "charts").glob("*.png"))


def test_write_report_refuses_a_malformed_window(tmp_path: Path) -> None:
    from graphnet.errors import ConfigError

    r = hostile_report()
    r.window = "../../etc"
    with pytest.raises(ConfigError):
        write_report(r, tmp_path)


def test_cypher_literals_and_links() -> None:
    assert cypher_string("a'b\\c\n") == "'a\\'b\\\\c\\u000a'"
    assert cypher_string("x\x00") == "'x\\u0000'"
    q = edge_query("it's", "b", ["2024-W11"])
    assert "{id: 'it\\'s'}" in q
    link = browser_link("http://h:7474", "MATCH (n) RETURN n")
    assert link == "http://h:7474/browser/?cmd=edit&arg=MATCH%20%28n%29%20RETURN%20n"
    assert normalise_browser_url("http://h:7474/browser") == "http://h:7474/browser/"
    assert normalise_browser_url("javascript:alert(1)") is None
    assert browser_link(None, "MATCH (n) RETURN n") is None


def test_evidence_and_parts_are_described() -> None:
    ev = dict(
        describe_evidence(
            {
                "conn_state": "REJ",
                "history": ["2024-W09", "2024-W10"],
                "conn_states": {"S0": 5, "SF": 1},
            }
        )
    )
    assert ev["conn_state"] == "REJ (connection attempt rejected)"
    assert ev["earlier windows"] == "2024-W09, 2024-W10"
    assert "S0 ×5 (connection attempt seen, no reply)" in ev["conn_states"]
    parts = describe_parts(
        {
            "pagerank": {"previous": 0.01, "current": 0.2, "z": 9.1},
            "peers": {"previous": 3, "current": 4, "z": 1.0},
        }
    )
    assert parts[0] == ("pagerank", "0.01 → 0.2 (z 9.1)")


def test_chart_text_is_literal() -> None:
    assert charts_mod.text("$a$ b") == r"\$a\$ b"
    assert charts_mod.text("a\nb\x00") == "a b?"
    assert len(charts_mod.text("x" * 100, 10)) == 10
    chart = charts_mod.metric_history(
        "$HOST$", "pagerank", [("2024-W10", 0.1), ("2024-W11", 0.3)], "2024-W11"
    )
    assert isinstance(chart, Chart) and chart.png.startswith(b"\x89PNG")


def test_escape_helpers() -> None:
    assert esc(XSS) == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert esc(esc("<b>")) == "&lt;b&gt;"  # Html passes unchanged, no double escaping
    assert esc("<a>") + "<b>" == "&lt;a&gt;&lt;b&gt;"  # adding to Html escapes


def volume_frame(n: int = 48, spike: int = 30) -> pd.DataFrame:
    """A hand-made `graphnet.detectors.volume.series` frame: steady flows, one spike."""
    flows = np.full(n, 5.0)
    flows[spike] = 120.0
    flagged = np.zeros(n, dtype=bool)
    flagged[spike] = True
    return pd.DataFrame(
        {
            "time": pd.date_range("2024-03-11", periods=n, freq="5min", tz="UTC"),
            "bucket": np.arange(n),
            "flows": flows,
            "expected": np.full(n, 5.0),
            "band_lo": np.full(n, 0.0),
            "band_hi": np.full(n, 12.0),
            "flagged": flagged,
        }
    )


def test_volume_chart_from_a_series() -> None:
    frame = volume_frame()
    chart = charts_mod.volume_band("$HOST$ " + XSS, frame, key="volume-x")
    assert isinstance(chart, Chart) and chart.png.startswith(b"\x89PNG")
    assert "1 out of the expected band" in chart.alt
    assert charts_mod.volume_band("h", frame.iloc[:0]) is None
    nums = volume_numbers(frame)
    assert nums["buckets"] == 48 and nums["buckets_out"] == 1
    assert nums["max_flows"] == 120.0 and (nums["band_lo"], nums["band_hi"]) == (0.0, 12.0)
    assert nums["max_time"] == "2024-03-11 02:30 UTC"


def test_volume_items_render_escaped(tmp_path: Path) -> None:
    frame = volume_frame()
    item = VolumeItem(
        host=XSS,
        finding_id="vo-1",
        explanation=f"{XSS} had 120 connections {STAR}",
        score=9.5,
        series=frame,
        chart=charts_mod.volume_band(XSS, frame, key="volume-vo-1"),
        **volume_numbers(frame),
    )
    missing = VolumeItem(IMG, "vo-2", "low", 4.0, note=f"no time chart: {XSS}")
    r = hostile_report()
    r.volume = [item, missing]
    page = render_html(r)
    assert XSS not in page and "<img src=x" not in page
    tags = parse(page)
    assert "script" not in {t for t, _ in tags.tags}
    shown = "".join(tags.text)
    assert "Volume anomalies" in shown and XSS in shown and IMG in shown
    assert "1 of 48 buckets out of band; max 120 flows at 2024-03-11 02:30 UTC" in shown
    assert "expected 0–12" in shown and "no time chart" in shown
    imgs = [a for t, a in tags.tags if t == "img"]
    assert len(imgs) == 1 and (imgs[0].get("src") or "").startswith("data:image/png;base64,")
    text = render_markdown(r)
    assert XSS not in re.sub(r"(?ms)^(`{3,})cypher\n.*?\n\1$", "", text)
    assert "1 of 48 buckets out of band" in text and "\\*bold\\*" in text
    data = json.loads(render_json(r))
    v = data["volume"][0]
    assert v["host"] == XSS and v["buckets_out"] == 1 and v["max_flows"] == 120.0
    assert "series" not in v and data["volume"][1]["note"].endswith(XSS)
    paths = write_report(r, tmp_path)
    assert (tmp_path / "2024-W11" / "charts" / "volume-vo-1.png").is_file()
    assert "(charts/volume-vo-1.png)" in paths["markdown"].read_text()


def test_first_behaviour_findings_render_escaped() -> None:
    from graphnet.detectors.behaviour import browser_query
    from graphnet.findings import Finding
    from graphnet.reports.describe import KIND_TITLES
    from graphnet.reports.model import _finding_item

    f = Finding(
        kind="first_behaviour",
        window="2024-W11",
        score=7.2,
        hosts=[XSS],
        explanation=f"{XSS}: first remote-admin service with {IMG}:3389",
        parts={"new_admin": 7.2},
        evidence={"first_times": {"new_admin": {"services": [f"{IMG}:3389"]}}, "uids": [TICK]},
        cypher=browser_query(XSS, "2024-W11"),
        detector="behaviour",
    )
    item = _finding_item(f, BROWSER)
    r = hostile_report()
    r.deviations.append(HostGroup(IMG, True, 7.2, [item]))
    r.findings_by_kind["first_behaviour"] = 1
    page = render_html(r)
    assert XSS not in page and "<img src=x" not in page
    assert 'class="badge b-first_behaviour"' in page and ".b-first_behaviour{" in page
    assert KIND_TITLES["first_behaviour"] == "first-time behaviour"
    assert "first-time behaviour: 1" in "".join(parse(page).text)
    assert f"{XSS}: first remote-admin service with {IMG}:3389" in "".join(parse(page).text)
    full = render_markdown(r)
    text = re.sub(r"(?ms)^(`{3,})cypher\n.*?\n\1$", "", full)
    assert XSS not in text and "first-time behaviour" in text
    assert json.loads(render_json(r))


@pytest.mark.parametrize(
    ("kind", "title"),
    [("beacon", "beacon"), ("long_connection", "long connection"), ("strobe", "strobe")],
)
def test_rita_findings_render_escaped(kind: str, title: str) -> None:
    from graphnet.detectors.rita.common import browser_query
    from graphnet.findings import Finding
    from graphnet.reports.describe import KIND_TITLES
    from graphnet.reports.model import _finding_item

    f = Finding(
        kind=kind,
        window="2024-W11",
        score=0.97,
        hosts=[XSS, IMG],
        explanation=f"{XSS} -> {IMG}: every 260 s ± 4 s, 498 times",
        parts={"timestamp": 0.98},
        evidence={"uids": [TICK], "judged_against": "this window's pairs"},
        cypher=browser_query(kind, XSS, IMG, "2024-W11"),
        detector=kind,
    )
    assert "'" + kind + "'" in f.cypher and "<img" in f.cypher  # a literal, quotes escaped
    item = _finding_item(f, BROWSER)
    r = hostile_report()
    r.deviations.append(HostGroup(XSS, True, 0.97, [item]))
    r.findings_by_kind[kind] = 1
    page = render_html(r)
    assert XSS not in page and "<img src=x" not in page
    assert f'class="badge b-{kind}"' in page and f".b-{kind}{{" in page
    assert KIND_TITLES[kind] == title
    assert f"{title}: 1" in "".join(parse(page).text)
    text = without_code(render_markdown(r))
    assert XSS not in text and title in text
    assert json.loads(render_json(r))


# --------------------------------------------------------------------------------------------
# who to look at: the combined ranking, first
# --------------------------------------------------------------------------------------------
def without_code(markdown: str) -> str:
    return re.sub(r"(?ms)^(`{3,})cypher\n.*?\n\1$", "", markdown)


def test_ranking_comes_first_in_html_and_is_escaped() -> None:
    page = render_html(hostile_report())
    assert re.findall(r'<section id="([a-z]+)"', page)[:2] == ["ranking", "summary"]
    assert page.index("Who to look at") < page.index("At a glance")
    section = page[page.index('<section id="ranking">') : page.index('<section id="summary">')]
    # the first line says how many alerts the ranking raises
    first = re.search(r"<p[^>]*>(.*?)</p>", section)
    assert first is not None and first.group(1).startswith("2 alerts: 2 of 14 hosts")
    assert XSS not in page and "<img src=x" not in page and RLO not in page
    # hosts escaped, the override shown as its code point, each host isolated in a <bdi>
    spoof = "&lt;script&gt;alert(1)&lt;/script&gt;[U+202E]gpj.exe"
    assert f'<bdi class="host external">{spoof}</bdi>' in section
    assert f'<bdi class="host internal">{RTL_HOST}</bdi>' in section
    assert f"<bdi>{spoof} had 120 flows *bold*</bdi>" in section  # the volume reason
    tags = parse(section)
    assert "script" not in {t for t, _ in tags.tags}
    assert all(not any(k.startswith("on") for k in a) for _, a in tags.tags)
    text = "".join(tags.text)
    for shown in (
        f"{XSS}[U+202E]gpj.exe",
        MD_HOST,
        "volume #1, novelty #2",
        "lda #1.5",
        f"rare words [U+202E]{PIPE}",
        f"{XSS} → {IMG} using {PIPE} {TICK}",
        "31.4",
        "2.1e-06",
        "showing 3 of 4",
    ):
        assert shown in text, shown
    hrefs = [a.get("href") or "" for t, a in tags.tags if t == "a"]
    assert len(hrefs) == 3 and all(h.startswith(BROWSER + "?cmd=edit&arg=") for h in hrefs)
    # the link's query names the host exactly, its U+202E as a Cypher escape (inert where shown)
    assert "%5Cu202e" in hrefs[0] and "%E2%80%AE" not in hrefs[0]


def test_ranking_comes_first_in_markdown_and_is_escaped() -> None:
    full = render_markdown(hostile_report())
    headings = [ln for ln in full.splitlines() if ln.startswith("## ")]
    assert headings[:2] == ["## Who to look at", "## At a glance"]
    section = full[full.index("## Who to look at") : full.index("## At a glance")]
    assert section.splitlines()[2].startswith("2 alerts: 2 of 14 hosts")
    assert RLO not in full  # shown as [U+202E], in Cypher as a \u202e escape
    text = without_code(section)
    assert XSS not in text
    assert "\\<script\\>alert\\(1\\)\\</script\\>\\[U\\+202E\\]gpj.exe" in text
    assert "\\*bold\\*" in text and "svc\\|pipe" in text and "\\`tick\\`" in text
    assert "\\# 1. \\|x\\| \\[a\\]\\(b\\)" in text
    assert f"{FSI}{RTL_HOST}{PDI}" in text  # right-to-left host isolated from its neighbours
    assert "volume \\#1, novelty \\#2" in text and "_showing 3 of 4 hosts with any risk_" in text
    assert "\\u202egpj.exe'" in section  # the Cypher of the host: the same string literal
    rows = [ln for ln in text.splitlines() if ln.startswith("|")]
    assert len(rows) == 2 + 3
    assert {len(re.split(r"(?<!\\)\|", ln)) for ln in rows} == {7 + 2}


def test_ranking_markdown_renders_as_text() -> None:
    markdown_it = pytest.importorskip("markdown_it")
    full = render_markdown(hostile_report())
    section = full[full.index("## Who to look at") : full.index("## At a glance")]
    rendered = markdown_it.MarkdownIt("commonmark").enable("table").render(section)
    tags = parse(rendered)
    assert "script" not in {t for t, _ in tags.tags}
    assert "<em>bold</em>" not in rendered and "<code>tick</code>" not in rendered
    assert sum(1 for t, _ in tags.tags if t == "tr") == 4  # header + 3 hosts
    shown = "".join(tags.text)
    assert f"{XSS}[U+202E]gpj.exe" in shown and MD_HOST in shown and IMG in shown
    hrefs = [a.get("href") or "" for t, a in tags.tags if t == "a"]
    assert hrefs and all(h.startswith(BROWSER + "?cmd=edit&arg=") for h in hrefs)


def test_ranking_in_json_adds_a_key() -> None:
    r = hostile_report()
    data = json.loads(render_json(r))
    r.ranking = None
    before = json.loads(render_json(r))
    assert set(data) == set(before) | {"ranking"} and before["ranking"] is None
    rk = data["ranking"]
    assert (rk["method"], rk["hosts"], rk["alerts"], rk["ranked"]) == ("brown", 14, 2, 4)
    assert rk["detectors"] == ["lda", "novelty", "volume"]
    first = rk["top"][0]
    assert first["host"] == SPOOF and first["rank"] == 1 and first["p"] == 2.1e-6
    assert [x["detector"] for x in first["reasons"]] == ["volume", "novelty"]
    assert first["reasons"][0]["explanation"] == f"{SPOOF} had 120 flows {STAR}"
    assert first["link"].startswith(BROWSER) and rk["top"][2]["p"] is None


def test_ranking_without_findings_says_to_analyse() -> None:
    from graphnet.config import Settings
    from graphnet.reports.ranking import collect_ranking

    settings = Settings(home=Path("/nonexistent"))
    rk = collect_ranking(None, "2024-W11", settings, [], BROWSER)
    assert rk.method == "" and not rk.top
    assert "graphnet analyse --window 2024-W11" in rk.headline()
    assert "not been analysed" in rk.headline()
    done = collect_ranking(None, "2024-W11", settings, [], BROWSER, analysed=True)
    assert "stored no findings" in done.note and "graphnet analyse --window 2024-W11" in done.note
    r = hostile_report()
    r.ranking = rk
    page = render_html(r)
    section = page[page.index('<section id="ranking">') : page.index('<section id="summary">')]
    assert "No findings are stored for 2024-W11" in section and "<table" not in section
    text = render_markdown(r)
    assert text.split("## Who to look at\n\n", 1)[1].startswith("No findings are stored")
    assert "graphnet analyse \\-\\-window" not in text  # only leading markers are escaped
    assert "\\`graphnet analyse --window 2024-W11\\`" in text


# --------------------------------------------------------------------------------------------
# the ranking collected from a risk result and the window's findings
# --------------------------------------------------------------------------------------------
def risk_table() -> pd.DataFrame:
    """A `graphnet.risk.RiskResult.table`: indexed by host, sorted by risk."""
    nan = float("nan")
    rows = {
        SPOOF: dict(
            risk=30.0,
            p=1e-5,
            rank=1.0,
            rank_volume=1.0,
            score_volume=12.0,
            contribution_volume=9.0,
            rank_lda=3.0,
            score_lda=2.0,
            contribution_lda=0.0,  # scored, but not among lda's top: it does not contribute
            rank_novelty=2.5,
            score_novelty=0.8,
            contribution_novelty=10.0,
        ),
        "10.0.0.2": dict(
            risk=8.0,
            p=0.02,
            rank=2.0,
            rank_volume=2.0,
            score_volume=5.0,
            contribution_volume=8.0,
            rank_lda=1.0,
            score_lda=7.0,
            contribution_lda=nan,
            rank_novelty=5.0,
            score_novelty=nan,
            contribution_novelty=0.0,
        ),
        "10.0.0.3": dict(
            risk=0.0,
            p=1.0,
            rank=3.0,
            rank_volume=5.0,
            score_volume=nan,
            contribution_volume=0.0,
            rank_lda=5.0,
            score_lda=nan,
            contribution_lda=0.0,
            rank_novelty=5.0,
            score_novelty=nan,
            contribution_novelty=0.0,
        ),
    }
    return pd.DataFrame.from_dict(rows, orient="index")


def window_findings() -> list[Any]:
    from graphnet.findings import Finding

    def f(kind: str, score: float, hosts: list[str], text: str, status: str = "new") -> Finding:
        return Finding(kind, "2024-W11", score, hosts, text, status=status, discriminator=text)

    return [
        f("volume_anomaly", 12.0, [SPOOF], f"{SPOOF} had 120 flows\nin one bucket"),
        f("volume_anomaly", 3.0, [SPOOF], "a smaller spike"),
        f("volume_anomaly", 99.0, [SPOOF], "marked benign by the analyst", status="benign"),
        f("novel_connection", 0.8, ["10.0.0.9", SPOOF], "x" * 500),
        f("volume_anomaly", 5.0, ["10.0.0.2"], "10.0.0.2 spiked"),
    ]


OF_KIND = {"volume_anomaly": "volume", "novel_connection": "novelty", "suspicious_connect": "lda"}


def test_ranking_from_a_risk_result() -> None:
    from graphnet.reports.ranking import ranking_from

    result = types.SimpleNamespace(
        window="2024-W11",
        method="brown",
        detectors=["volume", "lda", "novelty"],
        hosts=3,
        table=risk_table(),
        alerts=1,
    )
    rk = ranking_from(result, window_findings(), "2024-W11", BROWSER, OF_KIND, top=10)
    assert (rk.method, rk.hosts, rk.alerts, rk.ranked) == ("brown", 3, 1, 2)
    assert [h.host for h in rk.top] == [SPOOF, "10.0.0.2"]  # no zero-risk host
    first = rk.top[0]
    assert (first.rank, first.risk, first.p) == (1, 30.0, 1e-5)
    # contributing detectors only, the largest contribution first, with their rank
    assert first.detectors_text() == "novelty #2.5, volume #1"
    novelty, volume = first.reasons
    assert volume.explanation == f"{SPOOF} had 120 flows in one bucket"  # best, not benign
    assert volume.kind == "volume_anomaly" and volume.score == 12.0
    assert len(novelty.explanation) == 240 and novelty.explanation.endswith("…")
    assert first.cypher == host_query(SPOOF, "2024-W11")
    assert first.link == browser_link(BROWSER, first.cypher)
    assert rk.top[1].detectors_text() == "volume #2"  # NaN contribution: not contributing
    assert len(ranking_from(result, [], "2024-W11", None, OF_KIND, top=1).top) == 1
    nobody = types.SimpleNamespace(
        method="brown", detectors=["volume"], hosts=3, table=risk_table().iloc[2:], alerts=0
    )
    empty = ranking_from(nobody, [], "2024-W11", None, OF_KIND)
    assert not empty.top and "no host has any risk" in empty.note
    assert empty.headline().startswith("No alert: none of the 3 hosts")


class FakeStore:
    def read(self, name: str, **params: Any) -> list[dict[str, Any]]:
        assert name == "report_hosts"
        return [{"host": h, "internal": h.startswith("10.")} for h in params["hosts"]]


def fake_modules(monkeypatch: pytest.MonkeyPatch, risk_window: Any) -> None:
    """Stand-ins for graphnet.risk and the registry (their own tests cover them)."""
    risk = types.ModuleType("graphnet.risk")

    class RiskSettings:
        alpha = 0.01

    risk.RiskSettings = RiskSettings  # type: ignore[attr-defined]
    risk.risk_window = risk_window  # type: ignore[attr-defined]
    registry = types.ModuleType("graphnet.detectors.registry")
    registry.detector_of_kind = lambda: OF_KIND  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "graphnet.risk", risk)
    monkeypatch.setitem(sys.modules, "graphnet.detectors.registry", registry)


def test_collect_ranking_reads_the_stored_ranking(monkeypatch: pytest.MonkeyPatch) -> None:
    from graphnet.config import Settings
    from graphnet.reports.ranking import collect_ranking

    calls: list[tuple[Any, ...]] = []

    def risk_window(store: Any, window: str, settings: Any, risk: Any = None) -> Any:
        calls.append((window, risk.alpha))
        return types.SimpleNamespace(
            method="brown",
            detectors=["volume", "lda", "novelty"],
            hosts=3,
            table=risk_table(),
            alerts=1,
        )

    fake_modules(monkeypatch, risk_window)
    settings = Settings(home=Path("/nonexistent"))
    rk = collect_ranking(FakeStore(), "2024-W11", settings, window_findings(), BROWSER, top=5)
    assert calls == [("2024-W11", 0.01)] and rk.alpha == 0.01
    assert [(h.host, h.internal) for h in rk.top] == [(SPOOF, False), ("10.0.0.2", True)]


def test_a_failing_ranking_leaves_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    from graphnet.config import Settings
    from graphnet.reports.ranking import collect_ranking

    def risk_window(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError(f"boom {XSS}")

    fake_modules(monkeypatch, risk_window)
    settings = Settings(home=Path("/nonexistent"))
    rk = collect_ranking(FakeStore(), "2024-W11", settings, window_findings(), BROWSER)
    assert not rk.method and not rk.top
    assert "could not be computed (RuntimeError: boom" in rk.headline()
    r = hostile_report()
    r.ranking = rk
    page = render_html(r)
    assert XSS not in page and "could not be computed" in page


# --------------------------------------------------------------------------------------------
# stored results: volume time charts and novelty scores, never a refit
# --------------------------------------------------------------------------------------------
def test_volume_items_read_the_stored_series(tmp_path: Path) -> None:
    from graphnet.archive import Archive
    from graphnet.config import Settings
    from graphnet.detectors import volume as volume_mod
    from graphnet.findings import Finding
    from graphnet.reports.model import _volume_items

    settings = Settings(home=tmp_path)
    frame = volume_frame()
    edge = f"{XSS}->10.0.0.2"
    stored = pd.concat(
        [frame.assign(entity=XSS), volume_frame(spike=3).assign(entity=edge)], ignore_index=True
    )
    Archive(settings).write_result("2024-W11", volume_mod.SERIES_RESULT, stored, {})

    def vol(hosts: list[str], entity: str) -> Finding:
        return Finding(
            "volume_anomaly",
            "2024-W11",
            9.0,
            hosts,
            f"{hosts[0]} spiked",
            evidence={"entity": entity},
            discriminator=entity + hosts[0],
        )

    found = [vol([XSS], "host"), vol([XSS, "10.0.0.2"], "edge"), vol(["10.0.0.7"], "host")]
    items = _volume_items(settings, "2024-W11", found, charts=True)
    assert [i.host for i in items] == [XSS, edge, "10.0.0.7"]
    host, pair, missing = items
    assert host.buckets == 48 and host.buckets_out == 1 and host.max_flows == 120.0
    assert host.max_time == "2024-03-11 02:30 UTC" and host.chart is not None
    assert "entity" not in host.series.columns and len(host.series) == 48
    assert pair.max_time == "2024-03-11 00:15 UTC" and pair.note == ""
    assert missing.chart is None and missing.series is None
    assert missing.note == (
        "no time chart stored: run `graphnet analyse --window 2024-W11 --only volume`"
    )
    # a window analysed before the series were stored: every item says how to get them
    before = _volume_items(settings, "2024-W10", found[:1], charts=False)
    assert before[0].note.endswith("--window 2024-W10 --only volume`")


def test_novelty_scores_through_the_archive(tmp_path: Path) -> None:
    from graphnet.archive import Archive
    from graphnet.config import Settings
    from graphnet.reports.model import novelty_scores

    settings = Settings(home=tmp_path)
    archive = Archive(settings)
    assert novelty_scores(settings, "2024-W11") is None
    full = pd.DataFrame(
        {
            "src": ["a", "b"],
            "dst": ["c", "d"],
            "uid": ["C1", "C2"],
            "score": [0.9, 0.1],
            "uniqueness": [12.0, 1.0],
            "peers": [3, 4],
        }
    )
    archive.write_result("2024-W11", "novelty", full, {"window": "2024-W11"})
    got = novelty_scores(settings, "2024-W11")
    assert list(got.columns) == ["src", "dst", "score", "uniqueness", "uid"]
    assert got["score"].tolist() == [0.9, 0.1]
    archive.write_result("2024-W11", "novelty", full.drop(columns=["uid", "dst"]), {})
    assert list(novelty_scores(settings, "2024-W11").columns) == ["src", "score", "uniqueness"]
    archive.write_result("2024-W11", "novelty", full.drop(columns=["uniqueness"]), {})
    assert novelty_scores(settings, "2024-W11") is None


def test_rank_text_hides_float_noise_and_keeps_ties() -> None:
    from graphnet.reports.types import rank_text

    assert rank_text(3.0000000001) == "#3"
    assert rank_text(2.5) == "#2.5"
    assert rank_text(float("nan")) == "–"


def test_control_characters_are_shown_by_code_point() -> None:
    from graphnet.reports.escape import esc, visible_controls

    host = "\x1b[31mRED\x1b]0;PWNED\x07\u009b\u202e"
    shown = visible_controls(host)
    assert shown == "[U+001B][31mRED[U+001B]]0;PWNED[U+0007][U+009B][U+202E]"
    assert "\x1b" not in esc(host) and "\x07" not in esc(host)
    assert visible_controls("a\tb\nc") == "a\tb\nc"


def grouped_report() -> Report:
    from graphnet.reports.types import FindingGroupItem

    r = hostile_report()
    r.host_groups = [
        FindingGroupItem(
            1,
            [SPOOF],
            2.75,
            4,
            ["novelty", "behaviour"],
            f"{XSS} talked to {IMG} {PIPE}",
            f"first 40 % of this window (time split) {STAR}",
            ["no-1", "fi-2"],
        )
    ]
    r.host_groups_total = 7
    r.conversation_groups = [
        FindingGroupItem(1, [SPOOF, MD_HOST], 2.0, 2, ["novelty", "lda"], f"{TICK} port 4444")
    ]
    r.conversation_groups_total = 1
    return r


def test_finding_groups_follow_the_ranking_escaped_with_the_rest_one_flag_away() -> None:
    r = grouped_report()
    page = render_html(r)
    assert re.findall(r'<section id="([a-z]+)"', page)[:3] == ["ranking", "groups", "summary"]
    section = page[page.index('<section id="groups">') : page.index('<section id="summary">')]
    assert XSS not in section and "<img src=x" not in section and RLO not in section
    spoof = "&lt;script&gt;alert(1)&lt;/script&gt;[U+202E]gpj.exe"
    assert f'<bdi class="host">{spoof}</bdi> → <bdi class="host">' in section
    tags = parse(section)
    assert "script" not in {t for t, _ in tags.tags}
    text = "".join(tags.text)
    assert f"{XSS} talked to {IMG} {PIPE}" in text and "time split" in text
    assert f"showing 1 of 7; every one: graphnet findings --window {r.window} --all" in text
    full = render_markdown(r)
    headings = [ln for ln in full.splitlines() if ln.startswith("## ")]
    assert headings[:3] == [
        "## Who to look at",
        "## Findings by host and by conversation",
        "## At a glance",
    ]
    md_section = without_code(
        full[full.index("## Findings by host") : full.index("## At a glance")]
    )
    assert XSS not in md_section and RLO not in md_section
    assert "\\<script\\>alert\\(1\\)\\</script\\>" in md_section and "svc\\|pipe" in md_section
    assert "\\# 1. \\|x\\| \\[a\\]\\(b\\)" in md_section
    assert f"--window {r.window} --all`_" in md_section
    rows = [ln for ln in md_section.splitlines() if ln.startswith("|")]
    assert {len(re.split(r"(?<!\\)\|", ln)) for ln in rows} == {7 + 2}
    data = json.loads(render_json(r))
    assert data["host_groups"][0]["hosts"] == [SPOOF] and data["host_groups_total"] == 7
