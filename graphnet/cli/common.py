"""What every command shares: the app, the consoles, logging setup, the mapping of named errors
to one line and an exit code, small helpers and the common option types."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler

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

# emoji=False: `:warning:` in a host id stays text
out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

# --------------------------------------------------------------------------------------------
# text from logs, shown inert
# --------------------------------------------------------------------------------------------
#: characters a terminal obeys instead of showing: C0 controls (ESC starts escape sequences
#: that recolour, move the cursor, set the window title ...; BEL, CR, newline), DEL, C1
#: controls (U+009B is a one-byte CSI), the bidirectional controls (embeddings, overrides,
#: isolates, marks: U+202E makes "x<U+202E>gpj.exe" read "xexe.jpg") and the line and
#: paragraph separators
_OBEYED = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
#: what rich reads as a markup tag (`rich.markup.RE_TAGS`), with the backslashes before it
_TAG = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")


def _visible(ch: str) -> str:
    code = ord(ch)
    return _NAMED.get(ch) or (f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")


def inert(text: object, keep: str = "") -> str:
    """`text` with every character a terminal would obey (`_OBEYED`) written as a visible
    escape, as Python writes it: `\\x1b`, `\\x07`, `\\x9b`, `\\u202e`, `\\n`, `\\t`, `\\r`.
    `keep`: characters left as they are, e.g. "\\n\\t" for multi-line text such as a log
    tail. For text that does not go through rich markup (plain writes, log records);
    everything else uses `shown`."""
    return _OBEYED.sub(lambda m: m.group() if m.group() in keep else _visible(m.group()), str(text))


def shown(text: object) -> str:
    """Text from logs (host ids, explanations, file names, messages) for `out.print` /
    `err.print` and other rich markup: `inert`, then rich markup escaped, so that the
    terminal shows exactly the characters of `inert(text)`, never a style, link or escape.
    (Like `rich.markup.escape`, without its extra backslash after a trailing one: do not put
    a markup tag right after a shown value.)"""
    return _TAG.sub(lambda m: f"{m.group(1)}{m.group(1)}\\{m.group(2)}", inert(text))


def inert_data(data: Any) -> Any:
    """`data` (dicts, lists, tuples) with every string `inert`: for texts a library function
    builds from records, such as `scheduler.status_text` and `browser.browser_text`."""
    if isinstance(data, str):
        return inert(data)
    if isinstance(data, dict):
        return {k: inert_data(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return type(data)(inert_data(v) for v in data)
    return data


class _InertFormatter(logging.Formatter):
    """Log records as one inert line (library messages name hosts and files from logs); the
    lines of a traceback stay lines, their other control characters shown too."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return inert(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return inert(super().formatException(ei), keep="\n")

    def formatStack(self, stack_info: str) -> str:
        return inert(super().formatStack(stack_info), keep="\n")


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = RichHandler(console=err, show_path=False, markup=False, rich_tracebacks=False)
    handler.setFormatter(_InertFormatter("%(message)s"))
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
        err.print(f"error: {shown(exc)}")
        if exc.hint:
            err.print(f"hint: {shown(exc.hint)}")
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
        err.print(f"error: {shown(exc)}")
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
