"""One small real capture end to end through graphnet.evaluation.captures (ingest alone with the
defaults, `analyse --all`, combined ranking, markdown): the CTU binetflow test5-mixed set."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphnet.evaluation import captures as cap


def test_one_capture_end_to_end(store, shared_data: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    [capture] = [c for c in cap.CAPTURES if c.name == "ctu-binetflow test5-mixed"]
    if not cap.capture_files(shared_data, capture):
        pytest.skip(f"{capture.files[0]} not found under {shared_data}")
    res = cap.evaluate_captures(
        store, shared_data, tmp_path, names=[capture.name], out=tmp_path / "eval.md", clear=True
    )
    [c] = res["captures"]
    # the command line's default for a new home (`auto`): hour windows for a 2-minute capture
    assert c["connections"] > 0 and c["window_kind"] == "hour"
    assert c["bad"] == ["10.0.2.15"]  # the source of the flow=Malware-... labels
    for key in ("score", "score_fresh"):
        rank = c[key]["main_rank"]
        assert rank is not None and 1 <= rank <= c["bad_hosts"]["10.0.2.15"]["main_hosts"]
    assert c["alerts_per_day"] is not None and c["days"] > 0
    skipped = {s["step"] for w in c["windows"] for s in w["not_ok"]}
    # a capture alone has no earlier snapshot; the steps that learn from history run on a
    # time split of the window instead of stepping aside
    assert "shifts" in skipped and "novelty" not in skipped
    text = (tmp_path / "eval.md").read_text(encoding="utf-8")
    assert cap.CAPTURES_START in text and "ctu-binetflow test5-mixed" in text
