"""`graphnet analyse` runs every detector with the engine's memory limit set below the size
of the window it analyses: the engine spills instead of failing, and no step reads the window
into memory whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from graphnet.archive import Archive
from graphnet.cli import app
from graphnet.config import Settings

LIMIT = "128MiB"
LIMIT_BYTES = 128 * 2**20


@pytest.mark.timeout(900)
def test_analyse_runs_with_an_engine_memory_limit_below_the_window(
    store,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logs = tmp_path / "logs"
    runner = CliRunner()
    made = runner.invoke(
        app,
        [
            "generate",
            str(logs),
            "--weeks",
            "2",
            "--hosts",
            "50",
            "--scale",
            "150000",
            "--seed",
            "5",
        ],
    )
    assert made.exit_code == 0, made.output
    done = runner.invoke(app, ["ingest", str(logs), "--quiet"])
    assert done.exit_code == 0, done.output
    settings = Settings.from_env()
    archive = Archive(settings)
    window = archive.latest()
    assert window is not None
    # the window's connections, as Arrow in memory, are larger than the engine may hold
    table = archive.table([window])
    assert table is not None and table.nbytes > LIMIT_BYTES, table.nbytes if table else 0

    monkeypatch.setenv("GRAPHNET_ENGINE_MEMORY", LIMIT)
    monkeypatch.setenv("GRAPHNET_ENGINE_THREADS", "1")
    result = runner.invoke(app, ["analyse", "--window", window, "--json"])
    assert result.exit_code == 0, result.output
    (analysed,) = json.loads(result.output)["windows"]
    steps = {s["name"]: s for s in analysed["steps"]}
    assert {n for n, s in steps.items() if s["status"] == "failed"} == set()
    for name in ("fingerprints", "novelty", "lda", "volume", "behaviour", "snapshot"):
        assert steps[name]["status"] == "ok", (name, steps[name])
    assert list((settings.spill_dir).glob("*")) == []  # each session's spill folder removed
