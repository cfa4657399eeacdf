"""graphnet.evaluation.captures: the pure parts (ranks, truth from labels, the markdown)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from graphnet.evaluation import captures as cap


def test_ranks_are_pessimistic_on_ties() -> None:
    risk = pd.Series({"a": 9.0, "b": 5.0, "c": 5.0, "d": 0.0, "e": 0.0, "f": np.nan})
    r = cap.pessimistic_ranks(risk)
    assert r["a"] == 1.0
    assert r["b"] == r["c"] == 3.0  # two hosts tied for 2nd: both get the worse rank
    assert r["d"] == r["e"] == 5.0
    assert r["f"] == 6.0  # NaN counts as the lowest risk


def test_bad_hosts_from_labels_sources_and_peers() -> None:
    frame = pd.DataFrame(
        {
            "src": ["10.0.0.5", "10.0.0.5", "10.0.0.5", "10.0.0.9", "10.0.0.7"],
            "dst": ["6.6.6.6", "6.6.6.6", "7.7.7.7", "1.1.1.1", "10.0.0.5"],
            "label": ["Malicious", "Malicious", "Malicious", "Benign", "Unknown"],
            "detailed_label": ["C2", "C2", "exfil", "-", "-"],
        }
    )
    assert cap.bad_hosts_from_labels(frame, ("src",)) == ["10.0.0.5"]
    # most labelled connections first; ties by name
    assert cap.bad_hosts_from_labels(frame, ("src", "dst")) == ["10.0.0.5", "6.6.6.6", "7.7.7.7"]
    assert cap.bad_hosts_from_labels(frame.iloc[3:], ("src", "dst")) == []
    assert cap.bad_hosts_from_labels(frame.iloc[:0], ("src",)) == []


def test_bad_hosts_from_ctu_labels() -> None:
    frame = pd.DataFrame(
        {
            "src": ["10.0.2.15", "10.0.2.2", "10.0.2.15"],
            "dst": ["8.8.8.8", "10.0.2.15", "147.32.80.9"],
            "label": ["flow=Malware-UDP-DNS", "flow=Background-ARP", "flow=From-Botnet-V1-TCP"],
        }
    )
    assert cap.bad_hosts_from_labels(frame, ("src",)) == ["10.0.2.15"]


def _window(name: str, ranks: dict[str, float | None], conns: dict[str, int]) -> dict:
    return {"window": name, "ranks": ranks, "bad_connections": conns, "hosts": 40}


def test_summarise_best_and_main_window() -> None:
    per = [
        _window("2020-W18", {"h": 1.0, "x": None}, {"h": 3, "x": 0}),
        _window("2020-W19", {"h": 7.0, "x": 2.0}, {"h": 50, "x": 1}),
    ]
    s = cap.summarise(per, ["h", "x", "gone"])
    assert s["h"]["best_rank"] == 1.0 and s["h"]["best_window"] == "2020-W18"
    assert s["h"]["main_window"] == "2020-W19" and s["h"]["main_rank"] == 7.0
    assert s["h"]["connections"] == 53
    assert s["x"]["main_rank"] == 2.0
    assert s["gone"]["main_rank"] is None and s["gone"]["connections"] == 0
    score = cap.capture_score(s)
    assert score == {"host": "x", "main_rank": 2.0, "best_rank": 1.0}


def test_capture_score_without_any_ranked_host() -> None:
    s = cap.summarise([_window("w", {"h": None}, {"h": 0})], ["h"])
    assert cap.capture_score(s) == {"host": None, "main_rank": None, "best_rank": None}


def _result(host: str, capture: str = "cap") -> dict:
    return {
        "captures": [
            {
                "capture": capture,
                "source": "labels",
                "connections": 766,
                "span": [1677000000.0, 1677000600.0],
                "window_kind": "week",
                "windows": [
                    {
                        "window": "2023-W08",
                        "top": [host, "10.0.0.1"],
                        "not_ok": [
                            {"step": "novelty", "status": "skipped", "reason": "no <b>history</b>"}
                        ],
                    }
                ],
                "bad_hosts": {
                    host: {
                        "main_window": "2023-W08",
                        "main_rank": 1.0,
                        "best_rank": 1.0,
                        "best_window": "2023-W08",
                        "main_hosts": 15,
                    },
                },
                "absent": ["178.237.33.50"],
                "score": {"host": host, "main_rank": 1.0, "best_rank": 1.0},
                "score_fresh": {"host": host, "main_rank": 4.0, "best_rank": 4.0},
                "bad_hosts_fresh": {
                    host: {
                        "main_window": "2023-W08",
                        "main_rank": 4.0,
                        "best_rank": 4.0,
                        "best_window": "2023-W08",
                        "main_hosts": 15,
                    },
                },
                "alerts_per_day": 2.5,
                "alerts_per_day_fresh": 12.0,
                "met_fresh": False,
                "detector_alerts_per_day": {"lda": 0.0, "beacon": None},
                "met": True,
                "seconds": 3.2,
            },
            {"capture": "absent one", "skipped": "not found under /x"},
        ],
        "left_out": [["netflow/x", "no labels"]],
    }


def test_markdown_escapes_hostile_host_names() -> None:
    evil = "<img src=x onerror=alert(1)>|**pwn**\u202e\n# head"
    text = cap.captures_markdown(_result(evil, capture="a|b"))
    assert text.startswith(cap.CAPTURES_START) and cap.CAPTURES_END in text
    assert not re.search(
        r"(?<!\\)[<>]", text.replace(cap.CAPTURES_START, "").replace(cap.CAPTURES_END, "")
    )  # no raw HTML: every < and > is escaped
    assert "\u202e" not in text and "U\\+202E" in text
    assert "\n# head" not in text
    assert "|**pwn**" not in text  # the pipe and emphasis are escaped
    assert "a\\|b" in text
    assert "no \\<b\\>history\\</b\\>" in text
    assert "| 766 |" in text and "| yes / **no** |" in text and "| 1 (1) | 4 (4) |" in text
    assert "skipped: not found under /x" in text
    assert "237.33.50 (not in the capture)" in text


def test_write_captures_replaces_its_block_only(tmp_path: Path) -> None:
    doc = tmp_path / "evaluation.md"
    doc.write_text("# Eval\n\nkeep me\n", encoding="utf-8")
    cap.write_captures(doc, _result("10.0.0.5"))
    first = doc.read_text(encoding="utf-8")
    assert first.startswith("# Eval\n\nkeep me\n") and first.count(cap.CAPTURES_START) == 1
    doc.write_text(first + "\ntail stays\n", encoding="utf-8")
    cap.write_captures(doc, _result("10.0.0.6"))
    second = doc.read_text(encoding="utf-8")
    assert second.count(cap.CAPTURES_START) == 1 and "0.0.6" in second
    assert "0.0.5" not in second and second.rstrip().endswith("tail stays")


def test_capture_files_missing_root(tmp_path: Path) -> None:
    assert cap.capture_files(tmp_path, cap.CAPTURES[0]) == []


def test_goal() -> None:
    assert cap.goal_met({"main_rank": 3.0}, 10.0)
    assert not cap.goal_met({"main_rank": 4.0}, 0.0)
    assert not cap.goal_met({"main_rank": 1.0}, 10.5)
    assert not cap.goal_met({"main_rank": None}, 0.0)
