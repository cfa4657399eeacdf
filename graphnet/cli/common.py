"""What every command shares: the app, the consoles, logging setup, the mapping of named errors
to one line and an exit code, small helpers and the common option types."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from graphnet import __version__
from graphnet.config import Settings
from graphnet.errors import GraphnetError

app = typer.Typer(
    help="graphnet: how your network behaves, and what changed. Zeek conn logs and NetFlow "
    "exports -> host graph in Neo4j -> snapshots, fingerprints, findings.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = RichHandler(console=err, show_path=False, markup=False, rich_tracebacks=False)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("neo4j").setLevel(logging.ERROR if verbose < 2 else logging.INFO)


def _show_version(value: bool) -> None:
    """`--version`: eager, so it answers before typer asks for a command."""
    if value:
        typer.echo(f"graphnet {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More log output.")
    ] = 0,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    _setup_logging(verbose)


@contextmanager
def errors() -> Iterator[None]:
    """Map graphnet's named errors to one line (and a hint) on stderr and an exit code."""
    try:
        yield
    except GraphnetError as exc:
        err.print(f"error: {escape(str(exc))}")
        if exc.hint:
            err.print(f"hint: {escape(exc.hint)}")
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err.print("interrupted; re-run the same command to continue where it stopped")
        raise typer.Exit(130) from None


@contextmanager
def _archive_errors() -> Iterator[None]:
    """Detectors that read the connection archive raise ValueError when it is empty."""
    try:
        yield
    except ValueError as exc:
        err.print(f"error: {escape(str(exc))}")
        err.print("hint: ingest logs first (graphnet ingest PATH); detectors read their archive")
        raise typer.Exit(2) from None


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _store() -> Any:
    from graphnet.store import open_store

    return open_store()


def _interactive(quiet: bool, as_json: bool) -> bool:
    return not quiet and not as_json and err.is_terminal


def _run(name: str, window: str | None, options: tuple[object, ...] = (), status: str = "") -> Any:
    """One registry step for one window through the pipeline, for its own command: named
    errors, and an archive the step cannot use, become one line and an exit code."""
    from graphnet import pipeline

    settings = Settings.from_env()
    with errors(), _archive_errors(), _store() as store:
        with err.status(status or f"running {name}"):
            return pipeline.run_detector(name, store, settings, window, options=options)


T = TypeVar("T")


def _detail(run: Any, kind: type[T]) -> T:
    if not isinstance(run.detail, kind):  # pragma: no cover - a step's own result type
        raise TypeError(f"{run.step} returned {type(run.detail).__name__}")
    return run.detail


# options several command modules share
WindowOpt = Annotated[
    str | None, typer.Option("--window", help="Window id, e.g. 2024-W11 (default: the latest).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print as JSON.")]
TopOpt = Annotated[int, typer.Option("--top", help="How many items to list.")]
