"""`graphnet demo`: generate, ingest and analyse a network with planted attacks, and show what
was found next to the ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from graphnet.cli.common import (
    JsonOpt,
    _interactive,
    _print_json,
    _store,
    app,
    err,
    errors,
    out,
    shown,
)
from graphnet.cli.progress import progress_bar, rich_ingest_progress
from graphnet.config import Settings


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
            with progress_bar() as p:
                step = p.add_task("demo", total=None, rows=0)
                result = demo_mod.run_demo(
                    store,
                    settings,
                    out_dir,
                    weeks,
                    hosts,
                    seed,
                    scale,
                    progress=lambda msg: p.update(step, description=shown(msg)),
                    ingest_progress=rich_ingest_progress(p),
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
                progress=lambda msg: err.print(shown(msg)),
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
        err.print(f"analysis {shown(o['name'])} of {shown(w)} failed: {shown(o['message'])}")
    out.print("[bold]Planted scenarios (ground truth) and what graphnet found[/bold]")
    for d in result.detections:
        who = shown(", ".join(d.hosts[:3]) + (" ..." if len(d.hosts) > 3 else ""))
        if d.found:
            out.print(
                f"  [green]found[/green]  {shown(d.type)} in {shown(d.window)} ({who}): "
                f"{shown(d.kind)}, "
                f"rank {d.rank} of {d.of}"
            )
            out.print(f"         {shown(d.explanation[:300])}")
        else:
            out.print(f"  [red]missed[/red] {shown(d.type)} in {shown(d.window)} ({who})")
    found = sum(1 for d in result.detections if d.found)
    top3 = sum(1 for d in result.detections if d.found and (d.rank or 99) <= 3)
    out.print(
        f"{found} of {len(result.detections)} planted scenarios found, {top3} of them in the top 3 "
        "of their kind"
    )
    if result.report:
        out.print(f"report: {shown(result.report)}")
    out.print(f"Neo4j Browser: {shown(str(info.get('url') or 'address unknown'))}")
    out.print(f"  user {shown(str(info['user']))}, password {shown(str(info['password']))}")
    attack = next((d for d in result.detections if d.type == "attack_server"), None)
    from graphnet.findings import cypher_literal

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
    for q in queries:  # the host and window are Cypher literals: control characters escaped
        for line in q.splitlines():
            out.print(shown(line))
        out.print()
    out.print("More saved queries: graphnet browser")
