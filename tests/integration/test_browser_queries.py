"""Neo4j Browser: every saved query runs against a small graph, the style sheet parses the way
Browser parses it and names labels graphnet sets, and `graphnet browser` never shows a password."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graphnet import browser, findings, ingest, pipeline
from graphnet.config import Settings
from graphnet.detectors import labels
from graphnet.detectors.snapshots import SnapshotRun
from graphnet.findings import Finding

MON = 1709510400.0  # 2024-03-04, ISO week 10
WEEK = 7 * 86400.0


def frame(start: float, pairs: list[tuple[str, str, int]]) -> pd.DataFrame:
    rows = []
    for k, (src, dst, n) in enumerate(pairs):
        for i in range(n):
            rows.append((start + 3600 + 60 * k + i, src, dst))
    f = pd.DataFrame(rows, columns=["ts", "src", "dst"])
    f["uid"] = [f"C{int(start)}{i:08d}" for i in range(len(f))]
    f["sport"] = np.int32(40000)
    f["dport"] = np.int32(443)
    f["proto"] = "tcp"
    f["service"] = "ssl"
    f["duration"] = 1.0
    f["src_bytes"] = 100.0
    f["dst_bytes"] = 200.0
    f["src_pkts"] = 2.0
    f["dst_pkts"] = 2.0
    f["conn_state"] = "SF"
    f["history"] = "ShADadFf"
    f["line"] = np.arange(1, len(f) + 1)
    return f


@pytest.fixture
def small_graph(store) -> dict[str, str]:  # type: ignore[no-untyped-def]
    settings = Settings.from_env()
    w10 = [("10.0.0.1", "10.0.0.2", 5), ("10.0.0.3", "10.0.0.2", 3), ("10.0.0.2", "8.8.8.8", 2)]
    w11 = [*w10, ("10.0.0.4", "10.0.0.1", 4), ("EXT_SERVER", "10.0.0.4", 2)]
    ingest.ingest_frame(store, frame(MON, w10), settings, name="w10")
    ingest.ingest_frame(store, frame(MON + WEEK, w11), settings, name="w11")
    # the snapshot step computes the snapshot of the window and of the earlier one
    snap = pipeline.run_detector("snapshot", store, settings, "2024-W11").detail
    assert isinstance(snap, SnapshotRun)
    assert [r.window for r in snap.results] == ["2024-W10", "2024-W11"]
    f = Finding(
        kind="novel_connection",
        window="2024-W11",
        score=0.9,
        hosts=["EXT_SERVER", "10.0.0.4"],
        explanation="new pair",
        evidence={"top_component": "service", "top_value": "ssl"},
    )
    findings.save(store, [f])
    return {"host": "10.0.0.2", "peer": "8.8.8.8", "window": "2024-W11", "finding": f.id}


def test_saved_queries_have_headers() -> None:
    queries = browser.saved_queries()
    names = {q.name for q in queries}
    assert {
        "host_neighbourhood",
        "host_centrality_history",
        "window_findings",
        "finding_evidence",
        "new_edges",
        "paths_to_server",
    } <= names
    for q in queries:
        assert q.title and q.title != q.name, q.file
        assert len(q.description) > 20, q.file
        used = set(re.findall(r"\$([A-Za-z_]\w*)", q.text))
        assert used, f"{q.file} uses no parameters"
        assert used == set(q.parameters), (q.file, used, q.parameters)
        for p in q.params:
            assert re.fullmatch(r":param \w+ => '[^']*'", p), p
        # no hard-coded windows or hosts outside the comment header
        body = "\n".join(ln for ln in q.text.splitlines() if not ln.lstrip().startswith("//"))
        assert not re.search(r"\d{4}-W\d{2}|\d+\.\d+\.\d+\.\d+", body), q.file


def test_every_saved_query_runs(store, small_graph: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    results = {}
    for q in browser.saved_queries():
        params = {name: small_graph[name] for name in q.parameters}
        results[q.name] = store.read(f"browser/{q.name}", **params)
    assert len(results["host_neighbourhood"]) == 3  # 10.0.0.2 talked with three hosts in W11
    assert {r["finding"] for r in results["window_findings"]} == {small_graph["finding"]}
    assert results["finding_evidence"]
    assert len(results["new_edges"]) == 2  # the two pairs that first talked in W11
    assert results["paths_to_server"]  # e.g. 10.0.0.4 -> 10.0.0.1 -> 10.0.0.2
    assert [r["window"] for r in results["host_centrality_history"]] == ["2024-W10", "2024-W11"]
    for kind in ("beacon", "long_connection", "strobe"):  # 10.0.0.2 -> 8.8.8.8 in W10 and W11
        (row,) = results[kind]
        assert row["connections"] == 2 and row["earlier_windows"] == ["2024-W10"], kind
        assert row["findings"] == [], kind
    (row,) = results["dns_http_client"]  # no dns or http records: the client, nothing else
    assert row == {"client": "10.0.0.2", "findings": [], "resolved": [], "requested": []}


def parse_grass(text: str) -> dict[str, dict[str, str]]:
    """Neo4j Browser's GraSS parser (GraphStyle.parse), transcribed."""
    rules: dict[str, str] = {}
    inside_string = inside_props = False
    keyword = props = ""
    for c in text:
        skip = True
        if c == "{" and not inside_string:
            inside_props = True
        elif c == "}" and not inside_string:
            inside_props = False
            rules[keyword] = props
            keyword = props = ""
        elif c == "'":
            inside_string = not inside_string
        else:
            skip = False
        if skip:
            continue
        if inside_props:
            props += c
        elif not c.isspace():
            keyword += c
    out: dict[str, dict[str, str]] = {}
    for k, v in rules.items():
        out[k] = {}
        for prop in v.split(";"):
            if ":" in prop:
                key, val = prop.split(":")[:2]
                if key.strip() and val.strip():
                    out[k][key.strip()] = val.strip()
    return out


def test_style_sheet_parses_and_uses_our_labels() -> None:
    rules = parse_grass(browser.style_path().read_text())
    selectors = set(rules)
    assert {
        "node",
        "relationship",
        "node.Host",
        "node.Internal",
        "node.External",
        "node.Finding",
        "relationship.TALKED",
    } <= selectors
    for sel, props in rules.items():
        tag, *classes = sel.split(".")
        assert tag in ("node", "relationship"), sel
        assert props, sel
        for c in classes:
            assert re.fullmatch(r"[A-Z][A-Za-z0-9_]*", c), sel
        if "diameter" in props:
            assert re.fullmatch(r"\d+px", props["diameter"]), sel
        if "color" in props:
            assert re.fullmatch(r"#[0-9A-Fa-f]{6}", props["color"]), sel
    sizes = [int(rules[f"node.{lbl}"]["diameter"][:-2]) for lbl in reversed(browser.RANK_LABELS)]
    assert sizes == sorted(sizes) and sizes[0] > int(rules["node.Host"]["diameter"][:-2])
    assert rules["node.Internal"]["color"] != rules["node.External"]["color"]
    assert rules["node.Host"]["caption"] == "{id}"


def test_labels_for_the_style(store, small_graph: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    out = labels.apply_labels(store, "2024-W11")
    assert out["internal"] == 4 and out["external"] == 2  # 8.8.8.8 and EXT_SERVER
    again = labels.apply_labels(store, "2024-W11")
    assert again["internal"] == 0 and again["external"] == 0  # idempotent
    rows = store.read("browser/host_neighbourhood", host="10.0.0.2", window="2024-W11")
    assert rows
    # top 20 % of 6 hosts by PageRank = 2 hosts, the top one in the top 1 %
    assert out["ranked"] == 2


def test_browser_text_never_shows_the_password(
    store,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    secret = os.environ.get("NEO4J_PASSWORD") or "s3cret-value-xyz"
    monkeypatch.setenv("NEO4J_PASSWORD", secret)
    monkeypatch.delenv("NEO4J_PASSWORD_FILE", raising=False)
    monkeypatch.setenv("GRAPHNET_BROWSER_URL", "http://127.0.0.1:7474/browser/")
    info = browser.browser_info(Settings.from_env())
    text = browser.browser_text(info)
    assert secret not in text and secret not in repr(info)
    assert "NEO4J_PASSWORD" in text
    assert "http://127.0.0.1:7474/browser/" in text
    for q in browser.saved_queries():
        assert q.title in text
    assert str(browser.style_path()) in text
    # graphnet's local Neo4j: the password file's path, never its content
    pw = tmp_path / "pw"
    pw.write_text(secret)
    monkeypatch.setenv("NEO4J_PASSWORD_FILE", str(pw))
    monkeypatch.delenv("NEO4J_PASSWORD")
    text = browser.browser_text(browser.browser_info(Settings.from_env()))
    assert str(pw) in text and secret not in text
    monkeypatch.delenv("NEO4J_URI")
    monkeypatch.delenv("GRAPHNET_BROWSER_URL")
    local = browser.browser_info(Settings(home=tmp_path))
    assert local["server"] == "graphnet's local Neo4j"
    assert local["password"].startswith("in the file ")
    assert "graphnet neo4j password" in browser.browser_text(local)


# --------------------------------------------------------------------------------------------
# the queries graphnet shows (finding `cypher`, reports, CLI) with hostile host ids
# --------------------------------------------------------------------------------------------
#: bidi controls reorder what the analyst reads ("x<U+202E>gpj.exe" reads "xexe.jpg"); shown
#: Cypher writes them as \uXXXX escapes, and the query must still name exactly that host
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
HOSTILE_IDS = [
    "x\u202egpj.exe",
    "\u2067evil\u2069\u200f",
    "\u202a\u202b\u202c\u202d\u061c\u200e\u2066\u2068",
    "\x1b[31mRED\x1b[0m\x1b]0;PWNED\x07",
    "q\u202e'\\\"}) DETACH DELETE h //\x85",
]


def run_text(store, text: str) -> list[dict]:  # type: ignore[no-untyped-def]
    """Run a query text as Neo4j Browser would (tests only; the library runs named files)."""
    import neo4j

    s = store.settings
    with neo4j.GraphDatabase.driver(s.uri, auth=(s.user, s.password)) as driver:
        records, _, _ = driver.execute_query(text, database_=s.database)
        return [r.data() for r in records]


def look_alike(host: str) -> str:
    """`host` without its control characters: what it reads as."""
    return "".join(c for c in host if c not in BIDI_CONTROLS and c.isprintable()) or "blank"


def test_shown_queries_open_exactly_a_host_with_bidi_controls(store) -> None:  # type: ignore[no-untyped-def]
    from graphnet.detectors import behaviour, shifts
    from graphnet.detectors.novelty import scoring

    settings = Settings.from_env()
    # every hostile host and the host it reads as talk to 10.0.0.2, in both weeks
    pairs = [(h, "10.0.0.2", 3) for h in HOSTILE_IDS]
    pairs += [(look_alike(h), "10.0.0.2", 2) for h in HOSTILE_IDS]
    assert len({h for h, _, _ in pairs}) == 2 * len(HOSTILE_IDS)
    ingest.ingest_frame(store, frame(MON, pairs), settings, name="w10")
    ingest.ingest_frame(store, frame(MON + WEEK, pairs), settings, name="w11")
    pipeline.run_detector("snapshot", store, settings, "2024-W11")
    nodes_before = run_text(store, "MATCH (n) RETURN count(n) AS n")[0]["n"]
    for host in HOSTILE_IDS:
        lit = findings.cypher_literal(host)
        assert not any(c in BIDI_CONTROLS or not c.isprintable() for c in lit), lit
        rows = run_text(store, f"MATCH (h:Host {{id: {lit}}}) RETURN h.id AS id")
        assert [r["id"] for r in rows] == [host]
        rows = run_text(store, shifts.browser_query(host, "2024-W11"))
        assert [r["h"]["id"] for r in rows] == [host]
        assert [m["window"] for m in rows[0]["history"]] == ["2024-W10", "2024-W11"]
        assert len(rows[0]["neighbourhood"]) == 1
        text = behaviour.browser_query(host, "2024-W11")
        assert not any(c in BIDI_CONTROLS for c in text)
        rows = run_text(store, text)
        assert len(rows) == 1 and rows[0]["p"] is not None
        assert rows[0]["p"][0]["id"] == host  # the path starts at exactly that host
        text = scoring.pair_cypher(host, "10.0.0.2", "2024-W11")
        assert not any(c in BIDI_CONTROLS for c in text)
        rows = run_text(store, text)
        assert len(rows) == 1 and rows[0]["p"][0]["id"] == host
    assert run_text(store, "MATCH (n) RETURN count(n) AS n")[0]["n"] == nodes_before
