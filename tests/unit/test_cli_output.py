"""What the CLI prints of log-derived text is inert on a terminal: control characters (C0, DEL,
C1), the bidirectional controls and rich markup are shown as visible escapes, never obeyed.
Commands that need the graph are tested in tests/integration/test_cli.py."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from graphnet.cli import app
from graphnet.cli import common as cli_common
from graphnet.config import Settings
from graphnet.errors import InputError

#: sets the terminal's colours, then its window title, then rings the bell
HOSTILE = "\x1b[31mRED\x1b[0m\x1b]0;PWNED\x07"
HOSTILE_SHOWN = "\\x1b[31mRED\\x1b[0m\\x1b]0;PWNED\\x07"
#: "x<RLO>gpj.exe" reads as "xexe.jpg"
RLO = "x\u202egpj.exe"
RLO_SHOWN = "x\\u202egpj.exe"
BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
MARKUP = "[bold red]loud[/] [link=http://evil.example/]click[/link] :warning:"


def obeyed(text: str) -> list[str]:
    """The characters of `text` a terminal would obey rather than show."""
    return [
        c
        for c in text
        if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) <= 0x9F or c in BIDI + "\u2028\u2029"
    ]


# --------------------------------------------------------------------------------------------
# the rule: shown()
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("code", range(0x20))
def test_c0_controls_are_shown_as_escapes(code: int) -> None:
    named = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
    visible = named.get(code, f"\\x{code:02x}")
    assert cli_common.shown(f"a{chr(code)}b") == f"a{visible}b"


@pytest.mark.parametrize("code", [0x7F, *range(0x80, 0xA0)])
def test_del_and_c1_controls_are_shown_as_escapes(code: int) -> None:
    assert cli_common.shown(f"a{chr(code)}b") == f"a\\x{code:02x}b"


@pytest.mark.parametrize("char", [*BIDI, "\u2028", "\u2029"])
def test_bidi_controls_and_line_separators_are_shown_as_escapes(char: str) -> None:
    assert cli_common.shown(f"a{char}b") == f"a\\u{ord(char):04x}b"


def test_escape_sequences_and_rlo() -> None:
    assert cli_common.shown(HOSTILE) == HOSTILE_SHOWN
    assert cli_common.shown(RLO) == RLO_SHOWN
    assert cli_common.shown(None) == "None" and cli_common.shown(42) == "42"


@pytest.mark.parametrize(
    "text", ["10.0.0.1", "ünïcödé-主机-🙂", "a\\b\\", "EXT_SERVER", "x'y\"z", "fe80::1%eth0", ""]
)
def test_ordinary_text_is_unchanged(text: str) -> None:
    assert cli_common.inert(text) == text


def test_inert_keeps_only_the_line_breaks_asked_for() -> None:
    text = "line 1\n\tat x\r\n\x1b[2J"
    assert cli_common.inert(text) == "line 1\\n\\tat x\\r\\n\\x1b[2J"
    assert cli_common.inert(text, keep="\n\t") == "line 1\n\tat x\\r\n\\x1b[2J"


@pytest.mark.parametrize("text", [HOSTILE, RLO, MARKUP, "a\\", "a\\\\", "[/]", "\\[b]", "[@click]"])
def test_the_consoles_print_shown_text_as_written(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through `out` and `err`, shown text appears exactly as `inert` writes it: no markup
    style, link, emoji or escape is interpreted, and a tag after it still works."""
    cli_common.out.print(f"{cli_common.shown(text)} [bold]|[/bold]")
    cli_common.err.print(cli_common.shown(text))
    got = capsys.readouterr()
    assert got.out == cli_common.inert(text) + " |\n"
    assert got.err == cli_common.inert(text) + "\n"


# --------------------------------------------------------------------------------------------
# commands that need no graph
# --------------------------------------------------------------------------------------------
def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def assert_inert(*texts: str) -> None:
    for text in texts:
        assert not obeyed(text), repr(text)
        assert "\x1b" not in text


def test_findings_unknown_kind_is_shown_inert() -> None:
    res = run("findings", "--kind", HOSTILE)
    assert res.exit_code == 2
    assert_inert(res.stdout, res.stderr)
    assert res.stderr.splitlines()[0] == f"error: unknown kind '{HOSTILE_SHOWN}'"


def test_evaluate_missing_truth_file_is_shown_inert(tmp_path: Path) -> None:
    res = run("evaluate", "--truth", str(tmp_path / f"{HOSTILE}{RLO}.json"))
    assert res.exit_code == 2
    assert_inert(res.stdout, res.stderr)
    assert res.stderr == f"error: no such file: {tmp_path}/{HOSTILE_SHOWN}{RLO_SHOWN}.json\n"


def test_named_errors_are_shown_inert(capsys: pytest.CaptureFixture[str]) -> None:
    import typer

    with pytest.raises(typer.Exit) as exit_info, cli_common.errors():
        raise InputError(f"cannot read {HOSTILE}", hint=f"look at {RLO} {MARKUP}")
    assert exit_info.value.exit_code == 3
    got = capsys.readouterr()
    assert_inert(got.out, got.err)
    assert got.err.splitlines() == [
        f"error: cannot read {HOSTILE_SHOWN}",
        f"hint: look at {RLO_SHOWN} {MARKUP}",
    ]


def test_neo4j_logs_are_shown_inert(tmp_path: Path) -> None:
    from graphnet import neo4j_local

    logs = neo4j_local.instance_dir(tmp_path, "default") / "logs"
    logs.mkdir(parents=True)
    (logs / "neo4j.log").write_text(
        f"2024-01-01 INFO  Started.\n2024-01-01 WARN  value {HOSTILE} of {RLO}\n\tat x.y\n"
    )
    res = run("neo4j", "logs", "--home", str(tmp_path))
    assert res.exit_code == 0, res.output
    assert_inert(res.stdout.replace("\t", ""), res.stderr)
    assert f"2024-01-01 WARN  value {HOSTILE_SHOWN} of {RLO_SHOWN}\n\tat x.y\n" in res.stdout


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GRAPHNET_HOME", str(tmp_path))
    for name in ("NEO4J_URI", "NEO4J_PASSWORD", "NEO4J_PASSWORD_FILE", "GRAPHNET_BROWSER_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_schedule_status_is_shown_inert(home: Path) -> None:
    from graphnet.scheduler import runlog

    message = f"could not read /logs/{HOSTILE}{RLO}.log\nforged line\x85{MARKUP}"
    runlog._record_event(Settings.from_env(), "ingest", "failed", message)
    res = run("schedule", "status")
    assert res.exit_code == 0, res.output
    assert_inert(res.stdout, res.stderr)
    assert (
        f"could not read /logs/{HOSTILE_SHOWN}{RLO_SHOWN}.log\\nforged line\\x85{MARKUP}"
        in res.stdout
    )
    # --json was safe already: json.dumps escapes every control and non-ASCII character
    res = run("schedule", "status", "--json")
    assert res.exit_code == 0 and res.stdout.isascii()
    assert_inert(res.stdout, res.stderr)
    assert "\\u001b[31mRED" in res.stdout and "\\u202e" in res.stdout


def test_browser_text_is_shown_inert(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEO4J_URI", "bolt://127.0.0.1:9")
    monkeypatch.setenv("NEO4J_PASSWORD_FILE", f"/secrets/{HOSTILE}")
    res = run("browser")
    assert res.exit_code == 0, res.output
    assert_inert(res.stdout, res.stderr)
    assert f"in the file /secrets/{HOSTILE_SHOWN} (NEO4J_PASSWORD_FILE)" in res.stdout


# --------------------------------------------------------------------------------------------
# printing helpers of commands, with hand-written results
# --------------------------------------------------------------------------------------------
def test_ingest_summary_is_shown_inert(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from graphnet.cli import data

    monkeypatch.setattr(cli_common.out, "width", 400)  # the table's rows on one line each

    ok = SimpleNamespace(
        path=f"/logs/{HOSTILE}.csv",
        format="cidds",
        accepted=3,
        rejected=1,
        status="ingested",
        message="",
        rejects_file=f"/home/rejects/{RLO}.tsv",
    )
    bad = SimpleNamespace(
        path=f"/logs/{RLO}{MARKUP}",
        format=None,
        accepted=0,
        rejected=0,
        status="failed",
        message=f"/logs/{RLO}: not a log\x9b2J",
        rejects_file=None,
    )
    result = SimpleNamespace(
        files=[ok, bad], failed=[bad], accepted=3, rejected=1, seconds=1.0, window_kind="week"
    )
    data._print_ingest_summary(result)
    got = capsys.readouterr()
    assert_inert(got.out, got.err)
    assert f"/logs/{HOSTILE_SHOWN}.csv" in got.out and f"/logs/{RLO_SHOWN}{MARKUP}" in got.out
    assert f"rejected lines of /logs/{HOSTILE_SHOWN}.csv: /home/rejects/{RLO_SHOWN}.tsv" in got.out
    assert got.err == f"error: /logs/{RLO_SHOWN}: not a log\\x9b2J\n"


def test_analyse_step_lines_are_shown_inert(capsys: pytest.CaptureFixture[str]) -> None:
    from graphnet.cli import analysis

    outcome = SimpleNamespace(status="failed", seconds=1.5, message=f"{HOSTILE} {RLO} {MARKUP}")
    cli_common.out.print(analysis._step_line("2024-W11", "lda", outcome))
    got = capsys.readouterr().out
    assert_inert(got)
    head = "2024-W11  lda             failed     1.5 s  "
    assert got == f"{head}{HOSTILE_SHOWN} {RLO_SHOWN} {MARKUP}\n"


def test_demo_summary_is_shown_inert(capsys: pytest.CaptureFixture[str]) -> None:
    from graphnet.cli import demo

    found = SimpleNamespace(
        type="attack_server",
        window="2024-W03",
        hosts=[HOSTILE, RLO],
        found=True,
        kind="centrality_shift",
        rank=1,
        of=4,
        explanation=f"{HOSTILE} talked to {RLO}",
    )
    missed = SimpleNamespace(
        type="beaconing", window="2024-W03", hosts=[MARKUP], found=False, explanation=""
    )
    result = SimpleNamespace(
        records=10,
        windows=["2024-W01", "2024-W02", "2024-W03"],
        generated_seconds=1.0,
        ingest_seconds=1.0,
        analysis_seconds=1.0,
        findings_per_window={"2024-W03": {"centrality_shift": 1}},
        steps={"2024-W03": [{"name": "lda", "status": "failed", "message": HOSTILE}]},
        detections=[found, missed],
        report=f"/reports/{RLO}.html",
    )
    info = {"url": "http://127.0.0.1:7474/browser/", "user": "neo4j", "password": "in a file"}
    demo._print_demo(result, info)
    got = capsys.readouterr()
    assert_inert(got.out, got.err)
    assert f"({HOSTILE_SHOWN}, {RLO_SHOWN}): centrality_shift, rank 1 of 4" in got.out
    assert f"{HOSTILE_SHOWN} talked to {RLO_SHOWN}" in got.out
    assert f"missed beaconing in 2024-W03 ({MARKUP})" in got.out
    assert f"report: /reports/{RLO_SHOWN}.html" in got.out
    # the pasted queries hold the host as a Cypher literal with escapes
    assert "MATCH (h:Host {id: '\\u001b[31mRED\\u001b[0m\\u001b]0;PWNED\\u0007'})" in got.out
    assert f"analysis lda of 2024-W03 failed: {HOSTILE_SHOWN}\n" == got.err


def test_ingest_progress_shows_file_names_inert() -> None:
    from rich.progress import Progress

    from graphnet.cli.progress import rich_ingest_progress

    with Progress(console=cli_common.err, disable=True) as p:
        progress = rich_ingest_progress(p)
        progress.file_started(Path(f"/logs/{HOSTILE}{RLO}[bold]x[link=y]:warning:"), 10)
        descriptions = [t.description for t in p.tasks]
    assert f"{HOSTILE_SHOWN}{RLO_SHOWN}\\[bold]x\\[link=y]:warning:" in descriptions


# --------------------------------------------------------------------------------------------
# log records
# --------------------------------------------------------------------------------------------
@pytest.fixture
def cli_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    cli_common._setup_logging(0)
    try:
        yield
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in handlers:
            root.addHandler(h)
        root.setLevel(level)


def test_log_records_are_shown_inert(cli_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    log = logging.getLogger("graphnet.test")
    log.warning("host %s", HOSTILE)
    log.warning(f"file {RLO}\nWARNING forged")
    try:
        raise ValueError(f"bad {HOSTILE}")
    except ValueError:
        log.exception("failed on %s", RLO)
    got = capsys.readouterr()
    assert_inert(got.out, got.err)
    assert "WARNING forged" not in got.err.replace("\\nWARNING forged", "")
    flat = "".join(got.err.split())
    assert f"host{HOSTILE_SHOWN}" in flat
    assert f"file{RLO_SHOWN}\\nWARNINGforged" in flat
    assert f"failedon{RLO_SHOWN}" in flat
    # the traceback keeps its lines, with the exception's text inert
    assert "Traceback (most recent call last):" in got.err
    assert f"ValueError:bad{HOSTILE_SHOWN}" in flat
