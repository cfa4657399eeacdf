"""`graphnet neo4j ...`: graphnet's own local Neo4j server."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from graphnet.cli.common import _print_json, app, err, errors, inert, out, shown
from graphnet.config import graphnet_home
from graphnet.errors import GraphnetError

neo4j_app = typer.Typer(help="graphnet's own local Neo4j server.", no_args_is_help=True)
app.add_typer(neo4j_app, name="neo4j")

HomeOpt = Annotated[
    Path | None,
    typer.Option(
        "--home", help="graphnet home (default $GRAPHNET_HOME or ~/.local/share/graphnet)."
    ),
]
InstanceOpt = Annotated[
    str,
    typer.Option(
        "--instance",
        envvar="GRAPHNET_NEO4J_INSTANCE",
        help="Instance name under the home (the one the other commands use).",
    ),
]


@neo4j_app.command("install")
def neo4j_install(home: HomeOpt = None) -> None:
    """Download Neo4j 5.26 Community and Neo4j Browser from Maven Central (once)."""
    from graphnet import neo4j_local

    with errors(), err.status("installing Neo4j from Maven Central (first time: a few minutes)"):
        inst = neo4j_local.install(home or graphnet_home())
    out.print(
        f"Neo4j {shown(inst.version)} (Browser {shown(inst.browser_version)}) installed in "
        f"{shown(inst.dist_dir)}"
    )


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
    out.print(f"Neo4j {shown(st.version)} running (pid {st.pid}; {shown(st.message)})")
    out.print(f"  bolt:    {shown(st.bolt_uri)}")
    out.print(
        f"  browser: {shown(st.browser_url)}  (user neo4j, password in "
        f"{shown(neo4j_local.reveal_password_path(h, instance))})"
    )


@neo4j_app.command("stop")
def neo4j_stop(home: HomeOpt = None, instance: InstanceOpt = "default") -> None:
    """Stop the local Neo4j (data is kept)."""
    from graphnet import neo4j_local

    with errors():
        st = neo4j_local.stop(home or graphnet_home(), instance)
    out.print(f"Neo4j: {shown(st.message)}")


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
            out.print(f"{k:>14}: {shown(str(v))}")
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
        text = neo4j_local.logs(home or graphnet_home(), instance, lines)
    # the server logs values it was given (host ids in errors): their lines stay lines
    sys.stdout.write(inert(text, keep="\n\t"))


@neo4j_app.command("password")
def neo4j_password(home: HomeOpt = None, instance: InstanceOpt = "default") -> None:
    """Show the local Neo4j password (only on this explicit request)."""
    from graphnet import neo4j_local

    with errors():
        path = neo4j_local.reveal_password_path(home or graphnet_home(), instance)
        if not path.exists():
            raise GraphnetError("no password yet", hint="start Neo4j first: graphnet neo4j start")
        sys.stdout.write(path.read_text().strip() + "\n")
