"""Issue 14, "done when": hostile host ids end to end.

A hand-written CIDDS-001 CSV over three weeks whose host ids hold `|`, quotes, backslashes,
ESC sequences, U+202E, HTML and one 10,000-character id goes through `graphnet ingest` ->
`graphnet analyse --all` -> `graphnet findings` (terminal and `--json`) -> `graphnet report`
(HTML, Markdown, JSON). The ids are stored verbatim, the terminal never obeys them, the HTML
holds no markup of theirs and isolates them, the Markdown escapes them, every finding's shown
Cypher opens exactly its hosts, and the too-long id is a rejected line.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import neo4j
from typer.testing import CliRunner

from graphnet.cli import app
from graphnet.reports.escape import md_host

#: the ids under test (CIDDS ids are any text without whitespace)
PIPE = "a|b"
SQUOTE = "o'brien'})--"
DQUOTE = 'say"hi"'
BACKSLASH = "back\\slash\\"
ESC = "\x1b[31mRED\x1b[0m\x1b]0;PWNED\x07"
BIDI = "x\u202egpj.exe"
IMG = "<img/src=x/onerror=alert(1)>"
SCRIPT = "<script>alert(1)</script>"
SERVER = "srv|web"  # a server with a bar in its id
CLIENTS = [PIPE, SQUOTE, DQUOTE, BACKSLASH, ESC, BIDI, SCRIPT, "10.1.0.7", "10.1.0.8"]
HOSTILE = {PIPE, SQUOTE, DQUOTE, BACKSLASH, ESC, BIDI, IMG, SCRIPT, SERVER}
LONG = "L" * 10_000  # over the 1,024-byte limit: its line is rejected
DNS, WEB = "10.0.0.53", "10.0.0.80"
#: in the last week these hosts use a service they never used before
NEW_SERVICES = [(SQUOTE, WEB, 8443), (BACKSLASH, DNS, 853), (PIPE, SERVER, 8080), (SCRIPT, WEB, 21)]

HEADER = (
    "Date first seen,Duration,Proto,Src IP Addr,Src Pt,Dst IP Addr,Dst Pt,Packets,Bytes,Flows,"
    "Flags,Tos,class,attackType,attackID,attackDescription\n"
)
#: Monday 2017-03-27 00:00 UTC: ISO weeks 2017-W13, W14 and W15
START = datetime(2017, 3, 27, tzinfo=UTC)
LAST = "2017-W15"
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def line(t: datetime, src: str, dst: str, dport: int, nbytes: int, proto: str = "TCP") -> str:
    flags = ".AP.SF" if proto == "TCP" else "......"
    pkts = max(1, nbytes // 500)
    return (
        f"{t:%Y-%m-%d %H:%M:%S}.{t.microsecond // 1000:03d},0.250,{proto:<5},{src},"
        f"{40000 + t.second * 7 % 20000},{dst},{dport},{pkts},{nbytes},1,{flags},0,"
        "normal,---,---,---\n"
    )


def write_fixture(path: Path) -> int:
    """Three weeks of office traffic, then in the last week: ESC scans 400 ports of the server,
    IMG is a new host, DQUOTE, BIDI and the others of NEW_SERVICES use new services, BIDI sends
    30 times its usual bytes.
    Returns the line number of the rejected line."""
    lines: list[str] = []
    for day in range(21):
        when = START + timedelta(days=day)
        if when.weekday() >= 5:
            continue
        last_week = day >= 14
        for c, client in enumerate(CLIENTS):
            for i in range(8):
                t = when + timedelta(hours=9 + i, minutes=c * 3, seconds=i)
                lines.append(line(t, client, SERVER, 80, 2000 + 37 * ((c + i + day) % 11)))
            for i in range(4):
                t = when + timedelta(hours=9 + 2 * i, minutes=30 + c, seconds=c)
                lines.append(line(t, client, DNS, 53, 80 + (c + i) % 5, proto="UDP"))
            for i in range(3):
                t = when + timedelta(hours=10 + 2 * i, minutes=45, seconds=c)
                nbytes = 5000 + 101 * ((c * i + day) % 7)
                if last_week and client == BIDI:
                    nbytes *= 30
                lines.append(line(t, client, WEB, 443, nbytes))
        if last_week:
            for i in range(6):  # a new host
                t = when + timedelta(hours=11, minutes=i)
                lines.append(line(t, IMG, SERVER, 80, 2100))
                lines.append(line(t + timedelta(seconds=30), IMG, WEB, 443, 5200))
            for i in range(10):  # a new service
                t = when + timedelta(hours=15, minutes=i)
                lines.append(line(t, DQUOTE, WEB, 3389, 90_000))
                lines.append(line(t + timedelta(seconds=20), BIDI, DNS, 22, 40_000))
                for k, (h, dst, port) in enumerate(NEW_SERVICES):
                    lines.append(line(t + timedelta(seconds=25 + k), h, dst, port, 30_000))
    scan = START + timedelta(days=16, hours=2)  # Wednesday of the last week, at night
    for port in range(1, 401):
        lines.append(line(scan + timedelta(seconds=port), ESC, SERVER, port, 60))
    rejected_at = 2 + len(lines) // 2  # header is line 1
    lines.insert(rejected_at - 2, line(START + timedelta(hours=12), LONG, SERVER, 80, 100))
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return rejected_at


def run(*args: str) -> Any:
    res = CliRunner().invoke(app, list(args))
    assert res.exit_code == 0, (args, res.stdout, res.stderr)
    for text in (res.stdout, res.stderr):
        assert not obeyed(text), (args, [ln for ln in text.splitlines() if obeyed(ln)][:5])
    return res


def obeyed(text: str) -> list[str]:
    """The characters of `text` a terminal would obey rather than show (C0 but newline, DEL,
    C1, bidi controls)."""
    return [
        c
        for c in text
        if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) <= 0x9F or c in BIDI_CONTROLS
    ]


def run_text(store: Any, text: str) -> list[neo4j.Record]:
    """A shown query run as text, as Neo4j Browser runs it (graphnet itself runs named files)."""
    s = store.settings
    with neo4j.GraphDatabase.driver(s.uri, auth=(s.user, s.password)) as driver:
        records, _, _ = driver.execute_query(text, database_=s.database)
        return list(records)


def hosts_in(value: Any) -> list[str]:
    """Ids of the Host nodes in a returned value (nodes, relationships, paths, lists)."""
    if isinstance(value, neo4j.graph.Node):
        return [value["id"]] if "Host" in value.labels else []
    if isinstance(value, neo4j.graph.Relationship):
        return [h for n in value.nodes if n is not None for h in hosts_in(n)]
    if isinstance(value, neo4j.graph.Path):
        return [h for n in value.nodes for h in hosts_in(n)]
    if isinstance(value, list | tuple):
        return [h for v in value for h in hosts_in(v)]
    if isinstance(value, dict):
        return [h for v in value.values() for h in hosts_in(v)]
    return []


class Tags(HTMLParser):
    """Every start tag of an HTML text with its attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def without_code(markdown: str) -> str:
    """Markdown text outside fenced code blocks and inline code spans."""
    text = re.sub(r"(?ms)^(`{3,})[^\n]*\n.*?^\1\s*$", "", markdown)
    return re.sub(r"(`+)[^`]*?\1", "", text)


def test_hostile_host_ids_end_to_end(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    logs = tmp_path / "logs"
    logs.mkdir()
    log_file = logs / "flows.csv"
    rejected_at = write_fixture(log_file)

    # ingest: every line but the too-long id; that one rejected with file:line and reason
    res = run("ingest", "--json", str(logs))
    summary = json.loads(res.stdout)
    (f,) = summary["files"]
    assert (f["status"], f["rejected"]) == ("ingested", 1), f
    rejects = Path(f["rejects_file"]).read_text(encoding="utf-8").splitlines()
    assert len(rejects) == 2  # header + the line
    file, at, reason, text = rejects[1].split("\t")
    assert (file, int(at)) == (str(log_file), rejected_at)
    assert reason == "host id too long in Src IP Addr: 10,000 bytes, at most 1,024"
    assert LONG not in text and len(text) <= 200
    # stored verbatim: exactly the ids of the log, the long one not at all
    stored = {r["id"] for r in run_text(store, "MATCH (h:Host) RETURN h.id AS id")}
    assert stored == {*CLIENTS, IMG, SERVER, DNS, WEB}

    analysed = json.loads(run("analyse", "--all", "--json").stdout)
    assert analysed["failed"] == 0, analysed
    assert [w["window"] for w in analysed["windows"]] == ["2017-W13", "2017-W14", LAST]

    # findings: terminal text inert (checked by run), --json the exact ids
    listed = run("findings", "--window", LAST, "--limit", "500").stdout
    found = json.loads(run("findings", "--window", LAST, "--limit", "500", "--json").stdout)
    assert found, "no findings in the last week"
    named = {h for x in found for h in x["hosts"]}
    assert named <= stored, named - stored  # exact round trip: no id altered on the way
    about_hostile = [x for x in found if set(x["hosts"]) & (HOSTILE - {SERVER})]
    assert about_hostile, sorted(named)
    kinds = {(x["kind"], h) for x in about_hostile for h in x["hosts"] if h in HOSTILE}
    print("findings about hostile hosts:", sorted((k, repr(h)) for k, h in kinds))
    # what the fixture planted is found: the scanner, the new host, the new services
    assert HOSTILE - {SERVER} <= named, sorted(HOSTILE - named)
    assert ("first_behaviour", DQUOTE) in kinds and ("first_behaviour", IMG) in kinds, kinds
    assert "\\x1b[31mRED" in listed or "\\u202e" in listed or "\\[script]" in listed

    # every shown query, run as text, opens exactly its finding's hosts: each row holds one
    # of them and together the rows hold all of them
    for x in found:
        assert x["hosts"] and x["cypher"], x
        assert not any(c in BIDI_CONTROLS for c in x["cypher"]), x["cypher"]
        rows = run_text(store, x["cypher"])
        assert rows, (x["kind"], x["hosts"], x["cypher"])
        seen: set[str] = set()
        for r in rows:
            row_hosts = set(hosts_in(list(r.values())))
            assert row_hosts & set(x["hosts"]), (x["kind"], x["hosts"], row_hosts)
            seen |= row_hosts
        assert set(x["hosts"]) <= seen, (x["kind"], x["hosts"], seen, x["cypher"])

    # the report: HTML, Markdown and JSON
    out = tmp_path / "report"
    run("report", "--window", LAST, "--out", str(out))
    html_file = next(out.rglob("*.html"))
    md_file = next(out.rglob("*.md"))
    json_file = next(p for p in out.rglob("*.json"))
    page = html_file.read_text(encoding="utf-8")
    markdown = md_file.read_text(encoding="utf-8")
    doc = json.loads(json_file.read_text(encoding="utf-8"))

    parser = Tags()
    parser.feed(page)
    # the report's own images are charts as data: URLs; no other img, no script, no handler
    assert not [t for t, _ in parser.tags if t == "script"]
    for tag, attrs in parser.tags:
        if tag == "img":
            assert (dict(attrs).get("src") or "").startswith("data:image/"), attrs
    handlers = [(t, a) for t, attrs in parser.tags for a, _ in attrs if a.startswith("on")]
    assert not handlers, handlers
    assert not re.search(r"<\s*(img/|script)", page, re.I)
    assert not obeyed(page)  # HTML and Markdown files are shown on terminals too (cat, less)
    in_report = {h for h in HOSTILE if json.dumps(h)[1:-1] in json.dumps(doc)}
    print("hostile hosts in the report:", sorted(map(repr, in_report)))
    assert {ESC, IMG, BIDI} <= in_report, in_report
    for h in in_report:
        assert "<bdi" in page
        shown = h.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        shown = shown.replace('"', "&quot;").replace("'", "&#x27;").replace("\u202e", "[U+202E]")
        shown = re.sub("[\x00-\x08\x0b-\x1f\x7f-\x9f]", lambda m: f"[U+{ord(m[0]):04X}]", shown)
        assert re.search(r"<bdi[^>]*>" + re.escape(shown) + "</bdi>", page), h
        # Markdown: the escaped form, never the raw one outside code
        assert md_host(h) in markdown, h
    prose = without_code(markdown)
    assert not re.search(r"(?<!\\)<\s*(img|script)", prose, re.I)
    assert not obeyed(markdown)
    # JSON: the ids exactly
    assert in_report <= HOSTILE
