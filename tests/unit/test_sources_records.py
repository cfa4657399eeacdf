"""Zeek dns.log and http.log readers: hand-written fixtures per layout quirk, property
round-trips (TSV and JSON) against a small oracle, and the real logs in shared/data."""

from __future__ import annotations

import gzip
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphnet.errors import InputError
from graphnet.sources import DNS_COLUMNS, HTTP_COLUMNS, Reject, detect, read

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("GRAPHNET_SHARED_DATA", REPO.parent / "shared" / "data"))

DNS_FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto",
              "trans_id", "query", "qtype_name", "rcode_name", "answers", "TTLs", "rejected"]
HTTP_FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "trans_depth",
               "method", "host", "uri", "referrer", "user_agent", "request_body_len",
               "response_body_len", "status_code", "resp_mime_types"]


def header(fields: list[str], path: str, set_sep: str = ",") -> str:
    return "\n".join([
        "#separator \\x09", f"#set_separator\t{set_sep}", "#empty_field\t(empty)",
        "#unset_field\t-", f"#path\t{path}", "#open\t2024-04-19-01-00-00",
        "#fields\t" + "\t".join(fields), "#types\t" + "\t".join("string" for _ in fields),
    ]) + "\n"


def row(*values: object) -> str:
    return "\t".join(str(v) for v in values) + "\n"


def write(tmp: Path, text: str, name: str = "x.log") -> Path:
    p = tmp / name
    data = text.encode()
    p.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return p


def tables(path: Path) -> tuple[dict[str, pd.DataFrame], list[Reject], int, int]:
    """(table -> frame, rejects, skipped, connections) of a file."""
    out: dict[str, list[pd.DataFrame]] = {}
    rejects: list[Reject] = []
    skipped = conns = 0
    for c in read(path):
        for k, v in c.tables.items():
            out.setdefault(k, []).append(v)
        rejects += c.rejects
        skipped += c.skipped
        conns += len(c.frame)
    frames = {k: pd.concat(v, ignore_index=True) for k, v in out.items()}
    return frames, rejects, skipped, conns


# --------------------------------------------------------------------------- TSV fixtures

def test_tsv_dns_quirks(tmp_path: Path) -> None:
    text = header(DNS_FIELDS, "dns", set_sep="|")
    text += row(1.7e9, "C1", "10.0.0.1", 5353, "10.0.0.2", 53, "udp", 1, "a.example.org", "A",
                "NOERROR", "1.2.3.4|5.6.7.8", "60.0|60.0", "F")
    text += row(1.7e9 + 1, "C2", "10.0.0.1", 5354, "10.0.0.2", 53, "UDP", 2, "-", "-", "-",
                "-", "-", "-")  # unset everywhere: query null, categorical "-"
    text += row(1.7e9 + 2, "C3", "10.0.0.1", 5355, "10.0.0.2", 53, "tcp", 3, "(empty)",
                "TXT", "NXDOMAIN", "(empty)", "(empty)", "T")  # empty: "" (not null)
    text += row(1.7e9 + 3, "C4", "10.0.0.1", 5356, "10.0.0.2", 53, "udp", 4, "b.org", "A",
                "NOERROR", "-", "-", "maybe")  # a reject
    text += row(1.7e9 + 4, "C5", "10.0.0.1", 99999, "10.0.0.2", 53, "udp", 5, "c.org", "A",
                "NOERROR", "-", "-", "F")  # a reject
    text += row(1.7e9 + 5, "C6", "10.0.0.1", 1)  # wrong field count
    p = write(tmp_path, text, "dns.log")
    found = detect(p)
    assert found.format == "zeek" and found.tables == ("dns",) and not found.is_conn
    got, rejects, skipped, conns = tables(p)
    assert (conns, skipped) == (0, 0)
    assert [(r.line, r.reason) for r in rejects] == [
        (12, "bad boolean 'maybe' in rejected"), (13, "bad port '99999' in id.orig_p"),
        (14, "expected 14 fields, got 4")]
    assert all(r.path == str(p) for r in rejects)
    dns = got["dns"]
    assert list(dns.columns) == list(DNS_COLUMNS)
    assert dns.line.tolist() == [9, 10, 11]
    assert dns["query"].tolist()[0] == "a.example.org" and pd.isna(dns["query"][1])
    assert dns["query"][2] == ""
    assert dns.answers[0] == "1.2.3.4,5.6.7.8" and pd.isna(dns.answers[1]) \
        and dns.answers[2] == ""
    assert dns.rejected.tolist() == [False, None, True] or \
        [None if pd.isna(v) else bool(v) for v in dns.rejected] == [False, None, True]
    assert dns.qtype_name.tolist() == ["A", "-", "TXT"]
    assert dns.rcode_name.tolist() == ["NOERROR", "-", "NXDOMAIN"]
    assert dns.proto.tolist() == ["udp", "udp", "tcp"]
    assert dns.sensor.isna().all()
    assert str(dns.sport.dtype) == "int32" and str(dns.line.dtype) == "int64"


def test_tsv_http_old_bro_layout_and_node_name(tmp_path: Path) -> None:
    # Bro 2.1: one `mime_type` string instead of resp_mime_types, no referrer, a cluster
    # node name; a status code may be unset
    fields = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "trans_depth",
              "method", "host", "uri", "user_agent", "request_body_len", "response_body_len",
              "status_code", "mime_type", "_node_name"]
    text = header(fields, "http")
    text += row(1.3e9, "C1", "10.0.0.1", 4000, "10.0.0.9", 80, 1, "GET", "a.org", "/x?y=1",
                "Mozilla/5.0 (X11)", 0, 1200, 200, "text/html", "worker-1")
    text += row(1.3e9 + 1, "C2", "10.0.0.1", 4001, "10.0.0.9", 80, 1, "POST", "-", "/",
                "-", "-", "-", "-", "-", "-")
    text += row(1.3e9 + 2, "C3", "10.0.0.1", 4002, "10.0.0.9", 80, 1, "GET", "a.org", "/",
                "curl", 0, 0, "2x0", "-", "worker-2")
    text += row(1.3e9 + 3, "C4", "10.0.0.1", 4003, "10.0.0.9", 80, 1, "GET", "a.org", "/",
                "curl", -5, 0, 200, "-", "worker-2")
    p = write(tmp_path, text, "http.log.gz")
    assert detect(p).tables == ("http",)
    got, rejects, _, _ = tables(p)
    assert [(r.line, r.reason) for r in rejects] == [
        (11, "bad number '2x0' in status_code"), (12, "bad number '-5' in request_body_len")]
    http = got["http"]
    assert list(http.columns) == list(HTTP_COLUMNS)
    assert http.method.tolist() == ["GET", "POST"]
    assert http.status_code.tolist() == [200, -1] and str(http.status_code.dtype) == "int32"
    assert http.resp_mime_types[0] == "text/html" and http.resp_mime_types[1] == "-"
    assert http.response_body_len[0] == 1200.0 and math.isnan(http.response_body_len[1])
    assert http.host[1] == "-" and http.referrer[0] == "-" and http.user_agent[1] == "-"
    assert http.sensor[0] == "worker-1" and pd.isna(http.sensor[1])


def test_tsv_conn_node_name_is_the_sensor(tmp_path: Path) -> None:
    fields = ["_node_name", "ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p",
              "proto", "conn_state"]
    text = header(fields, "conn") + row("sensor-a", 1.7e9, "C1", "10.0.0.1", 1, "10.0.0.2", 2,
                                        "tcp", "SF")
    text += row("-", 1.7e9, "C2", "10.0.0.1", 1, "10.0.0.2", 2, "tcp", "SF")
    frame = pd.concat([c.frame for c in read(write(tmp_path, text))])
    assert frame.sensor.iloc[0] == "sensor-a" and pd.isna(frame.sensor.iloc[1])


def test_tsv_paths_switch_inside_one_file(tmp_path: Path) -> None:
    text = header(["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto",
                   "conn_state"], "conn")
    text += row(1.7e9, "C1", "10.0.0.1", 1, "10.0.0.2", 53, "udp", "SF")
    text += header(DNS_FIELDS, "dns")
    text += row(1.7e9, "C1", "10.0.0.1", 1, "10.0.0.2", 53, "udp", 7, "q.org", "A", "NOERROR",
                "1.1.1.1", "5.0", "F")
    text += header(["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p",
                    "server_name"], "ssl")
    text += row(1.7e9, "C9", "10.0.0.1", 1, "10.0.0.2", 443, "s.org")
    text += header(HTTP_FIELDS, "http")
    text += row(1.7e9, "C8", "10.0.0.1", 2, "10.0.0.3", 80, 1, "GET", "h.org", "/", "-", "ua",
                0, 10, 404, "(empty)")
    got, rejects, skipped, conns = tables(write(tmp_path, text))
    assert (conns, skipped, rejects) == (1, 1, [])
    assert got["dns"]["query"].tolist() == ["q.org"]
    assert got["http"].status_code.tolist() == [404]
    assert got["http"].resp_mime_types.tolist() == [""]


# --------------------------------------------------------------------------- JSON fixtures

def test_json_dns_and_http_keys_lists_and_rejects(tmp_path: Path) -> None:
    lines = [
        # dotted keys, a cluster node
        {"_path": "dns", "ts": 1.7e9, "uid": "C1", "id.orig_h": "10.0.0.1", "id.orig_p": 5000,
         "id.resp_h": "10.0.0.2", "id.resp_p": 53, "proto": "udp", "query": "a.org",
         "qtype_name": "AAAA", "rcode_name": "NOERROR", "answers": ["::1", "::2"],
         "TTLs": [1.0, 1.0], "rejected": False, "_node_name": "n1"},
        # underscore keys, ISO time would be another file: an empty answer list, no rejected
        {"_path": "dns", "ts": 1.7e9 + 1, "uid": "C2", "id_orig_h": "10.0.0.1",
         "id_orig_p": 5001, "id_resp_h": "10.0.0.2", "id_resp_p": 53, "proto": "udp",
         "query": "b.org", "answers": []},
        # a shipper writing one answer as a string: read line by line
        {"_path": "dns", "ts": 1.7e9 + 2, "uid": "C3", "id.orig_h": "10.0.0.1",
         "id.orig_p": 5002, "id.resp_h": "10.0.0.2", "id.resp_p": 53, "query": "c.org",
         "answers": "9.9.9.9"},
        {"_path": "http", "ts": 1.7e9 + 3, "uid": "C4", "id.orig_h": "10.0.0.1",
         "id.orig_p": 6000, "id.resp_h": "10.0.0.3", "id.resp_p": 80, "method": "GET",
         "host": "h.org", "uri": "/a", "user_agent": "ua/1", "request_body_len": 0,
         "response_body_len": 5, "status_code": 200, "resp_mime_types": ["text/plain"],
         "@system": "sensor-b"},
        {"_path": "http", "ts": 1.7e9 + 4, "uid": "C5", "id.orig_h": "10.0.0.1",
         "id.orig_p": 6001, "id.resp_h": "10.0.0.3", "id.resp_p": 80, "method": "GET",
         "status_code": 3.5},  # a reject
        {"_path": "dns", "ts": 1.7e9 + 5, "uid": "C6", "id.orig_h": "nope", "id.orig_p": 1,
         "id.resp_h": "10.0.0.2", "id.resp_p": 53, "query": "d.org"},  # a reject
        {"_path": "ssl", "ts": 1.7e9, "uid": "C7", "id.orig_h": "10.0.0.1"},  # skipped
    ]
    text = "\n".join(json.dumps(x) for x in lines) + '\n{"_path": "dns", broken\n'
    p = write(tmp_path, text, "mixed.json")
    assert detect(p).tables == ("dns", "http")
    got, rejects, skipped, conns = tables(p)
    assert (conns, skipped) == (0, 1)
    assert [(r.line, r.reason) for r in rejects] == [
        (5, "bad status code '3.5' in status_code"), (6, "bad address 'nope' in id.orig_h"),
        (8, "invalid JSON (Expecting property name enclosed in double quotes at column 18)")]
    dns, http = got["dns"], got["http"]
    assert dns["query"].tolist() == ["a.org", "b.org", "c.org"]
    assert dns.answers.tolist() == ["::1,::2", "", "9.9.9.9"]
    assert dns.qtype_name.tolist() == ["AAAA", "-", "-"]
    assert dns.proto.tolist() == ["udp", "udp", "-"]
    assert [None if pd.isna(v) else bool(v) for v in dns.rejected] == [False, None, None]
    assert dns.sensor[0] == "n1" and pd.isna(dns.sensor[1])
    assert http.line.tolist() == [4]
    assert http.resp_mime_types[0] == "text/plain" and http.sensor[0] == "sensor-b"
    assert http.status_code[0] == 200 and http.referrer[0] == "-"


def test_json_without_stream_keys_by_fields(tmp_path: Path) -> None:
    lines = [{"ts": 1.7e9, "uid": "C1", "id.orig_h": "10.0.0.1", "id.orig_p": 1,
              "id.resp_h": "10.0.0.2", "id.resp_p": 53, "query": "a.org", "qtype_name": "A"},
             {"ts": 1.7e9, "uid": "C2", "id.orig_h": "10.0.0.1", "id.orig_p": 1,
              "id.resp_h": "10.0.0.2", "id.resp_p": 80, "method": "GET", "uri": "/"}]
    p = write(tmp_path, "\n".join(json.dumps(x) for x in lines) + "\n", "x.json.gz")
    found = detect(p)
    assert found.tables == ("dns", "http") and not found.is_conn
    got, rejects, skipped, _ = tables(p)
    assert rejects == [] and skipped == 0
    assert got["dns"].uid.tolist() == ["C1"] and got["http"].uid.tolist() == ["C2"]


def test_not_a_log_graphnet_reads(tmp_path: Path) -> None:
    p = write(tmp_path, header(["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h",
                                "id.resp_p", "fuid"], "files") + row(1, "C", "1.1.1.1", 1,
                                                                      "1.1.1.1", 1, "F"))
    assert not detect(p).readable
    with pytest.raises(InputError, match="not a conn, dns or http log"):
        read(p)


# --------------------------------------------------------------------------- round trips

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
text_value = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-_/?=&;: ()",
                     min_size=1, max_size=20).filter(lambda s: s not in ("-", "(empty)"))
maybe_text = st.one_of(st.none(), st.just(""), text_value)
name = st.sampled_from(["A", "AAAA", "TXT", "MX", "NOERROR", "NXDOMAIN", "GET", "POST"])
dns_record = st.fixed_dictionaries({
    "ts": st.integers(10**15, 2 * 10**15), "uid": st.text("CDEFabc123", min_size=3, max_size=8),
    "src": st.ip_addresses().map(str), "sport": st.integers(0, 65535),
    "dst": st.ip_addresses().map(str), "dport": st.integers(0, 65535),
    "proto": st.sampled_from(["udp", "tcp"]), "query": maybe_text,
    "qtype_name": st.one_of(st.none(), name), "rcode_name": st.one_of(st.none(), name),
    "answers": st.one_of(st.none(), st.lists(text_value.filter(lambda s: "," not in s),
                                             max_size=3)),
    "rejected": st.one_of(st.none(), st.booleans()), "sensor": st.one_of(st.none(), text_value),
})


def _oracle(records: list[dict[str, Any]]) -> pd.DataFrame:
    """What the reader must give: the pandas form of the documented rules."""
    rows = []
    for r in records:
        rows.append({
            "ts": r["ts"] / 1e6, "uid": r["uid"], "src": r["src"], "sport": r["sport"],
            "dst": r["dst"], "dport": r["dport"], "proto": r["proto"], "query": r["query"],
            "qtype_name": r["qtype_name"] or "-", "rcode_name": r["rcode_name"] or "-",
            "answers": None if r["answers"] is None else ",".join(r["answers"]),
            "rejected": r["rejected"], "sensor": r["sensor"],
        })
    return pd.DataFrame(rows)


def _same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert len(got) == len(want)
    for c in want.columns:
        for i, (a, b) in enumerate(zip(got[c].tolist(), want[c].tolist(), strict=True)):
            if b is None or (isinstance(b, float) and math.isnan(b)):
                assert a is None or pd.isna(a), (c, i, a)
            elif c == "ts":
                assert abs(a - b) < 1e-6, (c, i, a, b)
            else:
                assert a == b, (c, i, a, b)


def _tsv_value(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "T" if v else "F"
    if isinstance(v, list):
        return "|".join(v) if v else "(empty)"
    return "(empty)" if v == "" else str(v)


@SETTINGS
@given(records=st.lists(dns_record, min_size=1, max_size=20))
def test_dns_tsv_roundtrip(records: list[dict[str, Any]]) -> None:
    fields = ["_node_name", *DNS_FIELDS]
    text = header(fields, "dns", set_sep="|")
    for r in records:
        text += row(*[_tsv_value(v) for v in (
            r["sensor"], f"{r['ts'] // 10**6}.{r['ts'] % 10**6:06d}", r["uid"], r["src"],
            r["sport"], r["dst"], r["dport"], r["proto"], 1, r["query"], r["qtype_name"],
            r["rcode_name"], r["answers"], None, r["rejected"])])
    with tempfile.TemporaryDirectory() as tmp:
        got, rejects, skipped, _ = tables(write(Path(tmp), text, "dns.log"))
    assert rejects == [] and skipped == 0
    _same(got["dns"], _oracle(records))


@SETTINGS
@given(records=st.lists(dns_record, min_size=1, max_size=20), underscore=st.booleans(),
       noise=st.lists(st.integers(0, 20), max_size=4))
def test_dns_json_roundtrip(records: list[dict[str, Any]], underscore: bool,
                            noise: list[int]) -> None:
    lines = []
    for r in records:
        d: dict[str, Any] = {
            "_path": "dns", "ts": r["ts"] / 1e6, "uid": r["uid"], "id.orig_h": r["src"],
            "id.orig_p": r["sport"], "id.resp_h": r["dst"], "id.resp_p": r["dport"],
            "proto": r["proto"], "query": r["query"], "qtype_name": r["qtype_name"],
            "rcode_name": r["rcode_name"], "answers": r["answers"], "rejected": r["rejected"],
            "_node_name": r["sensor"]}
        if underscore:
            d = {k.replace(".", "_"): v for k, v in d.items()}
        lines.append(json.dumps({k: v for k, v in d.items() if v is not None}))
    for pos in sorted(noise, reverse=True):
        lines.insert(min(pos, len(lines)), json.dumps({"_path": "ssl", "ts": 1.0}))
    with tempfile.TemporaryDirectory() as tmp:
        got, rejects, skipped, _ = tables(write(Path(tmp), "\n".join(lines) + "\n", "d.json"))
    assert rejects == [] and skipped == len(noise)
    _same(got["dns"], _oracle(records))


# --------------------------------------------------------------------------- real logs

def _need(rel: str) -> Path:
    p = DATA / rel
    if not p.exists():
        pytest.skip(f"shared data not available: {p} (set GRAPHNET_SHARED_DATA)")
    return p


@pytest.mark.shared_data
def test_rita_dns_and_http_logs() -> None:
    root = _need("zeek/rita/open_conns")
    got, rejects, skipped, conns = tables(root / "open" / "dns.log")
    assert (len(got["dns"]), rejects, skipped, conns) == (34, [], 0, 0)
    dns = got["dns"]
    # the DNS tunnel of RITA's sample: 24 TXT queries under one domain, 10 A queries
    tunnel = dns["query"].str.endswith(".dnsc.r-1x.com")
    assert tunnel.sum() == 24 and set(dns.qtype_name[tunnel]) == {"TXT"}
    assert dns.answers[tunnel].str.startswith("TXT ").all()
    assert set(dns.qtype_name[~tunnel]) == {"A"}
    for sub, n in (("open", 10), ("closed", 20)):
        got, rejects, skipped, _ = tables(root / sub / "http.log")
        assert (len(got["http"]), rejects, skipped) == (n, [], 0)
        http = got["http"]
        assert set(http.method) <= {"GET", "POST", "HEAD", "CONNECT", "OPTIONS"}
        assert (http.status_code > 0).all() and http.host.notna().all()
