"""`graphnet feedback ...`: analyst verdicts on findings."""

from __future__ import annotations

from typing import Annotated

import typer

from graphnet.cli.common import (
    JsonOpt,
    WindowOpt,
    _print_json,
    _store,
    app,
    err,
    errors,
    out,
    shown,
)
from graphnet.config import Settings

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
        out.print(f"recorded {shown(fb.id)}: {shown(fb.describe())}")


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
        out.print(f"{shown(f.id)}  {shown(f.describe())}  {shown(f.why)}")


@feedback_app.command("remove")
def feedback_remove(feedback_id: Annotated[str, typer.Argument(help="Feedback id.")]) -> None:
    """Remove a verdict; scores return to what they were without it."""
    from graphnet import feedback as feedback_mod

    with errors(), _store() as store:
        fb = feedback_mod.remove_feedback(store, feedback_id)
    if fb is None:
        err.print(f"error: no feedback {shown(feedback_id)}")
        err.print("hint: graphnet feedback list shows the ids")
        raise typer.Exit(1)
    out.print(f"removed {shown(fb.id)}: {shown(fb.describe())}")
