"""`graphnet --version` answers on its own: an eager option, no command needed, no Neo4j."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from graphnet import __version__
from graphnet.cli import app


@pytest.mark.parametrize(
    "args",
    [
        ["--version"],
        ["-v", "--version"],
        # eager: answers before the command (which would need a server) is looked at
        ["--version", "stats"],
    ],
)
def test_version_prints_name_and_version_and_exits_0(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"graphnet {__version__}\n"
    assert result.stderr == ""


def test_without_version_a_command_is_still_required() -> None:
    result = CliRunner().invoke(app, [])
    assert result.exit_code == 2
    assert "Usage:" in result.output
    assert "graphnet 0." not in result.output


def test_analyse_help_names_every_step_of_the_pipeline() -> None:
    from graphnet.pipeline import default_steps

    result = CliRunner().invoke(app, ["analyse", "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.replace("│", " ").split())
    missing = [s.name for s in default_steps() if f" {s.name}," not in text.replace(".", ",")]
    assert missing == []
