"""Change reports against a real Neo4j: content matches the graph, the combined ranking comes
first and matches `graphnet.risk`, volume charts and novelty scores are the stored results,
hostile strings stay text, and the HTML renders in headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graphnet import findings, ingest
from graphnet.archive import Archive
from graphnet.config import Settings
from graphnet.findings import Finding
from graphnet.reports import build_report, default_window, write_report

XSS = "<script>alert(1)</script>"
PIPE, STAR, TICK = "svc|pipe", "*bold*", "`tick`"
W09, W10, W11 = 1708905600.0, 1709510400.0, 1710115200.0  # Mondays 00:00 UTC
BROWSER = "http://127.0.0.1:7474/browser/"


def conns(rows: list[tuple]) -> pd.DataFrame:
    """(ts, src, dst, dport, proto, service, conn_state, history, src_bytes, dst_bytes)."""
    cols = [
        "ts",
        "src",
        "dst",
        "dport",
        "proto",
        "service",
        "conn_state",
        "history",
        "src_bytes",
        "dst_bytes",
    ]
    f = pd.DataFrame(rows, columns=cols)
    f["uid"] = [f"C{i:017d}" for i in range(len(f))]
    f["sport"] = np.int32(40000)
    f["dport"] = f["dport"].astype("int32")
    f["duration"] = 1.0
    f["src_pkts"] = 4.0
    f["dst_pkts"] = 4.0
    f["line"] = np.arange(1, len(f) + 1)
    return f


def week(
    start: float, extra: list[tuple], steady: bool = True, ssh_pair: bool = False, salt: int = 0
) -> pd.DataFrame:
    rows: list[tuple] = []
    if steady:
        for i in range(20):
            t = start + 3600 * (9 + i % 8) + i + salt
            rows.append(
                (t, "10.0.0.1", "10.0.0.2", 443, "tcp", "ssl", "SF", "ShADadFf", 900.0, 5000.0)
            )
            rows.append((t + 1, "10.0.0.3", "10.0.0.2", 53, "udp", "dns", "SF", "Dd", 60.0, 120.0))
        for i in range(5):
            rows.append(
                (
                    start + 7200 + i + salt,
                    "10.0.0.4",
                    "8.8.8.8",
                    53,
                    "udp",
                    "dns",
                    "SF",
                    "Dd",
                    60.0,
                    100.0,
                )
            )
    if ssh_pair:
        for i in range(6):
            rows.append(
                (
                    start + 9000 + i,
                    "10.0.0.5",
                    "10.0.0.6",
                    22,
                    "tcp",
                    "ssh",
                    "SF",
                    "ShADadFf",
                    3000.0,
                    4000.0,
                )
            )
    rows.extend(extra)
    return conns(rows)


def w11_extra() -> list[tuple]:
    t = W11 + 3 * 86400
    rows = []
    for i, svc in enumerate([PIPE] * 5 + [STAR] * 2 + [TICK]):
        rows.append((t + i, XSS, "10.0.0.2", 8443, "tcp", svc, "S0", "S", 0.0, 0.0))
    for i in range(4):  # a new pair: 10.0.0.1 scans 10.0.0.6 on 445
        rows.append((t + 100 + i, "10.0.0.1", "10.0.0.6", 445, "tcp", "smb", "REJ", "Sr", 0.0, 0.0))
    for i in range(3):  # a pair that already talked uses a new service and port
        rows.append(
            (
                t + 200 + i,
                "10.0.0.1",
                "10.0.0.2",
                22,
                "tcp",
                "ssh",
                "SF",
                "ShADadFf",
                2000.0,
                3000.0,
            )
        )
    return rows


@pytest.fixture
def graph(store) -> dict[str, pd.DataFrame]:  # type: ignore[no-untyped-def]
    frames = {
        "2024-W09": week(W09, [], ssh_pair=False, salt=1),
        "2024-W10": week(W10, [], ssh_pair=True, salt=2),
        "2024-W11": week(W11, w11_extra(), salt=3),
    }
    settings = Settings.from_env()
    for w, f in frames.items():
        res = ingest.ingest_frame(store, f, settings, name=f"test-{w}")
        assert res.status == "ingested", res
    return frames


def save_findings(store) -> None:  # type: ignore[no-untyped-def]
    fs = [
        Finding(
            kind="centrality_shift",
            window="2024-W11",
            score=7.5,
            hosts=["10.0.0.2"],
            explanation="in-degree 2 → 3, 4σ above its 2-week history",
            parts={
                "in_degree": {"previous": 2, "current": 3, "z": 4.0},
                "pagerank": {"previous": 0.4, "current": 0.35, "z": -1.0},
            },
            evidence={"rank": 1, "history": ["2024-W09", "2024-W10"]},
        ),
        Finding(
            kind="novel_connection",
            window="2024-W11",
            score=0.93,
            hosts=[XSS, "10.0.0.2"],
            explanation=f"{XSS}→10.0.0.2 is a new conversation using {PIPE}",
            parts={"service": 9.5, "new_pair": 6.0, "conn_state": 2.0},
            evidence={
                "top_component": "service",
                "top_value": PIPE,
                "connections": 8,
                "uids": ["C1", "C2"],
            },
            detector="novelty",
        ),
        Finding(
            kind="novel_connection",
            window="2024-W11",
            score=0.7,
            hosts=["10.0.0.1", "10.0.0.6"],
            explanation="new pair, rejected SMB",
            parts={"conn_state": 5.0, "dport": 4.0},
            evidence={"top_component": "conn_state", "top_value": "REJ"},
        ),
        Finding(
            kind="deviating_path",
            window="2024-W11",
            score=0.8,
            hosts=[XSS, "10.0.0.2", "10.0.0.6"],
            explanation="two novel hops",
        ),
        Finding(
            kind="suspicious_connect",
            window="2024-W11",
            score=0.6,
            hosts=["10.0.0.1", "10.0.0.6"],
            explanation="rare words",
            evidence={"conn_state": "REJ", "history": "Sr"},
        ),
        Finding(
            kind="novel_connection",
            window="2024-W10",
            score=0.9,
            hosts=["10.0.0.5", "10.0.0.6"],
            explanation="another window",
        ),
    ]
    findings.save(store, fs)


def pairs(f: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(f["src"], f["dst"], strict=True))


def hosts(f: pd.DataFrame) -> set[str]:
    return set(f["src"]) | set(f["dst"])


def test_report_content_matches_the_graph(store, graph, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    save_findings(store)
    settings = Settings.from_env()
    r = build_report(store, "2024-W11", settings, baseline_windows=2, browser_url=BROWSER, top=50)
    cur, prev, base = (
        graph["2024-W11"],
        graph["2024-W10"],
        pd.concat([graph["2024-W09"], graph["2024-W10"]]),
    )
    # sizes, computed independently from the frames
    assert r.current is not None
    assert r.current.hosts == len(hosts(cur))
    assert r.current.edges == len(pairs(cur))
    assert r.current.connections == len(cur)
    assert r.current.bytes == pytest.approx(float((cur["src_bytes"] + cur["dst_bytes"]).sum()))
    assert r.previous == "2024-W10" and r.baseline == ["2024-W09", "2024-W10"]
    assert r.previous_totals is not None and r.previous_totals.edges == len(pairs(prev))
    assert r.baseline_mean is not None
    assert r.baseline_mean.connections == pytest.approx((len(graph["2024-W09"]) + len(prev)) / 2)
    # what changed
    new_hosts = hosts(cur) - hosts(base)
    new_pairs = pairs(cur) - pairs(base)
    vanished = pairs(prev) - pairs(cur)
    assert r.new_hosts_total == len(new_hosts) == 1
    assert {h.host for h in r.new_hosts} == new_hosts == {XSS}
    assert r.new_edges_total == len(new_pairs) == 2
    assert {(e.src, e.dst) for e in r.new_edges} == new_pairs
    assert r.vanished_edges_total == len(vanished) == 1
    assert {(e.src, e.dst) for e in r.vanished_edges} == vanished
    assert r.vanished_edges[0].seen_in == 1  # talked in W10, not in W09
    both = pairs(cur) & pairs(base)
    expected_new_service = set()
    for p in both:
        c = cur[(cur["src"] == p[0]) & (cur["dst"] == p[1])]
        b = base[(base["src"] == p[0]) & (base["dst"] == p[1])]
        if set(c["service"]) - set(b["service"]) - {"-"} or set(c["dport"]) - set(b["dport"]):
            expected_new_service.add(p)
    assert {(e.src, e.dst) for e in r.new_services} == expected_new_service
    svc = r.new_services[0]
    assert (svc.src, svc.dst, svc.new_services, svc.new_ports) == (
        "10.0.0.1",
        "10.0.0.2",
        ["ssh"],
        ["22"],
    )
    # the new scan pair shows its state with the meaning
    scan = next(e for e in r.new_edges if e.dst == "10.0.0.6")
    assert [(c.value, c.n, c.meaning) for c in scan.states] == [
        ("REJ", 4, "connection attempt rejected")
    ]
    assert scan.link and scan.link.startswith(BROWSER + "?cmd=edit&arg=")
    assert ("conn_state", "REJ", "connection attempt rejected") in r.legend
    # findings of the window only, grouped by host
    assert r.findings_by_kind == {
        "centrality_shift": 1,
        "novel_connection": 2,
        "deviating_path": 1,
        "suspicious_connect": 1,
    }
    assert r.shifts_total == 1 and r.shifts[0].finding.hosts == ["10.0.0.2"]
    assert r.shifts[0].metric is None and r.shifts[0].history == []  # no snapshots here
    assert r.deviations_total == 4
    groups = {g.host: [f.kind for f in g.findings] for g in r.deviations}
    assert groups == {
        XSS: ["novel_connection", "deviating_path"],
        "10.0.0.1": ["novel_connection", "suspicious_connect"],
    }
    assert r.deviations[0].host == XSS  # highest score first
    sus = next(f for g in r.deviations for f in g.findings if f.kind == "suspicious_connect")
    assert ("conn_state", "REJ (connection attempt rejected)") in sus.evidence
    assert ("history", "Sr (originator SYN, responder reset)") in sus.evidence
    # fingerprint trees of the novel connections, the novel value highlighted; both pairs are
    # new, so the baseline is what the destination usually receives
    tree = next(t for t in r.trees if t.src == XSS)
    assert tree.level == "server" and tree.baseline_connections == 80
    service = next(b for b in tree.branches if b.component == "service")
    assert service.novel
    assert [(lf.value, lf.baseline, lf.current, lf.novel) for lf in service.leaves] == [
        ("dns", 40, 0, False),
        ("ssl", 40, 0, False),
        (PIPE, 0, 5, True),
        (STAR, 0, 2, False),
        (TICK, 0, 1, False),
    ]  # the other new values of the window
    scan_tree = next(t for t in r.trees if t.src == "10.0.0.1")
    assert scan_tree.level == "server" and scan_tree.baseline_connections == 6
    state = next(b for b in scan_tree.branches if b.component == "conn_state")
    assert [(lf.value, lf.baseline, lf.current, lf.novel) for lf in state.leaves] == [
        ("SF", 6, 0, False),
        ("REJ", 0, 4, True),
    ]
    assert scan_tree.chart is not None and scan_tree.chart.png.startswith(b"\x89PNG")
    # no per-connection scores stored: the scatter is left out with a note
    assert r.novelty_chart is None and "novelty" in r.novelty_note

    paths = write_report(r, tmp_path)
    page = paths["html"].read_text()
    assert XSS not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "svc|pipe" in page
    assert page.index('<section id="ranking">') < page.index('<section id="summary">')
    text = paths["markdown"].read_text()
    assert "\\<script\\>alert\\(1\\)\\</script\\>" in text
    assert next(ln for ln in text.splitlines() if ln.startswith("## ")) == "## Who to look at"
    data = json.loads(paths["json"].read_text())
    assert data["new_edges_total"] == 2 and data["current"]["connections"] == len(cur)
    assert r.ranking is not None and r.ranking.top
    assert data["ranking"]["top"][0]["host"] == r.ranking.top[0].host


def test_ranking_comes_from_the_stored_findings(store, graph) -> None:  # type: ignore[no-untyped-def]
    from graphnet.risk import risk_window

    save_findings(store)
    findings.set_status(
        store, findings.load(store, "2024-W11", "suspicious_connect")[0].id, "benign"
    )
    settings = Settings.from_env()
    r = build_report(store, "2024-W11", settings, baseline_windows=2, browser_url=BROWSER)
    rk = r.ranking
    assert rk is not None and rk.method == "brown" and not rk.note
    cur = graph["2024-W11"]
    assert rk.hosts == len(hosts(cur))
    # the same ranking as `graphnet risk` (from the stored findings, nothing run)
    res = risk_window(store, "2024-W11", settings)
    risky = res.table[res.table["risk"] > 0]
    assert [h.host for h in rk.top] == list(risky.index[:10])
    assert rk.ranked == len(risky) and rk.alerts == res.alerts
    assert sorted(rk.detectors) == ["novelty", "paths", "shifts"]  # lda: only a benign finding
    assert {h.host for h in rk.top} == {XSS, "10.0.0.1", "10.0.0.2", "10.0.0.6"}
    for h in rk.top:
        row = risky.loc[h.host].to_dict()
        assert h.rank == int(row["rank"]) and h.risk == pytest.approx(float(row["risk"]))
        assert [x.detector for x in h.reasons] == sorted(
            (d for d in res.detectors if row[f"contribution_{d}"] > 0),
            key=lambda d: -row[f"contribution_{d}"],
        )
        assert h.link and h.link.startswith(BROWSER + "?cmd=edit&arg=")
    xss = next(h for h in rk.top if h.host == XSS)
    why = {x.detector: x.explanation for x in xss.reasons}
    assert why == {
        "novelty": f"{XSS}→10.0.0.2 is a new conversation using {PIPE}",
        "paths": "two novel hops",
    }
    assert xss.internal is None or xss.internal is False
    server = next(h for h in rk.top if h.host == "10.0.0.2")
    assert {x.detector: x.kind for x in server.reasons}["shifts"] == "centrality_shift"


def test_shift_history_and_novelty_scatter(store, graph, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    snapshots = pytest.importorskip("graphnet.detectors.snapshots")
    for w in graph:
        snapshots.snapshot(store, window=w)
    save_findings(store)
    settings = Settings.from_env()
    cur = graph["2024-W11"]
    scores = pd.DataFrame(
        {
            "src": cur["src"],
            "dst": cur["dst"],
            "uid": cur["uid"],
            "score": np.where(cur["src"] == XSS, 0.95, 0.05),
            "uniqueness": np.where(cur["src"] == XSS, 14.0, 2.0),
        }
    )
    # stored as the novelty step stores them: the archive's "novelty" result of the window
    Archive(settings).write_result("2024-W11", "novelty", scores, {"window": "2024-W11"})
    r = build_report(store, None, settings, baseline_windows=2)
    assert r.window == "2024-W11"  # the latest window that has ended
    shift = r.shifts[0]
    assert shift.metric == "in_degree"  # the part with the largest |z|
    assert [w for w, _ in shift.history] == ["2024-W09", "2024-W10", "2024-W11"]
    assert [v for _, v in shift.history] == [2.0, 2.0, 3.0]  # in-degree of 10.0.0.2
    assert shift.chart is not None
    assert r.novelty_chart is not None and "8 new for their pair" in r.novelty_chart.alt.replace(
        ",", ""
    )
    assert len(r.all_charts()) >= 5
    assert default_window(store) == "2024-W11"


def test_first_window_has_no_baseline(store, graph) -> None:  # type: ignore[no-untyped-def]
    r = build_report(store, "2024-W09", Settings.from_env(), charts=False)
    assert r.baseline == [] and r.previous is None
    assert r.new_edges == [] and r.new_edges_total == 0
    assert any("first window" in n for n in r.notes)
    # nothing analysed: the ranking says so and how to get it
    assert r.ranking is not None and not r.ranking.top
    assert "graphnet analyse --window 2024-W09" in r.ranking.headline()


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    _chromium() is None, reason="chromium is not installed (apt-get install -y chromium)"
)
def test_html_renders_in_headless_chromium(store, graph, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from matplotlib import image

    save_findings(store)
    r = build_report(
        store, "2024-W11", Settings.from_env(), baseline_windows=2, browser_url=BROWSER
    )
    paths = write_report(r, tmp_path / "out")
    shot = tmp_path / "shot.png"
    exe = _chromium()
    assert exe is not None
    proc = subprocess.run(
        [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1280,2000",
            paths["html"].resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    pixels = image.imread(str(shot))
    assert pixels.shape[0] >= 1000 and pixels.shape[1] >= 1000
    rgb = pixels[..., :3]
    assert float(rgb.std()) > 0.05  # not a blank page
    assert (rgb.mean(axis=2) < 0.5).mean() > 0.01  # there is dark text
    colours = {tuple(p) for p in (rgb[::7, ::7].reshape(-1, 3) * 255).astype(int).tolist()}
    assert len(colours) > 50  # text, tables and charts, not a flat error page


def test_volume_anomalies_get_their_stored_time_chart(store, graph, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from graphnet import pipeline
    from graphnet.detectors import volume

    settings = Settings.from_env()
    # what `graphnet analyse --window 2024-W11 --only volume` does: the step's findings are
    # saved and the time charts of its top findings stored
    done = pipeline.analyse_window(store, settings, "2024-W11", pipeline.select(["volume"]))
    assert [o.status for o in done.outcomes] == ["ok"], done.outcomes
    run = done.runs["volume"]
    assert run.findings, run.summary
    stored = volume.stored_series(Archive(settings), "2024-W11")
    assert stored is not None
    hostile = Finding(
        kind="volume_anomaly",
        window="2024-W11",
        score=0.5,  # below the step's findings: listed after them
        hosts=[XSS],
        explanation=f"{XSS} had 8 connections",
        evidence={"entity": "host", "direction": "high"},
        discriminator="host:hostile",
        detector="volume",
    )
    findings.save(store, [hostile])
    r = build_report(store, "2024-W11", settings, baseline_windows=2)
    entities = [volume.finding_entity(f) for f in run.findings][: len(r.volume) - 1]
    assert [v.host for v in r.volume] == [*entities, XSS]
    first = r.volume[0]
    rows = stored[stored["entity"] == first.host]
    # the stored series, not a refit: the same buckets, flows and band
    assert first.series is not None and first.buckets == len(rows) == 7 * 24 * 12
    np.testing.assert_array_equal(first.series["flows"].to_numpy(), rows["flows"].to_numpy())
    np.testing.assert_array_equal(first.series["band_hi"].to_numpy(), rows["band_hi"].to_numpy())
    assert first.buckets_out == int(rows["flagged"].fillna(False).sum()) >= 1
    assert first.max_flows == float(rows["flows"].max())
    assert first.chart is not None and first.chart.png.startswith(b"\x89PNG")
    last = r.volume[-1]  # no time chart stored for it: a note says how to get one
    assert last.chart is None and last.series is None
    assert (
        last.note == "no time chart stored: run `graphnet analyse --window 2024-W11 --only volume`"
    )
    paths = write_report(r, tmp_path)
    page = paths["html"].read_text()
    assert "Volume anomalies" in page and XSS not in page
    data = json.loads(paths["json"].read_text())
    assert data["volume"][0]["buckets"] == first.buckets and "series" not in data["volume"][0]


def test_volume_anomaly_without_stored_series_leaves_a_note(store, graph) -> None:  # type: ignore[no-untyped-def]
    findings.save(
        store,
        [
            Finding(
                kind="volume_anomaly",
                window="2024-W11",
                score=9.0,
                hosts=["10.0.0.1", "10.0.0.2"],
                explanation="spike",
                evidence={"entity": "edge"},
                detector="volume",
            )
        ],
    )
    r = build_report(store, "2024-W11", Settings.from_env(), baseline_windows=2)
    item = r.volume[0]
    assert item.host == "10.0.0.1->10.0.0.2"
    assert item.chart is None and item.series is None
    assert item.note == (
        "no time chart stored: run `graphnet analyse --window 2024-W11 --only volume`"
    )


def test_app_log_sections_from_the_analysed_window(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Generated conn, dns and http logs ingested and analysed by the three app-log steps: the
    report's DNS, HTTP and tunnelling sections show the stored findings, the plants first,
    the user agent of the beacon read back from the archive."""
    import ipaddress

    from graphnet import pipeline
    from graphnet.detectors.applogs import STEPS
    from graphnet.generate import GenerateOptions, generate
    from graphnet.reports.applogs import APP_RECORDS, APP_TOP

    logs = tmp_path / "logs"
    generate(
        logs,
        GenerateOptions(
            weeks=2,
            hosts=60,
            scale=3000,
            seed=1,
            app_logs=True,
            scenarios=("dns_tunnel", "dga", "ua_beacon"),
        ),
    )
    plants = {s["type"]: s for s in json.loads((logs / "truth.json").read_text())["scenarios"]}
    window = plants["dns_tunnel"]["window"]
    settings = Settings.from_env()
    assert not ingest.ingest(store, sorted(logs.rglob("*.log.gz")), settings).failed
    done = pipeline.analyse_window(store, settings, window, list(STEPS))
    assert [o.status for o in done.outcomes] == ["ok", "ok", "ok"], done.to_json()

    r = build_report(store, window, settings, baseline_windows=2, browser_url=BROWSER)
    stored = {
        k: findings.load(store, window=window, kind=k)
        for k in ("suspicious_dns", "suspicious_http", "dns_tunnel")
    }
    assert r.dns_clients_total == len(stored["suspicious_dns"]) > 0
    assert r.http_clients_total == len(stored["suspicious_http"]) > 0
    assert r.dns_tunnels_total == len(stored["dns_tunnel"]) > 0
    assert len(r.dns_clients) == min(APP_TOP, r.dns_clients_total)

    def internal(host: str) -> bool:
        return ipaddress.ip_address(host).is_private

    # DNS tunnelling: the planted domain first, its client first, as stored
    tunnel = stored["dns_tunnel"][0]
    t = r.dns_tunnels[0]
    attacker = plants["dns_tunnel"]["hosts"]["attacker"]
    assert t.domain == plants["dns_tunnel"]["details"]["domain"] == tunnel.evidence["domain"]
    assert (t.subdomains, t.threshold) == (
        tunnel.parts["subdomains"],
        pytest.approx(tunnel.parts["threshold"]),
    )
    assert t.clients[0].host == attacker and t.clients[0].internal is internal(attacker)
    assert t.clients[0].subdomains == tunnel.evidence["per_client"][attacker]
    assert t.examples and all(x.endswith("." + t.domain) for x in t.examples)

    # suspicious DNS: both DNS plants among the worst clients, each with its worst names
    by_host = {c.host: c for c in r.dns_clients}
    for plant in ("dns_tunnel", "dga"):
        c = by_host[plants[plant]["hosts"]["attacker"]]
        f = next(x for x in stored["suspicious_dns"] if x.hosts[0] == c.host)
        assert [x.name for x in c.records] == f.evidence["examples"][:APP_RECORDS]
        assert c.worst == f.evidence["examples"][0]
        assert c.below == f.parts["suspicious_queries"] and c.domains == f.evidence["domains"]
        assert all(x.detail and x.domain for x in c.records)

    # suspicious HTTP: the beacon's requests with the planted host and user agent (read back
    # from the archive's http records)
    beacon = next(c for c in r.http_clients if c.host == plants["ua_beacon"]["hosts"]["attacker"])
    first = beacon.records[0]
    assert first.agent == plants["ua_beacon"]["details"]["user_agent"]
    assert first.domain == plants["ua_beacon"]["details"]["host"]
    assert first.detail == "POST 200" and first.name.startswith("/")

    paths = write_report(r, tmp_path / "out")
    page = paths["html"].read_text()
    text = paths["markdown"].read_text()
    data = json.loads(paths["json"].read_text())
    for section in ("dns", "http", "tunnel"):
        assert f'<section id="{section}">' in page
    for title in (
        "## Suspicious DNS queries, by client",
        "## Suspicious web requests, by client",
        "## DNS tunnelling, by registered domain",
    ):
        assert title in text
    assert data["dns_tunnels"][0]["domain"] == t.domain
    assert data["http_clients_total"] == r.http_clients_total
