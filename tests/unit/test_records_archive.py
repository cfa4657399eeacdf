"""The dns / http record archives behind the archive door, the one-copy-per-sensor rule (against
a pandas oracle) and the RESOLVED / REQUESTED rows the engine aggregates — no database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphnet import bulk_ingest, record_graph, windows
from graphnet.archive import SENSOR_TOLERANCE, Archive
from graphnet.config import Settings
from graphnet.ingest import host_classifier
from graphnet.sources import ARROW_TYPES, BASE_COLUMNS, DNS_COLUMNS, HTTP_COLUMNS

MON = 1709510400.0  # 2024-03-04 00:00 UTC, a Monday (2024-W10)


def typed(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    rows = [{"line": i + 1, **r} for i, r in enumerate(rows)]
    return pa.table({c: pa.array([r.get(c) for r in rows], type=ARROW_TYPES[c])
                     for c in columns}).to_pandas()


def put(archive: Archive, sha: str, frame: pd.DataFrame, *, commit: bool = True) -> list[str]:
    w = archive.writer(sha)
    w.write(frame, windows.window_ids(frame["ts"].to_numpy(dtype="float64")).to_numpy())
    wins = w.finish()
    if commit:
        archive.commit(sha, wins)
    return wins


def dns(i: int, **kw: Any) -> dict[str, Any]:
    base = {"ts": MON + 3600 + i, "uid": f"D{i}", "src": "10.0.0.1", "sport": 40000 + i,
            "dst": "10.0.0.53", "dport": 53, "proto": "udp", "query": f"h{i}.example.com",
            "qtype_name": "A", "rcode_name": "NOERROR", "answers": "1.2.3.4",
            "rejected": False, "sensor": None}
    return {**base, **kw}


def conns_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    base = {"proto": "tcp", "service": "-", "conn_state": "SF", "history": "-"}
    return typed([{**base, **r} for r in rows], (*BASE_COLUMNS, "sensor"))


def test_record_archive_is_written_committed_and_bound(tmp_path: Path) -> None:
    archive = Archive(Settings(home=tmp_path))
    recs = archive.records("dns")
    assert recs.root == archive.root / "dns"
    frame = typed([dns(i) for i in range(5)], DNS_COLUMNS)
    put(recs, "a" * 64, frame, commit=False)
    assert recs.windows() == []  # written, not committed: never read
    assert len(archive.record_frame("dns", ["2024-W10"])) == 0
    put(recs, "a" * 64, frame)
    assert recs.windows() == ["2024-W10"] and archive.windows() == []
    got = archive.record_frame("dns", ["2024-W10"])
    assert list(got.columns) == ["win", *DNS_COLUMNS]
    assert got["query"].tolist() == [f"h{i}.example.com" for i in range(5)]
    # the same file content archived again (another file holding the same records): once
    put(recs, "b" * 64, frame)
    assert len(archive.record_frame("dns", ["2024-W10"])) == 5
    # bound in a session beside the connections, by name
    with archive.session({}, records={"dns": ("dns", ["2024-W10"])}) as s:
        assert s.rows("SELECT COUNT(*), COUNT(DISTINCT query) FROM dns") == [(5, 5)]


def test_http_records_with_missing_columns_read_as_null(tmp_path: Path) -> None:
    archive = Archive(Settings(home=tmp_path))
    rows = [{"ts": MON + 10, "uid": "H1", "src": "10.0.0.1", "sport": 1, "dst": "10.0.0.9",
             "dport": 80, "method": "GET", "host": "a.org", "uri": "/", "status_code": 200}]
    frame = typed(rows, HTTP_COLUMNS).drop(columns=["referrer", "sensor"])
    put(archive.records("http"), "c" * 64, frame)
    got = archive.record_frame("http", ["2024-W10"])
    assert got.referrer.isna().all() and got.sensor.isna().all()  # not in the file: NULL
    assert got.status_code.tolist() == [200]


def test_two_sensors_count_a_connection_once(tmp_path: Path) -> None:
    archive = Archive(Settings(home=tmp_path))
    base = [{"ts": MON + 100 + 10 * i, "uid": f"A{i}", "src": "10.0.0.1", "sport": 1000 + i,
             "dst": "10.0.0.2", "dport": 443} for i in range(20)]
    a = conns_frame([{**r, "sensor": "s-a"} for r in base])
    # sensor b saw the same connections 0.4 s later with its own uids, and two of its own
    b_rows = [{**r, "ts": r["ts"] + 0.4, "uid": f"B{i}", "sensor": "s-b"}
              for i, r in enumerate(base)]
    b_rows += [{**base[0], "ts": MON + 500, "uid": "B-own1", "sensor": "s-b"},
               {**base[1], "ts": base[1]["ts"] + 3.0, "uid": "B-own2", "sensor": "s-b"}]
    put(archive, "1" * 64, a)
    put(archive, "2" * 64, conns_frame(b_rows))
    got = archive.query("volume_span", {"conns": ["2024-W10"]}).to_pylist()[0]
    assert got["n"] == 22
    with archive.session({"conns": ["2024-W10"]}) as s:
        kept = {u for (u,) in s.rows("SELECT uid FROM conns")}
    assert kept == {f"A{i}" for i in range(20)} | {"B-own1", "B-own2"}


def test_one_file_of_two_sensors_counts_a_connection_once(tmp_path: Path) -> None:
    # a shipper merged both sensors' logs into one file: the rule still applies
    archive = Archive(Settings(home=tmp_path))
    base = [{"ts": MON + 100 + 10 * i, "uid": f"A{i}", "src": "10.0.0.1", "sport": 1000 + i,
             "dst": "10.0.0.2", "dport": 443, "sensor": "s-a"} for i in range(10)]
    copies = [{**r, "ts": r["ts"] + 0.2, "uid": f"B{i}", "sensor": "s-b"}
              for i, r in enumerate(base)]
    put(archive, "1" * 64, conns_frame(base + copies))
    assert archive.several_sensors(["2024-W10"]) == ["2024-W10"]
    with archive.session({"conns": ["2024-W10"]}) as s:
        assert {u for (u,) in s.rows("SELECT uid FROM conns")} == {f"A{i}" for i in range(10)}


def test_talked_rows_of_a_window_two_sensors_logged(tmp_path: Path) -> None:
    archive = Archive(Settings(home=tmp_path))
    base = [{"ts": MON + 100 + 10 * i, "uid": f"A{i}", "src": "10.0.0.1", "sport": 1000 + i,
             "dst": "10.0.0.2" if i % 4 else "10.0.0.3", "dport": 443 if i % 2 else 22,
             "service": "ssl" if i % 2 else "ssh", "src_bytes": 10.0 * i, "sensor": "s-a"}
            for i in range(20)]
    copies = [{**r, "ts": r["ts"] + 0.4, "uid": f"B{i}", "sensor": "s-b"}
              for i, r in enumerate(base)]
    put(archive, "1" * 64, conns_frame(base))
    assert archive.several_sensors(["2024-W10"]) == []
    # the other sensor's file, written and not committed yet: ingest's view while loading it
    put(archive, "2" * 64, conns_frame(copies), commit=False)
    assert archive.several_sensors(["2024-W10"]) == []
    assert archive.several_sensors(["2024-W10"], ["2" * 64]) == ["2024-W10"]
    rows = list(bulk_ingest.window_edge_rows(archive, ["2024-W10"], ["2" * 64], top=32))
    got = {(r["src"], r["dst"]): r for r in rows}
    frame = pd.DataFrame(base)  # the oracle: each connection once, as sensor s-a logged it
    for (src, dst), part in frame.groupby(["src", "dst"]):
        props = got[(src, dst)]["props"]
        assert props["conns"] == len(part)
        assert props["src_bytes"] == part["src_bytes"].sum()
        assert props["sensors"] == f"s-a {len(part)}, s-b {len(part)}"  # every copy
        counts = part["dport"].astype(str).value_counts()
        assert dict(zip(props["dport_k"], props["dport_n"], strict=True)) == counts.to_dict()
        assert "sensor_k" not in props and "sensor_distinct" not in props
        assert got[(src, dst)]["first_ms"] == round(part["ts"].min() * 1000)
    assert set(got) == {("10.0.0.1", "10.0.0.2"), ("10.0.0.1", "10.0.0.3")}


def _oracle(frame: pd.DataFrame) -> set[str]:
    """The documented rule in pandas: a record is dropped when a record of a sensor sorting
    before its own has the same 5-tuple and starts within the tolerance."""
    keep = set()
    for r in frame.itertuples():
        twins = frame[(frame.src == r.src) & (frame.sport == r.sport) & (frame.dst == r.dst)
                      & (frame.dport == r.dport) & (frame.proto == r.proto)
                      & frame.sensor.notna() & (frame.sensor < (r.sensor or ""))
                      & ((frame.ts - r.ts).abs() <= SENSOR_TOLERANCE)]
        if r.sensor is None or twins.empty:
            keep.add(r.uid)
    return keep


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 40), st.sampled_from(
    ["s1", "s2", "s3", None])), min_size=1, max_size=30))
def test_the_sensor_rule_matches_the_oracle(rows: list[tuple[int, int, str | None]]) -> None:
    import tempfile

    frames: dict[str | None, list[dict[str, Any]]] = {}
    for i, (port, tenth, sensor) in enumerate(rows):
        frames.setdefault(sensor, []).append(
            {"ts": MON + tenth / 10.0 * 3, "uid": f"U{i}", "src": "10.0.0.1", "sport": port,
             "dst": "10.0.0.2", "dport": 80, "sensor": sensor})
    everything = conns_frame([r for f in frames.values() for r in f])
    with tempfile.TemporaryDirectory() as tmp:
        archive = Archive(Settings(home=Path(tmp)))
        for j, f in enumerate(frames.values()):
            put(archive, f"{j + 1:x}" * 64, conns_frame(f))
        with archive.session({"conns": ["2024-W10"]}) as s:
            kept = {u for (u,) in s.rows("SELECT uid FROM conns")}
    # one file per sensor: with a single sensor the rule never applies
    want = _oracle(everything) if len({s for s in frames if s}) > 1 else set(everything.uid)
    assert kept == want


def test_resolved_and_requested_rows(tmp_path: Path) -> None:
    archive = Archive(Settings(home=tmp_path))
    rows = [dns(i, query=f"x{i}.tunnel.example.co.uk", qtype_name="TXT") for i in range(30)]
    rows += [dns(100 + i, query="www.example.org") for i in range(5)]
    rows += [dns(200, query="nope.example.org", rcode_name="NXDOMAIN", sensor="s1")]
    rows += [dns(300, query=None)]  # unset names are not counted
    committed = typed(rows[:20], DNS_COLUMNS)
    staged = typed(rows[20:], DNS_COLUMNS)
    put(archive.records("dns"), "d" * 64, committed)
    put(archive.records("dns"), "e" * 64, staged, commit=False)
    classify = host_classifier()
    only = record_graph.resolved_rows(archive, ["2024-W10"], [], classify)
    assert [(r["domain"], r["queries"]) for r in only] == [("example.co.uk", 20)]
    got = {r["domain"]: r for r in record_graph.resolved_rows(archive, ["2024-W10"],
                                                               ["e" * 64], classify)}
    assert set(got) == {"example.co.uk", "example.org"}
    uk, org = got["example.co.uk"], got["example.org"]
    assert (uk["queries"], uk["names"], uk["qtypes"], uk["nxdomain"]) == (30, 30, "TXT 30", 0)
    assert (org["queries"], org["names"], org["nxdomain"]) == (6, 2, 1)
    assert org["rcodes"] == "NOERROR 5, NXDOMAIN 1" and org["sensors"] == "s1 1"
    assert uk["key"] == "8:10.0.0.1|13:example.co.uk|2024-W10"
    assert uk["host"]["internal"] is True
    http = [{"ts": MON + 60 + i, "uid": f"H{i}", "src": "10.0.0.7", "sport": 2000 + i,
             "dst": "203.0.113.9", "dport": 80, "method": "GET" if i % 4 else "POST",
             "host": "a.org" if i % 3 else "b.org", "uri": f"/{i % 2}",
             "user_agent": "rare/1" if i == 0 else "Mozilla/5.0", "request_body_len": 1.0,
             "response_body_len": 10.0, "status_code": 200 if i % 5 else 404}
            for i in range(12)]
    put(archive.records("http"), "f" * 64, typed(http, HTTP_COLUMNS))
    (req,) = record_graph.requested_rows(archive, ["2024-W10"], [], classify)
    assert (req["src"], req["dst"], req["requests"]) == ("10.0.0.7", "203.0.113.9", 12)
    assert req["hosts"] == "a.org 8, b.org 4" and req["hosts_distinct"] == 2
    assert req["user_agents"] == "Mozilla/5.0 11, rare/1 1" and req["agents_distinct"] == 2
    assert req["methods"] == "GET 9, POST 3" and req["statuses"] == "200 9, 404 3"
    assert (req["request_bytes"], req["response_bytes"], req["uris_distinct"]) == (12.0, 120.0, 2)
    assert req["dst_host"]["internal"] is False
    assert np.isclose(req["first_ms"], (MON + 60) * 1000)


def test_dns_records_of_two_sensors_count_once(tmp_path: Path) -> None:
    archive = Archive(Settings(home=tmp_path))
    a = [dns(i, sensor="a") for i in range(10)]
    # sensor b: the same queries 0.2 s later under its own uids; one of its own, and one
    # with the same 5-tuple and time but another name (another question: kept)
    b = [{**r, "ts": r["ts"] + 0.2, "uid": f"B{i}", "sensor": "b"} for i, r in enumerate(a)]
    b += [dns(50, sensor="b"), {**a[0], "uid": "B-other", "query": "other.org", "sensor": "b"}]
    put(archive.records("dns"), "1" * 64, typed(a, DNS_COLUMNS))
    put(archive.records("dns"), "2" * 64, typed(b, DNS_COLUMNS))
    got = archive.record_frame("dns", ["2024-W10"], ["uid", "sensor"])
    assert sorted(got.uid) == sorted([f"D{i}" for i in range(10)] + ["D50", "B-other"])
    rows = record_graph.resolved_rows(archive, ["2024-W10"], [], host_classifier())
    assert {r["domain"]: r["queries"] for r in rows} == {"example.com": 11, "other.org": 1}
