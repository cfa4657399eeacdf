"""The readers on the real public logs in shared/data, read in place (never copied).

Counts come from shared/data/README.md. Skipped with a reason when the folder is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from graphnet.sources import Reject, detect, iter_log_files, read

pytestmark = pytest.mark.shared_data

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("GRAPHNET_SHARED_DATA", REPO.parent / "shared" / "data"))


def need(rel: str) -> Path:
    p = DATA / rel
    if not p.exists():
        pytest.skip(f"shared data not available: {p} (set GRAPHNET_SHARED_DATA)")
    return p


def collect(paths: list[Path]) -> tuple[pd.DataFrame, list[Reject], int, set[bool]]:
    frames, rejects, skipped, rel = [], [], 0, set()
    for p in paths:
        for c in read(p):
            frames.append(c.frame)
            rejects += c.rejects
            skipped += c.skipped
            rel.add(c.relative_ts)
    return pd.concat(frames, ignore_index=True), rejects, skipped, rel


def test_rita_missing_host() -> None:
    files = iter_log_files([need("zeek/rita/missing_host")])
    assert len(files) == 72
    assert all(detect(f).format == "zeek" for f in files)
    df, rejects, skipped, rel = collect(files)
    assert (len(df), rejects, skipped, rel) == (105_918, [], 0, {False})
    assert len(set(df.src) | set(df.dst)) == 15_091
    assert df.uid.is_unique
    states = df.conn_state.value_counts()
    assert states["REJ"] == 55_342 and states["SF"] == 31_823 and states["OTH"] == 14_675
    assert df.ts.min() >= 1713484700 and df.ts.max() < 1713744000  # 04-18 23:59 .. 04-21


def test_stratosphere_port_scanning_json() -> None:
    p = need("zeek/stratosphere/002-zeek-scenario-port-scanning/conn.log")
    assert detect(p).format == "zeek-json"
    df, rejects, skipped, _ = collect([p])
    assert (len(df), rejects, skipped) == (4_504, [], 0)
    states = df.conn_state.value_counts()
    assert (states["S0"], states["REJ"]) == (2_409, 1_273)
    assert (df.src == "172.16.1.11").all()


def test_otrf_apt29_combined_keeps_conn_dns_and_http() -> None:
    root = need("zeek/otrf-apt29")
    combined = [root / d / "zeek" / "combined_zeek.log" for d in ("day1", "day2")]
    for p in combined:
        found = detect(p)
        assert found.format == "zeek-json" and found.is_conn and "mixing" in found.reason
        assert found.tables[:2] == ("conn", "dns")
    df, rejects, skipped, _ = collect(combined)
    assert (len(df), rejects) == (1_785, [])
    tables: dict[str, list[pd.DataFrame]] = {}
    for p in combined:
        for c in read(p):
            for name, frame in c.tables.items():
                tables.setdefault(name, []).append(frame)
    dns = pd.concat(tables["dns"], ignore_index=True)
    http = pd.concat(tables["http"], ignore_index=True)
    # `grep -c '"@stream":"dns"'`: 53 + 250; http: 62 + 1
    assert (len(dns), len(http)) == (303, 63)
    # every other record is another log type
    assert skipped == 2_140 + 5_664 - 1_785 - 303 - 63
    # the shipper's @system names the sensor: two sensors in one file
    assert set(dns.sensor) | set(http.sensor) <= set(df.sensor)
    assert df.sensor.notna().all() and df.sensor.nunique() >= 2
    assert dns["query"].notna().all() and set(dns.dport) == {53, 137}  # DNS and NetBIOS names
    assert len(set(df.src) | set(df.dst)) == 15
    individual = [f for f in iter_log_files([root]) if "individual_zeek_logs" in str(f)]
    assert len(individual) == 8
    ind, rejects, skipped, _ = collect(individual)
    assert (len(ind), rejects, skipped) == (1_785, [], 0)
    assert set(ind.uid) == set(df.uid)


def test_binetflow_test5_mixed_tab_separated() -> None:
    p = need("netflow/ctu-binetflow/test5-mixed.binetflow")
    assert detect(p).reason.startswith("Argus binetflow (tab-separated")
    df, rejects, skipped, rel = collect([p])
    assert (len(df), rejects, skipped) == (296, [], 4)  # 2 ARP, 1 LLC, 1 man skipped
    assert rel == {True}  # its flows start on 1970-01-01
    assert not df.proto.isin(["arp", "llc", "man"]).any()


def test_binetflow_other_files() -> None:
    root = need("netflow/ctu-binetflow")
    df, rejects, skipped, _ = collect([root / "test2-malicious.binetflow"])
    assert (len(df), rejects, skipped) == (6_751, [], 0)
    df, rejects, skipped, _ = collect([root / "test4-malicious.binetflow"])
    assert (len(df), rejects, skipped) == (392, [], 2)  # 2 ARP
    df, rejects, skipped, _ = collect([root / "test11-portscan.binetflow"])
    assert (len(df), rejects, skipped) == (66, [], 0)
    assert set(df[df.proto == "icmp"].sport) == {8}  # echo requests, written as 0x0008


def test_binetflow_test3_has_one_corrupted_line() -> None:
    """Line 58 of test3-mixed has ' get_message  ->' in Dir: a corrupted record."""
    p = need("netflow/ctu-binetflow/test3-mixed.binetflow")
    df, rejects, skipped, _ = collect([p])
    assert (len(df), skipped) == (88, 0)
    assert [(r.line, r.reason) for r in rejects] == [
        (58, "bad direction ' get_message  ->' in Dir")]


def test_labelled_zeek_logs() -> None:
    p = need("zeek/stratosphere/normal-2023-02-20/conn.log.labeled")
    df, rejects, _, _ = collect([p])
    assert (len(df), rejects) == (7_124, [])
    assert df.label.value_counts().to_dict() == {"Benign": 6_796, "Unknown": 328}
    p = need("zeek/slips/test18-malicious-ctu-sme-11-win/zeek-labeled/conn.log.labeled")
    df, rejects, _, _ = collect([p])
    assert (len(df), rejects) == (766, [])
    assert (df.label == "Malicious").sum() == 719


def test_old_bro_and_relative_timestamps() -> None:
    df, rejects, _, rel = collect([need("zeek/zat/conn.log")])
    assert (len(df), rejects, rel) == (360, [], {False})
    df, rejects, _, rel = collect([need("zeek/stratosphere/005-zeek-scenario-malicious/conn.log")])
    assert (len(df), rejects, rel) == (992, [], {True})


def test_non_conn_logs_are_recognised() -> None:
    root = need("zeek/rita/open_conns")
    for name in ("open/dns.log", "open/http.log", "open/ssl.log", "closed/http.log"):
        found = detect(root / name)
        assert found.format == "zeek" and not found.is_conn, name


def test_every_conn_file_reads_without_rejects() -> None:
    """All connection logs of shared/data: no reject except test3-mixed's corrupted line."""
    files = iter_log_files([need("")])
    seen = 0
    for f in files:
        found = detect(f)
        if found.format is None or not found.is_conn:
            continue
        seen += 1
        _, rejects, _, _ = collect([f])
        expected = 1 if f.name == "test3-mixed.binetflow" else 0
        assert len(rejects) == expected, (f, rejects[:3])
    assert seen >= 100
