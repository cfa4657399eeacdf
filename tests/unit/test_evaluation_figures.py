"""The figures of docs/evaluation.md: the application-log table rendered from hand-written
results, and the rest of the block unchanged by it."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from graphnet.evaluation.figures import (
    FIGURES_END,
    FIGURES_START,
    applogs_markdown,
    figures_markdown,
    write_figures,
)
from graphnet.evaluation.sets import merge_hourly_logs

NAMES = ("suspicious_dns", "suspicious_http", "dns_tunnel")


def detector(
    level: str, auc: float | None, ap: float | None, alerts: float, clients: list[str]
) -> dict[str, Any]:
    return {
        "available": True,
        "level": level,
        "auc": auc,
        "ap": ap,
        "precision_at_k": 0.1,
        "k": 10,
        "alerts_per_day": alerts,
        "clients": clients,
        "host_ranks": {},
    }


def plant(
    kind: str, client: str, ranks: dict[str, float | None], comb: float, above: int
) -> dict[str, Any]:
    meant = list(ranks)
    return {
        "id": f"{kind}-1",
        "type": kind,
        "client": client,
        "detectors": meant,
        "ranks": ranks,
        "combined": comb,
        "unplanted_above": above,
    }


def window(w: str, plants: list[dict[str, Any]], dets: dict[str, Any]) -> dict[str, Any]:
    return {
        "window": w,
        "hosts": 2912,
        "days": 7.0,
        "scenarios": [{"type": p["type"], "attackers": [p["client"]]} for p in plants],
        "detectors": {"lda": {"available": True, "level": "connection"}, **dets},
        "combined": {"available": True},
        "plants": plants,
    }


def results() -> dict[str, Any]:
    w1 = window(
        "2024-W12",
        [
            plant("dns_tunnel", "10.0.0.5", {"suspicious_dns": 1.0, "dns_tunnel": 1.0}, 1.0, 0),
            plant("dga", "10.0.0.9", {"suspicious_dns": 2.5}, 4.0, 2),
        ],
        {
            "suspicious_dns": detector("host", 0.9996, 0.8333, 412.3, ["10.0.0.5", "10.0.0.9"]),
            "suspicious_http": detector("host", None, None, 3.0, []),
            "dns_tunnel": detector("host", 1.0, 1.0, 0.14, ["10.0.0.5"]),
        },
    )
    w2 = window(
        "2024-W13",
        [plant("ua_beacon", "10.0.0.7", {"suspicious_http": 4.0}, 7.0, 3)],
        {
            "suspicious_dns": detector("host", None, None, 1.0, []),
            "suspicious_http": detector("host", 0.999, 0.25, 2.5, ["10.0.0.7"]),
            "dns_tunnel": {"available": False, "reason": "no dns records in 2024-W13"},
        },
    )
    multi: dict[str, Any] = {"window": None, "windows": [w1, w2], "detectors": {}, "combined": {}}
    return {
        "generated": [],
        "applogs": [
            {
                "seed": 1,
                "weeks": 4,
                "hosts": 60,
                "connections": 281_234,
                "records": {"dns": 40_321, "http": 9_876},
                "result": multi,
            }
        ],
        "labelled": [],
    }


def rows(lines: list[str], first: str) -> list[list[str]]:
    """The cells of the table whose header starts with `first`."""
    start = next(i for i, ln in enumerate(lines) if ln.startswith(first))
    out = []
    for ln in lines[start + 2 :]:
        if not ln.startswith("|"):
            break
        out.append([c.strip() for c in ln.strip("|").split("|")])
    return out


def test_application_log_table_from_hand_written_results() -> None:
    lines = applogs_markdown(results()["applogs"])
    assert lines[0] == "#### Application logs (dns.log, http.log)"
    assert (
        "- Seed 1: 4 weeks, 60 hosts, 281,234 connections, 40,321 dns and 9,876 http records"
        in (lines)
    )
    header = next(ln for ln in lines if ln.startswith("| seed | window | plant |"))
    assert header == (
        "| seed | window | plant | client | suspicious_dns | suspicious_http | dns_tunnel | "
        "top 3 | combined | unplanted above | met |"
    )
    plants = rows(lines, "| seed | window | plant |")
    assert plants == [
        ["1", "2024-W12", "dns_tunnel", "10.0.0.5", "1.0", "", "1.0", "yes", "1.0", "0", "yes"],
        ["1", "2024-W12", "dga", "10.0.0.9", "2.5", "", "", "yes", "4.0", "2", "yes"],
        ["1", "2024-W13", "ua_beacon", "10.0.0.7", "", "4.0", "", "**no**", "7.0", "3", "**no**"],
    ]
    dets = rows(lines, "| seed | window | detector |")
    assert [r[:5] for r in dets] == [
        ["1", "2024-W12", "suspicious_dns", "host", "dns_tunnel, dga"],
        ["1", "2024-W12", "suspicious_http", "host", "none"],
        ["1", "2024-W12", "dns_tunnel", "host", "dns_tunnel"],
        ["1", "2024-W13", "suspicious_dns", "host", "none"],
        ["1", "2024-W13", "suspicious_http", "host", "ua_beacon"],
        ["1", "2024-W13", "dns_tunnel", "not available", "none"],
    ]
    assert dets[0][5:] == ["2,912", "1.000", "0.833", "0.10 (10)", "412.3"]
    assert dets[1][6:8] == ["–", "–"]  # no client to find: no AUC / AP
    assert dets[5][5:] == ["2,912", "", "", "", ""]


def test_a_plant_without_its_detector_is_not_in_the_top_three() -> None:
    res = results()
    w = res["applogs"][0]["result"]["windows"][0]
    w["plants"][0]["ranks"]["dns_tunnel"] = None  # dns_tunnel unavailable in that window
    plants = rows(applogs_markdown(res["applogs"]), "| seed | window | plant |")
    assert plants[0][4:8] == ["1.0", "", "–", "**no**"]


def test_figures_block_holds_the_table_only_with_application_logs(tmp_path: Path) -> None:
    assert applogs_markdown([]) == []
    res = results()
    text = figures_markdown(res)
    assert text.startswith(FIGURES_START) and text.rstrip().endswith(FIGURES_END)
    assert "#### Application logs (dns.log, http.log)" in text
    without = figures_markdown({**res, "applogs": []})
    assert "Application logs" not in without
    doc = tmp_path / "evaluation.md"
    doc.write_text(
        f"# Evaluation\n\nprose\n\n{FIGURES_START}\nstale figures\n{FIGURES_END}\n\ntail\n"
    )
    write_figures(doc, res)
    out = doc.read_text()
    assert out.startswith("# Evaluation\n\nprose\n\n") and out.endswith("\n\ntail\n")
    assert "stale figures" not in out and "| 1 | 2024-W13 | ua_beacon | 10.0.0.7 |" in out


def test_weekly_merge_of_the_hourly_logs_per_log(tmp_path: Path) -> None:
    src = tmp_path / "gen"
    for day in ("2024-03-04", "2024-03-05"):
        for name in ("conn", "dns", "http"):
            for h in (0, 1):
                p = src / day / f"{name}.{h:02d}:00:00-{h + 1:02d}:00:00.log.gz"
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(gzip.compress(f"{name} {day} {h}\n".encode()))
    (src / "truth.json").write_text("{}")
    conn = merge_hourly_logs(src, tmp_path / "w1")
    assert [p.name for p in conn] == ["week1.conn.log.gz"]
    assert gzip.decompress(conn[0].read_bytes()).decode().splitlines() == [
        "conn 2024-03-04 0",
        "conn 2024-03-04 1",
        "conn 2024-03-05 0",
        "conn 2024-03-05 1",
    ]
    every = merge_hourly_logs(src, tmp_path / "w2", ("conn", "dns", "http"))
    assert [p.name for p in every] == ["week1.conn.log.gz", "week1.dns.log.gz", "week1.http.log.gz"]
    assert gzip.decompress(every[2].read_bytes()).decode().startswith("http 2024-03-04 0\n")
