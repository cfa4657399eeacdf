"""Unattended operation and its outputs: `graphnet schedule ...`, `report` and `browser`."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from graphnet.cli.common import _print_json, _store, app, err, errors, inert_data, out, shown
from graphnet.config import Settings

schedule_app = typer.Typer(
    help="Unattended operation: ingest, analyse and report on schedule.", no_args_is_help=True
)
app.add_typer(schedule_app, name="schedule")
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="graphnet.toml (default $GRAPHNET_HOME/graphnet.toml, "
        "else the commented default shipped with graphnet).",
    ),
]


@schedule_app.command("run")
def schedule_run(config: ConfigOpt = None) -> None:
    """Run the scheduler in the foreground until SIGTERM/SIGINT (logs to stderr)."""
    from graphnet import scheduler

    if logging.getLogger().level > logging.INFO:
        logging.getLogger().setLevel(logging.INFO)
    with errors():
        scheduler.run_scheduler(config, Settings.from_env())


@schedule_app.command("status")
def schedule_status(
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Jobs, their triggers, next and last runs, and failures."""
    from graphnet import scheduler

    with errors():
        entries = scheduler.schedule_status(Settings.from_env(), config)
    if as_json:
        _print_json(entries)
    else:
        # file names and messages of the runs: each one line, inert
        sys.stdout.write(scheduler.status_text(inert_data(entries)) + "\n")


@schedule_app.command("run-now")
def schedule_run_now(
    job: Annotated[str, typer.Argument(help="ingest, window_close or report.")],
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run record as JSON.")] = False,
) -> None:
    """Run one job now, recorded like a scheduled run."""
    from graphnet import scheduler

    with errors():
        rec = scheduler.run_now(job, config, Settings.from_env())
    if as_json:
        _print_json(rec)
    else:
        out.print(f"{shown(job)}: {shown(rec['outcome'])} — {shown(rec.get('message') or '')}")
    if rec["outcome"] == "failed":
        raise typer.Exit(1)


@app.command()
def report(
    window: Annotated[str | None, typer.Option(help="Window (default: the latest ended).")] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default $GRAPHNET_HOME/reports).")
    ] = None,
    top: Annotated[int, typer.Option(help="Items per section.")] = 20,
) -> None:
    """Write the change report of a window: HTML (self-contained), Markdown and JSON."""
    from graphnet import browser, reports

    settings = Settings.from_env()
    with errors(), _store() as store, err.status("building the report"):
        paths = reports.generate_report(
            store,
            settings,
            window,
            out_dir,
            top=top,
            browser_url=browser.browser_address(settings),
        )
    out.print(f"report: {shown(str(paths['html']))}")
    out.print(f"        {shown(str(paths['markdown']))}, {shown(str(paths['json']))}")


@app.command("browser")
def browser_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Where Neo4j Browser is, how to log in, and the saved queries to paste."""
    from graphnet import browser

    with errors():
        info = browser.browser_info(Settings.from_env())
    if as_json:
        _print_json(info)
    else:
        sys.stdout.write(browser.browser_text(inert_data(info)) + "\n")
