"""The pure part of ingest: connections -> per-edge sums and histograms, and their merging."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graphnet import features
from graphnet.ingest import (
    OTHER,
    Aggregate,
    combine,
    edge_key,
    edge_rows,
    host_classifier,
    merge_props,
    transform,
)

# 2024-03-04 is a Monday (ISO week 10)
MON = 1709510400.0


def conns(rows: list[tuple]) -> pd.DataFrame:
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
    f["duration"] = 1.5
    f["src_pkts"] = 3.0
    f["dst_pkts"] = np.nan
    f["line"] = np.arange(1, len(f) + 1)
    return f


def hist_of(row: dict, comp: str) -> dict[str, int]:
    return dict(zip(row["props"][f"{comp}_k"], row["props"][f"{comp}_n"], strict=True))


def test_one_edge_sums_and_histograms() -> None:
    f = conns(
        [
            (MON + 3600, "10.0.0.1", "10.0.0.2", 22, "tcp", "ssh", "SF", "ShADadFf", 100.0, 200.0),
            (MON + 7200, "10.0.0.1", "10.0.0.2", 22, "tcp", "ssh", "S0", "S", 0.0, 0.0),
            (MON + 7300, "10.0.0.1", "10.0.0.2", 53, "udp", "dns", "SF", "Dd", 40.0, np.nan),
        ]
    )
    rows = edge_rows(transform(f, "week"), {"dport": 10, "conn_state": 10})
    assert len(rows) == 1
    r = rows[0]
    assert (r["src"], r["dst"], r["window"]) == ("10.0.0.1", "10.0.0.2", "2024-W10")
    p = r["props"]
    assert p["conns"] == 3
    assert p["src_bytes"] == 140.0 and p["dst_bytes"] == 200.0  # NaN counts as 0 in sums
    assert p["duration"] == pytest.approx(4.5)
    assert hist_of(r, "conn_state") == {"SF": 2, "S0": 1}
    assert hist_of(r, "dport") == {"22": 2, "53": 1}
    assert hist_of(r, "service") == {"ssh": 2, "dns": 1}
    assert (p["services"], p["ports"], p["states"]) == ("ssh 2, dns 1", "22 2, 53 1", "SF 2, S0 1")
    # the other components live in the connection archive only (tests/unit/test_engine.py)
    assert not {"proto_k", "hour_k", "orig_act_k", "history_k", "dst_bytes_bin_k"} & set(p)
    # keys are sorted by count, most frequent first
    assert p["conn_state_k"][0] == "SF"
    assert r["first_ms"] == int((MON + 3600) * 1000) and r["last_ms"] == int((MON + 7300) * 1000)
    assert p["dport_distinct"] == 2


def test_windows_split_edges_and_weekday_weekend() -> None:
    f = conns(
        [
            (MON, "a", "b", 80, "tcp", "http", "SF", "ShADadFf", 1.0, 1.0),
            (MON + 5 * 86400, "a", "b", 80, "tcp", "http", "SF", "ShADadFf", 1.0, 1.0),  # Saturday
            (MON + 7 * 86400, "a", "b", 80, "tcp", "http", "SF", "ShADadFf", 1.0, 1.0),  # next week
        ]
    )
    rows = edge_rows(transform(f, "week"), {"dport": 10, "conn_state": 10})
    assert [r["window"] for r in rows] == ["2024-W10", "2024-W11"]
    assert features.components(f)["daytype"].tolist() == ["weekday", "weekend", "weekday"]
    days = edge_rows(transform(f, "day"), {"dport": 10, "conn_state": 10})
    assert [r["window"] for r in days] == ["2024-03-04", "2024-03-09", "2024-03-11"]


def test_top_ports_fold_into_other() -> None:
    f = conns(
        [(MON + i, "s", "d", 1000 + i % 7, "tcp", "-", "S0", "S", 0.0, 0.0) for i in range(70)]
        + [(MON, "s", "d", 22, "tcp", "ssh", "SF", "ShADadFf", 5.0, 5.0)] * 30
    )
    rows = edge_rows(transform(f, "week"), {"dport": 3, "conn_state": 10})
    h = hist_of(rows[0], "dport")
    assert h["22"] == 30
    assert sum(h.values()) == 100
    assert OTHER in h and len(h) == 4
    assert rows[0]["props"]["dport_distinct"] == 8


def test_chunks_combine_to_the_same_as_one_pass() -> None:
    rng = np.random.default_rng(7)
    n = 500
    f = conns(
        [
            (
                MON + float(rng.integers(0, 14 * 86400)),
                f"10.0.0.{rng.integers(1, 6)}",
                f"10.0.1.{rng.integers(1, 4)}",
                int(rng.choice([22, 80, 443, 445])),
                "tcp",
                "-",
                str(rng.choice(["SF", "S0", "REJ"])),
                str(rng.choice(["ShADadFf", "S", "Sr"])),
                float(rng.integers(0, 10000)),
                float(rng.integers(0, 10000)),
            )
            for _ in range(n)
        ]
    )
    top = {"dport": 32, "conn_state": 32}
    whole = edge_rows(transform(f, "week"), top)
    parts = edge_rows(
        combine([transform(f.iloc[i : i + 77], "week") for i in range(0, n, 77)]), top
    )
    assert [(r["src"], r["dst"], r["window"]) for r in whole] == [
        (r["src"], r["dst"], r["window"]) for r in parts
    ]
    for a, b in zip(whole, parts, strict=True):
        for comp in ("conn_state", "dport", "service"):
            assert hist_of(a, comp) == hist_of(b, comp)
        assert a["props"]["conns"] == b["props"]["conns"]
        assert a["props"]["src_bytes"] == pytest.approx(b["props"]["src_bytes"])
        assert (a["first_ms"], a["last_ms"]) == (b["first_ms"], b["last_ms"])
    assert sum(r["props"]["conns"] for r in whole) == n


def test_merge_props_adds_counts_and_refolds() -> None:
    old = {
        "conns": 3,
        "src_bytes": 10.0,
        "proto_k": ["tcp"],
        "proto_n": [3],
        "dport_k": ["22", "80"],
        "dport_n": [2, 1],
        "dport_distinct": 2,
        "window": "w",
    }
    new = {
        "conns": 2,
        "src_bytes": 5.0,
        "proto_k": ["udp", "tcp"],
        "proto_n": [1, 1],
        "dport_k": ["53", "22"],
        "dport_n": [1, 1],
        "dport_distinct": 2,
    }
    m = merge_props(old, new, {"dport": 2})
    assert m["conns"] == 5 and m["src_bytes"] == 15.0
    assert dict(zip(m["proto_k"], m["proto_n"], strict=True)) == {"tcp": 4, "udp": 1}
    assert dict(zip(m["dport_k"], m["dport_n"], strict=True)) == {"22": 3, "53": 1, OTHER: 1}
    assert m["dport_distinct"] == 3
    assert "window" not in m


def test_empty_frame() -> None:
    f = conns([])
    assert edge_rows(transform(f, "week"), {"dport": 3, "conn_state": 3}) == []
    assert combine([Aggregate.empty()]).edges.empty


@pytest.mark.parametrize(
    ("host", "ip", "internal", "subnet"),
    [
        ("192.168.220.15", "192.168.220.15", True, "192.168.220.0/24"),
        ("8.8.8.8", "8.8.8.8", False, "8.8.8.0/24"),
        ("fd00::1", "fd00::1", True, "fd00::/64"),
        ("2001:db8::1", "2001:db8::1", False, "2001:db8::/64"),
        ("EXT_SERVER", None, False, None),
        ("4711_8", None, False, None),
    ],
)
def test_host_classifier(host: str, ip: str | None, internal: bool, subnet: str | None) -> None:
    assert host_classifier()(host) == {"ip": ip, "internal": internal, "subnet": subnet}


def test_host_classifier_configured_cidrs() -> None:
    import ipaddress

    classify = host_classifier([ipaddress.ip_network("8.8.8.0/24")])
    assert classify("8.8.8.8")["internal"] is True
    assert classify("10.0.0.1")["internal"] is False


def test_components_of_an_empty_frame() -> None:
    from graphnet.features import COMPONENTS, components

    out = components(conns([]))
    assert list(out.columns) == list(COMPONENTS) and out.empty


def test_edge_keys_are_length_prefixed() -> None:
    # "src|dst|window" was ambiguous: ids with `|` gave two edges one key
    assert edge_key("p|q", "r", "2017-W11") == "3:p|q|1:r|2017-W11"
    assert edge_key("p", "q|r", "2017-W11") == "1:p|3:q|r|2017-W11"
    assert edge_key("ä😀", "", "2024-03-04") == "2:ä😀|0:|2024-03-04"  # characters, not bytes
