"""Getting data in and out: `graphnet ingest`, `stats`, `generate` and `reset`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from graphnet.cli.common import _interactive, _print_json, _store, app, err, errors, out, shown
from graphnet.cli.progress import progress_bar, rich_ingest_progress
from graphnet.config import Settings


@app.command()
def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help="Log files or directories (walked recursively).")
    ],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="Force a format: zeek, zeek-json, cidds, binetflow, nfdump."),
    ] = None,
    window: Annotated[
        str | None,
        typer.Option(
            help="Window: auto (the default of a new home: hour windows for a capture "
            "shorter than a day, day windows up to two weeks, week windows beyond), week, "
            "day or hour; fixed per graph."
        ),
    ] = None,
    sensor: Annotated[
        str | None,
        typer.Option(
            help="The sensor that wrote these logs, for records whose log names none (Zeek's "
            "_node_name is kept); copies of one connection seen by two sensors count once."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress, summary only.")
    ] = False,
) -> None:
    """Ingest Zeek conn, dns and http logs / NetFlow CSV into the host graph and the archive
    (idempotent, resumable)."""
    from graphnet import ingest as ingest_mod

    settings = Settings.from_env()
    with errors(), _store() as store:
        if _interactive(quiet, as_json):
            with progress_bar() as p:
                result = ingest_mod.ingest(
                    store,
                    paths,
                    settings,
                    window=window,
                    fmt=fmt,
                    progress=rich_ingest_progress(p),
                    sensor=sensor,
                )
        else:
            result = ingest_mod.ingest(
                store, paths, settings, window=window, fmt=fmt, sensor=sensor
            )
    if as_json:
        _print_json(result.to_json())
    else:
        _print_ingest_summary(result)
    if result.failed:
        raise typer.Exit(3)


def _print_ingest_summary(result: Any) -> None:
    table = Table(title=None, show_edge=False)
    for col in ("file", "format", "accepted", "rejected", "status"):
        table.add_column(col, justify="right" if col in ("accepted", "rejected") else "left")
    for f in result.files:
        status = f.status
        writer = getattr(f, "ingested_by", "")
        if writer and writer != "this run":
            status += f" by {writer}"
        status += f" ({f.message})" if f.message else ""
        table.add_row(
            shown(f.path),
            shown(f.format or "?"),
            f"{f.accepted:,}",
            f"{f.rejected:,}",
            shown(status),
        )
    if len(result.files) <= 40:
        out.print(table)
    rate = result.accepted / result.seconds if result.seconds > 0 else 0.0
    kind = getattr(result, "window_reason", "") or f"windows: {result.window_kind}"
    counts: dict[str, int] = {}
    for f in result.files:
        counts[f.status] = counts.get(f.status, 0) + 1
    records: dict[str, int] = {}
    for f in result.files:
        for name, n in getattr(f, "records", {}).items():
            records[name] = records.get(name, 0) + n
    extra = "".join(f", {n:,} {name} records" for name, n in sorted(records.items()))
    out.print(
        f"{len(result.files)} files ({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))}); "
        f"{result.accepted:,} connections{extra} accepted, {result.rejected:,} rejected "
        f"in {result.seconds:.1f} s ({rate:,.0f}/s); "
        f"{shown(kind)}"
    )
    # which run did the work: concurrent ingests of the same files each parse (accept) them all
    by: dict[str, int] = {}
    for f in result.files:
        if getattr(f, "ingested_by", ""):
            by[f.ingested_by] = by.get(f.ingested_by, 0) + 1
    if by:
        shared = by.get("this and another run", 0)
        line = f"written to the graph by this run: {by.get('this run', 0) + shared:,} files"
        if shared:
            line += f" ({shared:,} shared with another run)"
        line += f", {result.written:,} connections"
        if by.get("another run"):
            line += f"; {by['another run']:,} files were written by another run meanwhile"
        out.print(line)
    for f in result.files:
        if f.rejects_file:
            out.print(f"rejected lines of {shown(f.path)}: {shown(f.rejects_file)}")
    for f in result.failed:
        err.print(f"error: {shown(f.message)}")


@app.command()
def stats(as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False) -> None:
    """Hosts, connections, edges, windows and files in the graph."""
    from graphnet import ingest as ingest_mod

    with errors(), _store() as store:
        data = ingest_mod.stats(store)
    if as_json:
        _print_json(data)
    else:
        for k, v in data.items():
            out.print(f"{k:>12}: {v:,}" if isinstance(v, int) else f"{k:>12}: {shown(v)}")


@app.command()
def generate(
    out_dir: Annotated[
        Path, typer.Argument(help="Output directory (created; must be empty or a previous output).")
    ],
    weeks: Annotated[int, typer.Option(help="Weeks of traffic.")] = 4,
    hosts: Annotated[int, typer.Option(help="Internal hosts.")] = 120,
    seed: Annotated[int, typer.Option(help="Random seed: same seed and options, same bytes.")] = 1,
    fmt: Annotated[str, typer.Option("--format", help="zeek, zeek-json or cidds.")] = "zeek",
    scale: Annotated[
        int | None, typer.Option(help="Connections per working day (whole network).")
    ] = None,
    scenario: Annotated[
        list[str] | None,
        typer.Option("--scenario", help="Planted scenario (repeat; default: all)."),
    ] = None,
    start: Annotated[str, typer.Option(help="First day (a Monday, UTC).")] = "2024-03-04",
    app_logs: Annotated[
        bool,
        typer.Option(
            "--app-logs",
            help="Also write Zeek dns.log and http.log (zeek format) and plant "
            "dns_tunnel, dga and ua_beacon in them.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Write realistic multi-week enterprise traffic with planted attacks, plus truth.json.

    Scenarios: attack_server, lateral_movement, beaconing, handshake_anomaly, new_protocol,
    new_host; with --app-logs also dns_tunnel, dga, ua_beacon.
    """
    from graphnet.generate import GenerateOptions
    from graphnet.generate import generate as gen

    opts = GenerateOptions(
        weeks=weeks,
        hosts=hosts,
        seed=seed,
        format=fmt,
        scale=scale,
        scenarios=tuple(scenario) if scenario else None,
        start=start,
        app_logs=app_logs,
    )
    with errors():
        if _interactive(False, as_json):
            with Progress(
                TextColumn("generating"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("days"),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            ) as p:
                task = p.add_task("days", total=weeks * 7)
                res = gen(
                    out_dir, opts, progress=lambda done, total: p.update(task, completed=done)
                )
        else:
            res = gen(out_dir, opts)
    if as_json:
        _print_json(
            {
                "out": str(res.out),
                "files": res.files,
                "records": res.records,
                "truth": str(res.truth_path),
                "seconds": round(res.seconds, 3),
            }
        )
    else:
        out.print(
            f"{res.records:,} connections in {res.files:,} files under {shown(str(res.out))} "
            f"({res.seconds:.1f} s, {res.records / max(res.seconds, 1e-9):,.0f}/s); "
            f"ground truth: {shown(str(res.truth_path))}"
        )


@app.command()
def reset(
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete everything graphnet stored in Neo4j and the connection archive."""

    settings = Settings.from_env()
    if not yes and not typer.confirm("Delete the whole graph and the connection archive?"):
        raise typer.Exit(1)
    from graphnet import ingest as ingest_mod

    with errors(), _store() as store:
        ingest_mod.reset(store, settings)
