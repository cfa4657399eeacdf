"""Ingest of Zeek dns.log / http.log beside conn.log against a real Neo4j: the ledger, the record
archives, the RESOLVED / REQUESTED summaries, sensors, and a SIGKILL in the middle."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from graphnet import ingest
from graphnet.archive import Archive
from graphnet.config import Settings
from tests.integration.test_ingest import stats, write_log, zeek_line

T0 = 1709542800.0  # 2024-03-04 09:00 UTC (2024-W10)
DNS_FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto",
              "trans_id", "query", "qtype_name", "rcode_name", "answers", "TTLs", "rejected"]
HTTP_FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "trans_depth",
               "method", "host", "uri", "referrer", "user_agent", "request_body_len",
               "response_body_len", "status_code", "resp_mime_types"]


def header(fields: list[str], path: str) -> str:
    return ("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
            f"#path\t{path}\n#fields\t" + "\t".join(fields) + "\n")


def dns_log(path: Path, n: int, src: str = "10.0.0.1", t0: float = T0, tag: str = "q") -> Path:
    rows = []
    for i in range(n):
        query = f"{tag}{i}.tunnel.example.com" if i % 2 else "www.example.org"
        rcode = "NXDOMAIN" if i % 10 == 8 else "NOERROR"
        rows.append("\t".join(map(str, [
            f"{t0 + i:.6f}", f"D{tag}{i:08d}", src, 30000 + i % 30000, "10.0.0.53", 53, "udp",
            i, query, "TXT" if i % 2 else "A", rcode, "1.2.3.4", "60.0", "F"])))
    path.write_text(header(DNS_FIELDS, "dns") + "\n".join(rows) + "\n")
    return path


def http_log(path: Path, n: int) -> Path:
    rows = []
    for i in range(n):
        rows.append("\t".join(map(str, [
            f"{T0 + i:.6f}", f"H{i:08d}", "10.0.0.1", 50000 + i, "10.0.0.80", 80, 1,
            "GET", "a.org" if i % 4 else "b.org", f"/p{i % 3}", "-",
            "curl/8" if i == 0 else "Mozilla/5.0", 0, 100, 200, "text/html"])))
    path.write_text(header(HTTP_FIELDS, "http") + "\n".join(rows) + "\n")
    return path


def test_conn_dns_and_http_files_are_ingested_together(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    logs = tmp_path / "logs"
    logs.mkdir()
    write_log(logs / "conn.log", [zeek_line(i, dst="10.0.0.53", dport=53) for i in range(40)])
    dns_log(logs / "dns.log", 40)
    http_log(logs / "http.log", 12)
    (logs / "ssl.log").write_text(header(["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h",
                                          "id.resp_p", "server_name"], "ssl"))
    settings = Settings.from_env(batch_size=7)
    res = ingest.ingest(store, [logs], settings, sensor="sensor-1")
    by_name = {Path(f.path).name: f for f in res.files}
    assert {k: v.status for k, v in by_name.items()} == {
        "conn.log": "ingested", "dns.log": "ingested", "http.log": "ingested",
        "ssl.log": "skipped"}
    assert by_name["dns.log"].records == {"dns": 40} and by_name["dns.log"].accepted == 0
    assert by_name["http.log"].records == {"http": 12}
    assert stats(store)["connections"] == 40 and stats(store)["files"] == 3
    archive = Archive(settings)
    assert archive.records("dns").windows() == ["2024-W10"]
    dns = archive.record_frame("dns", ["2024-W10"])
    assert len(dns) == 40 and set(dns.sensor) == {"sensor-1"}
    conns = archive.connections(["2024-W10"], ["uid", "sensor"])
    assert set(conns.sensor) == {"sensor-1"}
    got = {r["domain"]: r for r in store.read("resolved_list", window="2024-W10")}
    assert set(got) == {"example.com", "example.org"}
    assert (got["example.com"]["count"], got["example.com"]["names"]) == (20, 20)
    assert got["example.com"]["qtypes"] == "TXT 20"
    assert (got["example.org"]["count"], got["example.org"]["nxdomain"]) == (20, 4)
    assert got["example.org"]["sensors"] == "sensor-1 20"
    (req,) = store.read("requested_list", window="2024-W10")
    assert (req["src"], req["dst"], req["requests"]) == ("10.0.0.1", "10.0.0.80", 12)
    assert req["hosts"] == "a.org 9, b.org 3" and req["user_agents"] == "Mozilla/5.0 11, curl/8 1"
    # again: a no-op
    again = ingest.ingest(store, [logs], settings)
    assert {f.status for f in again.files} == {"already ingested", "skipped"}
    # a later dns file of the same window: the window's summaries are recomputed, not added
    dns_log(tmp_path / "more.log", 10, tag="m")
    ingest.ingest(store, [tmp_path / "more.log"], settings)
    got = {r["domain"]: r for r in store.read("resolved_list", window="2024-W10")}
    assert (got["example.com"]["count"], got["example.com"]["names"]) == (25, 25)
    assert got["example.org"]["count"] == 25
    assert store.read("domain_count")[0]["n"] == 2


def test_a_connection_seen_by_two_sensors_counts_once(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = write_log(tmp_path / "a.log", [zeek_line(i) for i in range(30)])
    # the other sensor: its own uids, the same connections started 0.5 s later
    lines = [zeek_line(i, ts=T0 + 0.5).replace(f"Cuid{i:013d}", f"Xuid{i:013d}")
             for i in range(30)]
    b = write_log(tmp_path / "b.log", lines)
    settings = Settings.from_env()
    ingest.ingest(store, [a], settings, sensor="edge")
    ingest.ingest(store, [b], settings, sensor="core")
    archive = Archive(settings)
    n = archive.query("volume_span", {"conns": ["2024-W10"]}).to_pylist()[0]["n"]
    assert n == 30
    with archive.session({"conns": ["2024-W10"]}) as s:
        assert s.rows("SELECT DISTINCT sensor FROM conns") == [("core",)]  # sorts first


def test_sigkill_with_dns_records_then_a_rerun_is_a_clean_run(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    n = 60000
    logs = tmp_path / "logs"
    logs.mkdir()
    write_log(logs / "a-conn.log", [
        zeek_line(i, src=f"10.1.{i % 50}.{i % 7}", dst=f"10.2.{i % 40}.{i % 11}",
                  dport=1 + i % 300) for i in range(n)])
    dns_log(logs / "b-dns.log", 3000, src="10.1.0.1")
    env = dict(os.environ, GRAPHNET_BATCH_SIZE="50")
    proc = subprocess.Popen([sys.executable, "-m", "graphnet.cli", "ingest", "-q", str(logs)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    conn_sha = ingest.sha256_of(logs / "a-conn.log")
    deadline = time.monotonic() + 120
    killed = False
    while time.monotonic() < deadline and proc.poll() is None:
        rows = store.read("ingest_get", sha256=conn_sha)
        if rows and (rows[0]["batches_done"] or 0) >= 3:
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.05)
    proc.wait(timeout=60)
    assert killed, "ingest finished before it could be killed; raise n"
    settings = Settings.from_env(batch_size=50)
    assert Archive(settings).records("dns").windows() == []  # written, never committed
    res = ingest.ingest(store, [logs], settings)
    assert [f.status for f in res.files] == ["resumed", "resumed"]
    after = (stats(store), store.read("resolved_list", window="2024-W10"))
    assert Archive(settings).record_frame("dns", ["2024-W10"]).shape[0] == 3000
    store.clear()
    Archive(settings).reset()
    clean = ingest.ingest(store, [logs], settings)
    assert [f.status for f in clean.files] == ["ingested", "ingested"]
    assert (stats(store), store.read("resolved_list", window="2024-W10")) == after
