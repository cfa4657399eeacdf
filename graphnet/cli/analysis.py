"""The analyses: every detector on its own (snapshot, shifts, fingerprint, novelty, paths,
lda, volume, behaviour), `analyse` (all of them through the pipeline), the stored findings,
`risk` and `evaluate`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from graphnet.cli.common import (
    JsonOpt,
    TopOpt,
    WindowOpt,
    _archive_errors,
    _detail,
    _print_json,
    _run,
    _store,
    app,
    err,
    errors,
    out,
    shown,
)
from graphnet.config import Settings


@app.command()
def snapshot(
    window: WindowOpt = None,
    all_windows: Annotated[
        bool, typer.Option("--all", help="Every window without an up-to-date snapshot.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Centrality snapshot of the host graph per window (PageRank, betweenness, HITS, ...)."""
    from graphnet.detectors import snapshots

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
        top = shown(", ".join(str(t["host"]) for t in r.top[:3]))
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
    from graphnet.detectors import shifts as shifts_mod

    opts = (shifts_mod.ShiftOptions(top=top, history=history),)
    rep = _detail(_run("shifts", window, opts), shifts_mod.ShiftReport)
    if as_json:
        _print_json(rep.to_json())
        return
    out.print(f"{rep.window}: {shown(rep.message)}")
    for r in rep.rows:
        out.print(f"{r.rank:>3}. {shown(r.host)}  score {r.score:.2f}")
        out.print(f"     {shown(r.explanation)}")


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
    from graphnet.detectors.novelty import baseline as baseline_mod

    if window and all_windows:
        err.print("error: give --window or --all, not both")
        raise typer.Exit(2)
    settings = Settings.from_env()
    with errors(), _store() as store, err.status("building fingerprints"):
        results = baseline_mod.fingerprint(
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


ThresholdOpt = Annotated[
    float, typer.Option(help="Conversation novelty (0-1) that makes a finding.")
]
TopKOpt = Annotated[
    int | None, typer.Option("--top-k", help="At most this many findings per window.")
]


@app.command()
def novelty(
    window: WindowOpt = None,
    threshold: ThresholdOpt = 0.5,
    top_k: TopKOpt = None,
    baseline: BaselineOpt = 4,
    as_json: JsonOpt = False,
) -> None:
    """Score every connection of a window against the fingerprints of earlier windows."""
    from graphnet.detectors.novelty import scoring

    opts = (scoring.NoveltyOptions(baseline=baseline, threshold=threshold, top_k=top_k),)
    res = _detail(_run("novelty", window, opts, "scoring connections"), scoring.ScoreResult)
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
        out.print(f"{f['score']:.2f}  {shown(f['explanation'])}")


# the earlier name of `graphnet novelty`, still accepted
app.command("score", hidden=True)(novelty)


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
    from graphnet.detectors.novelty import paths as paths_mod

    opts = (paths_mod.PathOptions(max_gap=max_gap, max_hops=max_hops),)
    found = _detail(_run("paths", window, opts, "chaining novel hops"), paths_mod.PathsResult)
    if as_json:
        _print_json(found.to_json())
        return
    if not found.paths:
        out.print("no deviating paths")
    for p in found.paths:
        data = p.to_json()
        out.print(f"{data['score']:.2f}  {shown(' → '.join(data['hosts']))}")
        out.print(f"      {shown(data['explanation'])}")


@app.command("findings")
def findings_cmd(
    window: WindowOpt = None,
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            help="centrality_shift, novel_connection, deviating_path, suspicious_connect, "
            "volume_anomaly, first_behaviour, beacon, long_connection, strobe, suspicious_dns, "
            "suspicious_http or dns_tunnel.",
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(help="A flat list of at most this many, highest score first (--json: 50)."),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every group of hosts and conversations, in full.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Findings stored in Neo4j, grouped by host and by conversation, the groups to look at
    first on top (`--all`: every group; `--limit N`: a flat list, highest score first)."""
    from graphnet import findings as findings_mod
    from graphnet.grouping import Grouped

    if kind is not None and kind not in findings_mod.KINDS:
        err.print(f"error: unknown kind '{shown(kind)}'")
        err.print(f"hint: use one of {', '.join(findings_mod.KINDS)}")
        raise typer.Exit(2)
    flat = limit is not None or as_json
    with errors(), _store() as store:
        found = findings_mod.load(
            store, window=window, kind=kind, limit=(limit or 50) if flat and not every else None
        )
    if as_json:
        _print_json([f.to_json() for f in found])
        return
    if not found:
        out.print("no findings (analyse the window first: graphnet analyse --window W)")
    if limit is not None and not every:
        for f in found:
            _finding_lines(f)
        return
    grouped = Grouped.of(found)
    _print_groups(grouped if every else grouped.top(), grouped, detail=every)
    if not every and found:
        hidden = grouped.findings - grouped.top().shown_findings()
        if hidden > 0:
            where = f" --window {shown(window)}" if window else ""
            out.print(
                f"{hidden} more finding(s) in {len(grouped.hosts) - len(grouped.top().hosts)} "
                f"more host group(s): graphnet findings{where} --all"
            )


def _finding_lines(f: Any, indent: str = "") -> None:
    out.print(
        f"{indent}{f.score:7.2f}  {f.kind:<18} {shown(f.window)}  {shown(' → '.join(f.hosts))}  "
        f"{shown(f'[{f.status}]')} {shown(f.id)}"
    )
    out.print(f"{indent}         {shown(f.explanation)}")


def _print_groups(groups: Any, everything: Any, detail: bool = False) -> None:
    """The ranked host and conversation groups (`grouping.Grouped`), each with its best
    finding, or every finding with `detail`; every log-made string shown inert."""
    for title, rows, total in (
        ("hosts to look at first", groups.hosts, everything.hosts),
        ("conversations to look at first", groups.conversations, everything.conversations),
    ):
        if not rows:
            continue
        windows = sorted({g.window for g in total})
        for w in windows:
            mine = [g for g in rows if g.window == w]
            of = sum(1 for g in total if g.window == w)
            out.print(f"{shown(w)}: {title} ({len(mine)} of {of})")
            for g in mine:
                n = len(g.findings)
                out.print(
                    f"{g.rank:>4}. {shown(' → '.join(g.hosts))}  score {g.score:.2f}, "
                    f"{n} finding{'s' if n != 1 else ''} from {shown(', '.join(g.detectors))}"
                )
                for f in g.findings if detail else g.findings[:1]:
                    _finding_lines(f, "      ")


@app.command()
def lda(window: WindowOpt = None, top: TopOpt = 20, as_json: JsonOpt = False) -> None:
    """Spot-style suspicious connects: per-host LDA topic model over flow words."""
    from graphnet.detectors import lda as lda_mod

    res = _detail(_run("lda", window, status="fitting the topic model"), lda_mod.LdaResult)
    if as_json:
        _print_json(res.to_json(top=top))
        return
    if res.scored.empty:
        out.print("no connections scored")
        return
    for _, r in res.scored.head(top).iterrows():
        out.print(f"{r['score']:6.1f}  {shown(str(r['explanation']))}")


@app.command()
def volume(window: WindowOpt = None, top: TopOpt = 20, as_json: JsonOpt = False) -> None:
    """Per-host traffic volume against its baselines (mean +- 3 sigma, density, regression)."""
    from graphnet.detectors import volume as volume_mod

    res = _detail(_run("volume", window, status="fitting baselines"), volume_mod.VolumeResult)
    if as_json:
        _print_json(res.to_json(top=top))
        return
    out.print(
        f"{res.window}: {len(res.findings)} volume anomalies "
        f"({res.alerts_per_day:.1f} per day), baselines fitted on {shown(res.fit_on)}"
    )
    for f in res.findings[:top]:
        out.print(f"{f.score:6.2f}  {shown(f.explanation)}")


@app.command()
def behaviour(window: WindowOpt = None, top: TopOpt = 20, as_json: JsonOpt = False) -> None:
    """First-time behaviour: hosts that did something in the window they never did before."""
    from graphnet.detectors import behaviour as behaviour_mod

    res = _detail(
        _run("behaviour", window, status="learning the history"), behaviour_mod.BehaviourResult
    )
    if as_json:
        _print_json([f.to_json() for f in res.findings[:top]])
        return
    out.print(
        f"{res.window}: {len(res.findings)} hosts did something for the first time "
        f"({res.alerts} scoring {res.alert_score:g} or more), learned from "
        f"{len(res.history)} earlier windows"
    )
    for f in res.findings[:top]:
        out.print(f"{f.score:6.2f}  {shown(f.explanation)}")


#: exit code of `graphnet analyse` when a step failed (the others still ran)
ANALYSIS_FAILED = 8


def _step_line(window: str, name: str, outcome: Any) -> str:
    colour = {"ok": "green", "skipped": "yellow", "failed": "red"}[outcome.status]
    return (
        f"{window}  {name:<15} [{colour}]{outcome.status:<7}[/{colour}] "
        f"{outcome.seconds:6.1f} s  {shown(outcome.message)}"
    )


@app.command()
def analyse(
    window: WindowOpt = None,
    all_windows: Annotated[
        bool, typer.Option("--all", help="Every window not analysed yet (or changed since).")
    ] = False,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            help="Only these steps, in pipeline order (repeat, or separate with commas): "
            "snapshot, shifts, fingerprints, novelty, paths, lda, volume, behaviour, "
            "beacon, long_connection, strobe, suspicious_dns, suspicious_http, dns_tunnel, "
            "browser_labels.",
        ),
    ] = None,
    top: Annotated[
        int,
        typer.Option(
            "--top", help="Host and conversation groups shown per window (findings --all: all)."
        ),
    ] = 5,
    as_json: JsonOpt = False,
) -> None:
    """Run every analysis of a window (default: the latest), or of every window that needs
    one, in one process: snapshot, shifts, fingerprints, novelty, paths, lda, volume,
    behaviour, beacon, long connections, strobes, the dns and http methods, Browser labels;
    then show the hosts and conversations to look at first (the
    findings grouped and ranked; every one: `graphnet findings --window W --all`), or why
    there is none. `graphnet risk` and `graphnet report` then use the results."""
    from graphnet import pipeline

    if window and all_windows:
        err.print("error: give --window or --all, not both")
        raise typer.Exit(2)
    names = [n.strip() for part in only or [] for n in part.split(",") if n.strip()]
    settings = Settings.from_env()
    show = not as_json and err.is_terminal

    def on_step(w: str, step: Any, outcome: Any) -> None:
        if outcome is None:
            status.update(f"{w}: {step.name} ({step.description})")
        else:
            err.print(_step_line(w, step.name, outcome))

    with errors(), _store() as store:
        with err.status("analysing") if show else _nothing() as status:
            res = pipeline.analyse(
                store,
                settings,
                window=window,
                all_windows=all_windows,
                only=names or None,
                on_step=on_step if show else None,
            )
    if as_json:
        _print_json(res.to_json())
    else:
        if res.message:
            out.print(shown(res.message))
        for w in res.windows:
            if not show:
                for o in w.outcomes:
                    out.print(_step_line(w.window, o.name, o))
            counts = {
                k: sum(1 for o in w.outcomes if o.status == k) for k in ("ok", "skipped", "failed")
            }
            text = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
            out.print(f"{w.window}: {text} in {w.seconds:.1f} s")
            _print_answer(w, top)
    if res.failed:
        failed = [f"{o.name} of {w.window}" for w in res.windows for o in w.failed]
        err.print(f"error: {len(failed)} step(s) failed: {shown(', '.join(failed))}")
        err.print(
            "hint: the message of each is above (-v shows the traceback); fix it and run "
            "`graphnet analyse --all` again: it re-runs windows whose analysis failed"
        )
        raise typer.Exit(ANALYSIS_FAILED)


def _print_answer(w: Any, top: int) -> None:
    """A window's answer: its top groups of findings, or why it has none."""
    why = w.why_empty()
    if why:
        out.print(shown(why))
        return
    grouped = w.grouped()
    if top <= 0:
        return
    shown_top = grouped.top(top)
    _print_groups(shown_top, grouped)
    rest = grouped.findings - shown_top.shown_findings()
    if rest > 0:
        out.print(
            f"{rest} more finding(s) of {grouped.findings}: graphnet findings --window "
            f"{shown(w.window)} --all"
        )


@contextmanager
def _nothing() -> Iterator[Any]:
    class _Quiet:
        def update(self, *_: Any) -> None:
            pass

    yield _Quiet()


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
        out.print(f"{row['rank']:>3}. {shown(row['host'])}  risk {row['risk']:.1f}")
        out.print(f"     {shown(str(row['explanation']))}")


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
    from graphnet.evaluation import harness as evaluate_mod

    settings = Settings.from_env()
    if truth is not None and not truth.is_file():
        err.print(f"error: no such file: {shown(str(truth))}")
        raise typer.Exit(2)
    with errors(), _archive_errors(), _store() as store, err.status("evaluating"):
        data = evaluate_mod.evaluate(store, truth, window, settings, k=k)
    if as_json:
        _print_json(data)
        return
    out.print(f"window {shown(data.get('window'))}")
    for name, d in (data.get("detectors") or {}).items():
        out.print(
            f"  {name:>20}: AUC {d.get('auc')}, AP {d.get('ap')}, "
            f"P@{d.get('k')} {d.get('precision_at_k')}, alerts/day {d.get('alerts_per_day')}"
        )
        ranks = d.get("host_ranks") or {}
        if ranks:
            out.print(
                "                        host ranks: "
                + shown(", ".join(f"{h} {r}" for h, r in list(ranks.items())[:6]))
            )
