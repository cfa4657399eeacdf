"""Report rendering from hand-made Report objects: hostile log strings stay text everywhere."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

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
from graphnet.reports.model import (
    VolumeItem,
    browser_link,
    cypher_string,
    describe_evidence,
    describe_parts,
    edge_query,
    meaning,
    normalise_browser_url,
    volume_numbers,
)
from graphnet.reports.render import esc, fence, md

XSS = "<script>alert(1)</script>"
PIPE = "svc|pipe"
STAR = "*bold*"
TICK = "`tick`"
IMG = '"><img src=x onerror=alert(2)>'
BROWSER = "http://127.0.0.1:7474/browser/"


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
    from graphnet.reports.model import KIND_TITLES, _finding_item

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
