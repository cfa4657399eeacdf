"""The `graphnet` command: a thin layer over the library.

Each command builds settings, calls one graphnet function and maps named errors to a one-line
message (plus what to do next) and an exit code. Logging handlers are set here only.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from graphnet import __version__
from graphnet.config import Settings, graphnet_home
from graphnet.errors import GraphnetError

app = typer.Typer(
    help="graphnet: how your network behaves, and what changed. Zeek conn logs and NetFlow "
    "exports -> host graph in Neo4j -> snapshots, fingerprints, findings.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
neo4j_app = typer.Typer(help="graphnet's own local Neo4j server.", no_args_is_help=True)
app.add_typer(neo4j_app, name="neo4j")

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


@app.callback()
def main(
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More log output.")
    ] = 0,
    version: Annotated[bool, typer.Option("--version", help="Show the version.")] = False,
) -> None:
    _setup_logging(verbose)
    if version:
        out.print(f"graphnet {__version__}")
        raise typer.Exit(0)


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


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _store() -> Any:
    from graphnet.store import open_store

    return open_store()


def _interactive(quiet: bool, as_json: bool) -> bool:
    return not quiet and not as_json and err.is_terminal


# --------------------------------------------------------------------------------------------
# neo4j
# --------------------------------------------------------------------------------------------
HomeOpt = Annotated[
    Path | None,
    typer.Option(
        "--home", help="graphnet home (default $GRAPHNET_HOME or ~/.local/share/graphnet)."
    ),
]
InstanceOpt = Annotated[str, typer.Option("--instance", help="Instance name under the home.")]


@neo4j_app.command("install")
def neo4j_install(home: HomeOpt = None) -> None:
    """Download Neo4j 5.26 Community and Neo4j Browser from Maven Central (once)."""
    from graphnet import neo4j_local

    with errors(), err.status("installing Neo4j from Maven Central (first time: a few minutes)"):
        inst = neo4j_local.install(home or graphnet_home())
    out.print(f"Neo4j {inst.version} (Browser {inst.browser_version}) installed in {inst.dist_dir}")


@neo4j_app.command("start")
def neo4j_start(
    home: HomeOpt = None,
    instance: InstanceOpt = "default",
    bolt_port: Annotated[int, typer.Option(help="Bolt port on 127.0.0.1.")] = 7687,
    http_port: Annotated[int, typer.Option(help="HTTP (Browser) port on 127.0.0.1.")] = 7474,
    heap: Annotated[str, typer.Option(help="JVM heap, e.g. 2g.")] = "2g",
    pagecache: Annotated[str, typer.Option(help="Page cache, e.g. 2g.")] = "2g",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for Bolt.")] = 180.0,
) -> None:
    """Start the local Neo4j (installing it first if needed); returns when Bolt answers."""
    from graphnet import neo4j_local

    h = home or graphnet_home()
    with errors():
        with err.status("installing Neo4j (once) and starting it"):
            neo4j_local.install(h)
            st = neo4j_local.start(
                h,
                instance=instance,
                bolt_port=bolt_port,
                http_port=http_port,
                heap=heap,
                pagecache=pagecache,
                timeout=timeout,
            )
    out.print(f"Neo4j {st.version} running (pid {st.pid}; {st.message})")
    out.print(f"  bolt:    {st.bolt_uri}")
    out.print(
        f"  browser: {st.browser_url}  (user neo4j, password in "
        f"{neo4j_local.reveal_password_path(h, instance)})"
    )


@neo4j_app.command("stop")
def neo4j_stop(home: HomeOpt = None, instance: InstanceOpt = "default") -> None:
    """Stop the local Neo4j (data is kept)."""
    from graphnet import neo4j_local

    with errors():
        st = neo4j_local.stop(home or graphnet_home(), instance)
    out.print(f"Neo4j: {st.message}")


@neo4j_app.command("status")
def neo4j_status(
    home: HomeOpt = None,
    instance: InstanceOpt = "default",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Version, pid, ports and data size of the local Neo4j."""
    import dataclasses

    from graphnet import neo4j_local

    with errors():
        st = neo4j_local.status(home or graphnet_home(), instance)
    data = {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(st).items()}
    if as_json:
        _print_json(data)
    else:
        for k, v in data.items():
            out.print(f"{k:>14}: {escape(str(v))}")
    if not st.running:
        raise typer.Exit(1)


@neo4j_app.command("logs")
def neo4j_logs(
    home: HomeOpt = None,
    instance: InstanceOpt = "default",
    lines: Annotated[int, typer.Option("--lines", "-n", help="How many lines.")] = 50,
) -> None:
    """The last lines of the local Neo4j's log."""
    from graphnet import neo4j_local

    with errors():
        sys.stdout.write(neo4j_local.logs(home or graphnet_home(), instance, lines))


@neo4j_app.command("password")
def neo4j_password(home: HomeOpt = None, instance: InstanceOpt = "default") -> None:
    """Show the local Neo4j password (only on this explicit request)."""
    from graphnet import neo4j_local

    with errors():
        path = neo4j_local.reveal_password_path(home or graphnet_home(), instance)
        if not path.exists():
            raise GraphnetError("no password yet", hint="start Neo4j first: graphnet neo4j start")
        sys.stdout.write(path.read_text().strip() + "\n")


# --------------------------------------------------------------------------------------------
# ingest and stats
# --------------------------------------------------------------------------------------------
def _rich_ingest_progress(progress: Progress) -> Any:
    from graphnet import ingest as ingest_mod

    class RichIngestProgress(ingest_mod.Progress):
        def __init__(self) -> None:
            self.p = progress
            self.files_task: TaskID | None = None
            self.rows_task = progress.add_task("rows", total=None, rows=0)
            self.edges_task: TaskID | None = None
            self.total_rows = 0

        def files(self, total: int) -> None:
            self.files_task = self.p.add_task("files", total=total, rows=self.total_rows)

        def file_started(self, path: Path, size: int) -> None:
            self.p.update(self.rows_task, description=escape(path.name))

        def rows(self, n: int, nbytes: int) -> None:
            self.total_rows += n
            self.p.update(self.rows_task, advance=n, rows=self.total_rows)

        def file_done(self, result: Any) -> None:
            if self.files_task is not None:
                self.p.update(self.files_task, advance=1, rows=self.total_rows)

        def edges(self, written: int, total: int) -> None:
            if self.edges_task is None:
                self.edges_task = self.p.add_task("edges written", total=total, rows=0)
            self.p.update(self.edges_task, completed=written, total=total, rows=self.total_rows)

    return RichIngestProgress()


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
        str | None, typer.Option(help="Window: week (default), day or hour; fixed per graph.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress, summary only.")
    ] = False,
) -> None:
    """Ingest Zeek conn logs / NetFlow CSV into the host graph (idempotent, resumable)."""
    from graphnet import ingest as ingest_mod

    settings = Settings.from_env()
    with errors(), _store() as store:
        if _interactive(quiet, as_json):
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rows]:,} rows"),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            ) as p:
                result = ingest_mod.ingest(
                    store,
                    paths,
                    settings,
                    window=window,
                    fmt=fmt,
                    progress=_rich_ingest_progress(p),
                )
        else:
            result = ingest_mod.ingest(store, paths, settings, window=window, fmt=fmt)
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
        status = f.status + (f" ({f.message})" if f.message else "")
        table.add_row(
            escape(f.path), f.format or "?", f"{f.accepted:,}", f"{f.rejected:,}", escape(status)
        )
    if len(result.files) <= 40:
        out.print(table)
    rate = result.accepted / result.seconds if result.seconds > 0 else 0.0
    counts: dict[str, int] = {}
    for f in result.files:
        counts[f.status] = counts.get(f.status, 0) + 1
    out.print(
        f"{len(result.files)} files ({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))}); "
        f"{result.accepted:,} connections accepted, {result.rejected:,} rejected "
        f"in {result.seconds:.1f} s ({rate:,.0f}/s); windows: {result.window_kind}"
    )
    for f in result.files:
        if f.rejects_file:
            out.print(f"rejected lines of {escape(f.path)}: {escape(f.rejects_file)}")
    for f in result.failed:
        err.print(f"error: {escape(f.message)}")


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
            out.print(f"{k:>12}: {v:,}" if isinstance(v, int) else f"{k:>12}: {v}")


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
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Write realistic multi-week enterprise traffic with planted attacks, plus truth.json.

    Scenarios: attack_server, lateral_movement, beaconing, handshake_anomaly, new_protocol,
    new_host.
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
            f"{res.records:,} connections in {res.files:,} files under {escape(str(res.out))} "
            f"({res.seconds:.1f} s, {res.records / max(res.seconds, 1e-9):,.0f}/s); "
            f"ground truth: {escape(str(res.truth_path))}"
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
    out.print("graph, connection archive and scores deleted")


# --------------------------------------------------------------------------------------------
# analyses
# --------------------------------------------------------------------------------------------
WindowOpt = Annotated[
    str | None, typer.Option("--window", help="Window id, e.g. 2024-W11 (default: the latest).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print as JSON.")]
TopOpt = Annotated[int, typer.Option("--top", help="How many items to list.")]


@app.command()
def snapshot(
    window: WindowOpt = None,
    all_windows: Annotated[
        bool, typer.Option("--all", help="Every window without an up-to-date snapshot.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Centrality snapshot of the host graph per window (PageRank, betweenness, HITS, ...)."""
    from graphnet import snapshots

    if window and all_windows:
        err.print("error: give --window or --all, not both")
        raise typer.Exit(2)
    with errors(), _store() as store, err.status("computing snapshots"):
        results = snapshots.snapshot(store, window=window, all_windows=all_windows)
    if as_json:
        _print_json([r.to_json() for r in results])
        return
    if not results:
        out.print("no windows in the graph yet: ingest logs first (graphnet ingest PATH)")
    for r in results:
        top = ", ".join(escape(str(t["host"])) for t in r.top[:3])
        out.print(
            f"{r.window}: {r.status} — {r.hosts:,} hosts, {r.edges:,} edges, "
            f"{r.communities} communities, betweenness "
            f"{'exact' if r.betweenness_exact else f'sampled (k={r.betweenness_k})'}, "
            f"{r.seconds:.1f} s; top PageRank: {top}"
        )


@app.command()
def shifts(
    window: WindowOpt = None,
    top: Annotated[int, typer.Option(help="How many hosts to list.")] = 20,
    history: Annotated[int, typer.Option(help="Earlier windows to compare with.")] = 4,
    as_json: JsonOpt = False,
) -> None:
    """Hosts whose role in the graph changed, scored against their own history."""
    from graphnet import shifts as shifts_mod

    with errors(), _store() as store:
        rep = shifts_mod.shifts(store, window=window, top=top, history=history)
    if as_json:
        _print_json(rep.to_json())
        return
    out.print(f"{rep.window}: {escape(rep.message)}")
    for r in rep.rows:
        out.print(f"{r.rank:>3}. {escape(r.host)}  score {r.score:.2f}")
        out.print(f"     {escape(r.explanation)}")


BaselineOpt = Annotated[
    int, typer.Option("--baseline", help="Earlier windows that make the fingerprints.")
]


@app.command()
def fingerprint(
    window: WindowOpt = None,
    all_windows: Annotated[
        bool, typer.Option("--all", help="Every window that has earlier windows.")
    ] = False,
    baseline: BaselineOpt = 4,
    as_json: JsonOpt = False,
) -> None:
    """Per-pair fingerprints (what a conversation usually looks like) from earlier windows."""
    from graphnet import fingerprints

    if window and all_windows:
        err.print("error: give --window or --all, not both")
        raise typer.Exit(2)
    settings = Settings.from_env()
    with errors(), _store() as store, err.status("building fingerprints"):
        results = fingerprints.fingerprint(
            store, settings, window=window, all_windows=all_windows, baseline=baseline
        )
    if as_json:
        _print_json([r.to_json() for r in results])
        return
    for r in results:
        out.print(
            f"as of {r.as_of}: {r.pairs:,} pairs from {', '.join(r.windows)} "
            f"({r.conns:,.0f} connections), {r.stored:,} fingerprints stored, {r.seconds:.1f} s"
        )


@app.command()
def score(
    window: WindowOpt = None,
    threshold: Annotated[
        float, typer.Option(help="Conversation novelty (0-1) that makes a finding.")
    ] = 0.5,
    top_k: Annotated[
        int | None, typer.Option("--top-k", help="At most this many findings per window.")
    ] = None,
    baseline: BaselineOpt = 4,
    as_json: JsonOpt = False,
) -> None:
    """Score every connection of a window against the fingerprints of earlier windows."""
    from graphnet import scoring

    settings = Settings.from_env()
    with errors(), _store() as store, err.status("scoring connections"):
        res = scoring.score_window(
            store, window, settings, baseline=baseline, threshold=threshold, top_k=top_k
        )
    if as_json:
        _print_json(res.to_json())
        return
    data = res.to_json(limit=20)
    out.print(
        f"{data['window']}: {data['connections']:,} connections in {data['pairs']:,} pairs "
        f"scored against {', '.join(data['baseline_windows'])}; "
        f"{data['findings_total']} novel conversations"
    )
    for f in data["findings"]:
        out.print(f"{f['score']:.2f}  {escape(f['explanation'])}")


@app.command()
def paths(
    window: WindowOpt = None,
    max_gap: Annotated[
        float, typer.Option("--max-gap", help="Seconds between one hop and the next.")
    ] = 3600.0,
    max_hops: Annotated[int, typer.Option("--max-hops", help="Longest path.")] = 4,
    as_json: JsonOpt = False,
) -> None:
    """Deviating paths: chains of connections each novel for its pair (lateral movement)."""
    from graphnet import paths as paths_mod

    settings = Settings.from_env()
    with errors(), _store() as store, err.status("chaining novel hops"):
        found = paths_mod.find_paths(store, window, settings, max_gap=max_gap, max_hops=max_hops)
    if as_json:
        _print_json([p.to_json() for p in found])
        return
    if not found:
        out.print("no deviating paths")
    for p in found:
        data = p.to_json()
        out.print(f"{data['score']:.2f}  {escape(' → '.join(data['hosts']))}")
        out.print(f"      {escape(data['explanation'])}")


@app.command("findings")
def findings_cmd(
    window: WindowOpt = None,
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            help="centrality_shift, novel_connection, deviating_path, suspicious_connect, "
            "volume_anomaly or first_behaviour.",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Findings stored in Neo4j, highest score first."""
    from graphnet import findings as findings_mod

    if kind is not None and kind not in findings_mod.KINDS:
        err.print(f"error: unknown kind {escape(kind)!r}")
        err.print(f"hint: use one of {', '.join(findings_mod.KINDS)}")
        raise typer.Exit(2)
    with errors(), _store() as store:
        found = findings_mod.load(store, window=window, kind=kind, limit=limit)
    if as_json:
        _print_json([f.to_json() for f in found])
        return
    if not found:
        out.print("no findings (run the analyses: graphnet demo, or snapshot/shifts/score/paths)")
    for f in found:
        out.print(
            f"{f.score:7.2f}  {f.kind:<18} {f.window}  {escape(' → '.join(f.hosts))}  "
            f"[{f.status}] {f.id}"
        )
        out.print(f"         {escape(f.explanation)}")


feedback_app = typer.Typer(
    help="Analyst verdicts: benign behaviour is learned as normal, reversibly.",
    no_args_is_help=True,
)
app.add_typer(feedback_app, name="feedback")


def _feedback(
    verdict: str,
    finding: str | None,
    src: str | None,
    dst: str | None,
    port: int | None,
    service: str | None,
    scope: str | None,
    window: str | None,
    why: str,
    as_json: bool,
) -> None:
    from graphnet import feedback as feedback_mod

    with errors(), _store() as store:
        fb = feedback_mod.add_feedback(
            store,
            verdict,
            finding=finding,
            src=src,
            dst=dst,
            port=port,
            service=service,
            scope=scope,
            why=why,
            window=window,
            settings=Settings.from_env(),
        )
    if as_json:
        _print_json(fb.to_json())
    else:
        out.print(f"recorded {fb.id}: {escape(fb.describe())}")


FindingOpt = Annotated[str | None, typer.Option("--finding", help="Finding id.")]
SrcOpt = Annotated[str | None, typer.Option("--src", help="Source host.")]
DstOpt = Annotated[str | None, typer.Option("--dst", help="Destination host.")]
PortOpt = Annotated[int | None, typer.Option("--port", help="Destination port.")]
ServiceOpt = Annotated[str | None, typer.Option("--service", help="Service, e.g. ssh.")]
ScopeOpt = Annotated[
    str | None, typer.Option("--scope", help="pair, src, dst_service or subnet_pair.")
]
WhyOpt = Annotated[str, typer.Option("--why", help="Reason, kept with the verdict.")]


@feedback_app.command("benign")
def feedback_benign(
    finding: FindingOpt = None,
    src: SrcOpt = None,
    dst: DstOpt = None,
    port: PortOpt = None,
    service: ServiceOpt = None,
    scope: ScopeOpt = None,
    window: WindowOpt = None,
    why: WhyOpt = "",
    as_json: JsonOpt = False,
) -> None:
    """Mark a finding (or matching behaviour) benign: later windows treat it as normal."""
    _feedback("benign", finding, src, dst, port, service, scope, window, why, as_json)


@feedback_app.command("malicious")
def feedback_malicious(
    finding: FindingOpt = None,
    src: SrcOpt = None,
    dst: DstOpt = None,
    port: PortOpt = None,
    service: ServiceOpt = None,
    scope: ScopeOpt = None,
    window: WindowOpt = None,
    why: WhyOpt = "",
    as_json: JsonOpt = False,
) -> None:
    """Confirm a finding (or matching behaviour) as malicious."""
    _feedback("malicious", finding, src, dst, port, service, scope, window, why, as_json)


@feedback_app.command("list")
def feedback_list(as_json: JsonOpt = False) -> None:
    """All recorded verdicts, oldest first."""
    from graphnet import feedback as feedback_mod

    with errors(), _store() as store:
        items = feedback_mod.list_feedback(store)
    if as_json:
        _print_json([f.to_json() for f in items])
        return
    if not items:
        out.print("no feedback recorded")
    for f in items:
        out.print(f"{f.id}  {escape(f.describe())}  {escape(f.why)}")


@feedback_app.command("remove")
def feedback_remove(feedback_id: Annotated[str, typer.Argument(help="Feedback id.")]) -> None:
    """Remove a verdict; scores return to what they were without it."""
    from graphnet import feedback as feedback_mod

    with errors(), _store() as store:
        fb = feedback_mod.remove_feedback(store, feedback_id)
    if fb is None:
        err.print(f"error: no feedback {escape(feedback_id)}")
        err.print("hint: graphnet feedback list shows the ids")
        raise typer.Exit(1)
    out.print(f"removed {fb.id}: {escape(fb.describe())}")


@contextmanager
def _archive_errors() -> Iterator[None]:
    """Detectors that read the connection archive raise ValueError when it is empty."""
    try:
        yield
    except ValueError as exc:
        err.print(f"error: {escape(str(exc))}")
        err.print("hint: ingest logs first (graphnet ingest PATH); detectors read their archive")
        raise typer.Exit(2) from None


@app.command()
def lda(window: WindowOpt = None, top: TopOpt = 20, as_json: JsonOpt = False) -> None:
    """Spot-style suspicious connects: per-host LDA topic model over flow words."""
    from graphnet.detectors import lda as lda_mod

    settings = Settings.from_env()
    with errors(), _archive_errors(), _store() as store, err.status("fitting the topic model"):
        scored = lda_mod.lda_window(store, window, settings)
    report = lda_mod.lda_report(scored, top=top)
    if as_json:
        _print_json(report)
        return
    if scored.empty:
        out.print("no connections scored")
        return
    for _, r in scored.sort_values("score", ascending=False).head(top).iterrows():
        out.print(f"{r['score']:6.1f}  {escape(str(r['explanation']))}")


@app.command()
def volume(window: WindowOpt = None, top: TopOpt = 20, as_json: JsonOpt = False) -> None:
    """Per-host traffic volume against its baselines (mean +- 3 sigma, density, regression)."""
    from graphnet.detectors import volume as volume_mod

    settings = Settings.from_env()
    with errors(), _archive_errors(), _store() as store, err.status("fitting baselines"):
        res = volume_mod.volume_window(store, window, settings)
    if as_json:
        _print_json(res.to_json(top=top))
        return
    out.print(
        f"{res.window}: {len(res.findings)} volume anomalies "
        f"({res.alerts_per_day:.1f} per day), baselines fitted on {escape(res.fit_on)}"
    )
    for f in res.findings[:top]:
        out.print(f"{f.score:6.2f}  {escape(f.explanation)}")


@app.command()
def behaviour(window: WindowOpt = None, top: TopOpt = 20, as_json: JsonOpt = False) -> None:
    """First-time behaviour: hosts that did something in the window they never did before."""
    from graphnet.detectors import behaviour as behaviour_mod

    settings = Settings.from_env()
    with errors(), _archive_errors(), _store() as store, err.status("learning the history"):
        res = behaviour_mod.behaviour_window(store, window, settings)
    if as_json:
        _print_json([f.to_json() for f in res.findings[:top]])
        return
    out.print(
        f"{res.window}: {len(res.findings)} hosts did something for the first time "
        f"({res.alerts} scoring {res.alert_score:g} or more), learned from "
        f"{len(res.history)} earlier windows"
    )
    for f in res.findings[:top]:
        out.print(f"{f.score:6.2f}  {escape(f.explanation)}")


@app.command()
def risk(
    window: WindowOpt = None,
    top: TopOpt = 20,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Re-run the detectors instead of reading findings.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Combined host risk ranking over every detector, with who contributed."""
    from graphnet import risk as risk_mod

    settings = Settings.from_env()
    with errors(), _archive_errors(), _store() as store:
        res = risk_mod.risk_window(store, window, settings, fresh=fresh)
    data = res.to_json(top=top)
    if as_json:
        _print_json(data)
        return
    out.print(f"{res.window}: {res.hosts:,} hosts ranked by {', '.join(res.detectors)}")
    for row in data["top"]:
        out.print(f"{row['rank']:>3}. {escape(row['host'])}  risk {row['risk']:.1f}")
        out.print(f"     {escape(str(row['explanation']))}")


@app.command()
def evaluate(
    truth: Annotated[
        Path | None,
        typer.Option(
            "--truth",
            help="truth.json of `graphnet generate` (default: the label "
            "columns of the ingested logs).",
        ),
    ] = None,
    window: WindowOpt = None,
    k: Annotated[int, typer.Option(help="k of precision at k.")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Every detector against ground truth: host ranks, ROC AUC, AP, precision@k, alerts/day."""
    from graphnet import evaluate as evaluate_mod

    settings = Settings.from_env()
    if truth is not None and not truth.is_file():
        err.print(f"error: no such file: {escape(str(truth))}")
        raise typer.Exit(2)
    with errors(), _archive_errors(), _store() as store, err.status("evaluating"):
        data = evaluate_mod.evaluate(store, truth, window, settings, k=k)
    if as_json:
        _print_json(data)
        return
    out.print(f"window {data.get('window')}")
    for name, d in (data.get("detectors") or {}).items():
        out.print(
            f"  {name:>20}: AUC {d.get('auc')}, AP {d.get('ap')}, "
            f"P@{d.get('k')} {d.get('precision_at_k')}, alerts/day {d.get('alerts_per_day')}"
        )
        ranks = d.get("host_ranks") or {}
        if ranks:
            out.print(
                "                        host ranks: "
                + escape(", ".join(f"{h} {r}" for h, r in list(ranks.items())[:6]))
            )


@app.command()
def demo(
    weeks: Annotated[int, typer.Option(help="Weeks of traffic.")] = 4,
    hosts: Annotated[int, typer.Option(help="Internal hosts.")] = 120,
    seed: Annotated[int, typer.Option(help="Random seed of the generated network.")] = 7,
    scale: Annotated[
        int | None, typer.Option(help="Connections per working day (default: realistic).")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Where the generated logs go.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Generate a 4-week network with planted attacks, ingest it, run every analysis, and
    show what was found next to the ground truth."""
    from graphnet import browser
    from graphnet import demo as demo_mod

    settings = Settings.from_env()
    interactive = _interactive(False, as_json)
    with errors(), _store() as store:
        if interactive:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rows]:,} rows"),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            ) as p:
                step = p.add_task("demo", total=None, rows=0)
                result = demo_mod.run_demo(
                    store,
                    settings,
                    out_dir,
                    weeks,
                    hosts,
                    seed,
                    scale,
                    progress=lambda msg: p.update(step, description=escape(msg)),
                    ingest_progress=_rich_ingest_progress(p),
                )
        else:
            result = demo_mod.run_demo(
                store,
                settings,
                out_dir,
                weeks,
                hosts,
                seed,
                scale,
                progress=lambda msg: err.print(escape(msg)),
            )
    if as_json:
        _print_json(result.to_json())
        return
    _print_demo(result, browser.browser_info(settings))


def _print_demo(result: Any, info: dict[str, Any]) -> None:
    out.print(
        f"[bold]graphnet demo[/bold]: {result.records:,} connections over "
        f"{len(result.windows)} weeks ({', '.join(result.windows)}); generated in "
        f"{result.generated_seconds:.0f} s, ingested in {result.ingest_seconds:.0f} s, "
        f"analysed in {result.analysis_seconds:.0f} s"
    )
    table = Table(title="Findings per window", show_edge=False)
    table.add_column("window")
    kinds = sorted({k for c in result.findings_per_window.values() for k, n in c.items() if n})
    for k in kinds:
        table.add_column(k, justify="right")
    for w, c in result.findings_per_window.items():
        table.add_row(w, *[str(c.get(k, 0)) for k in kinds])
    out.print(table)
    failed = [(w, o) for w, outs in result.steps.items() for o in outs if o["status"] == "failed"]
    for w, o in failed:
        err.print(f"analysis {o['name']} of {w} failed: {escape(o['message'])}")
    out.print("[bold]Planted scenarios (ground truth) and what graphnet found[/bold]")
    for d in result.detections:
        who = escape(", ".join(d.hosts[:3]) + (" ..." if len(d.hosts) > 3 else ""))
        if d.found:
            out.print(
                f"  [green]found[/green]  {escape(d.type)} in {d.window} ({who}): {d.kind}, "
                f"rank {d.rank} of {d.of}"
            )
            out.print(f"         {escape(d.explanation[:300])}")
        else:
            out.print(f"  [red]missed[/red] {escape(d.type)} in {d.window} ({who})")
    found = sum(1 for d in result.detections if d.found)
    top3 = sum(1 for d in result.detections if d.found and (d.rank or 99) <= 3)
    out.print(
        f"{found} of {len(result.detections)} planted scenarios found, {top3} of them in the top 3 "
        "of their kind"
    )
    if result.report:
        out.print(f"report: {escape(result.report)}")
    out.print(f"Neo4j Browser: {escape(str(info.get('url') or 'address unknown'))}")
    out.print(f"  user {escape(str(info['user']))}, password {escape(str(info['password']))}")
    attack = next((d for d in result.detections if d.type == "attack_server"), None)
    from graphnet.shifts import cypher_literal

    host = cypher_literal(attack.hosts[0] if attack and attack.hosts else "HOST")
    win = cypher_literal(attack.window if attack else (result.windows or ["WINDOW"])[-1])
    queries = [
        "// the attacker's neighbourhood in its attack week\n"
        f"MATCH (h:Host {{id: {host}}})-[r:TALKED {{window: {win}}}]-(p) RETURN h, r, p LIMIT 300",
        "// its centrality history\n"
        f"MATCH (s:Snapshot)-[m:MEASURED]->(h:Host {{id: {host}}})\n"
        "RETURN s.window, m.out_degree, m.peers, m.dports_out, m.pagerank ORDER BY s.window",
        f"// the findings of {win}\n"
        f"MATCH (f:Finding {{window: {win}}})-[:ABOUT]->(h:Host) RETURN f, h "
        "ORDER BY f.score DESC LIMIT 50",
    ]
    out.print("Paste into Browser:")
    for q in queries:
        sys.stdout.flush()
        out.print(escape(q), markup=True)
        out.print()
    out.print("More saved queries: graphnet browser")


# --------------------------------------------------------------------------------------------
# scheduler, reports, browser
# --------------------------------------------------------------------------------------------
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
        sys.stdout.write(scheduler.status_text(entries) + "\n")


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
        out.print(f"{escape(job)}: {rec['outcome']} — {escape(str(rec.get('message') or ''))}")
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
    out.print(f"report: {escape(str(paths['html']))}")
    out.print(f"        {escape(str(paths['markdown']))}, {escape(str(paths['json']))}")


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
        sys.stdout.write(browser.browser_text(info) + "\n")


if __name__ == "__main__":  # pragma: no cover
    app()
