"""The analysis pipeline: the only runner of the registry's steps.

`analyse` runs the steps of `graphnet.detectors.registry.default_steps()` over one or more
windows, in registry order (which puts every step after the steps it needs), and records each
step's outcome and time. The CLI (`graphnet analyse` and the per-detector commands), the
scheduler, the demo, `graphnet risk --fresh` and the evaluation all call it.

Per step: the pipeline builds the step's context (the window, settings, both doors, the runs of
the steps before it in this pass), calls `step.run(ctx)`, saves the findings it returns
(replacing the window's earlier unreviewed findings of that kind), and records

- `ok` with the step's one-line summary,
- `skipped` when the step raised `NotEnoughHistory` (the reason is kept: no earlier window, no
  snapshot, ...) or a step it needs did not succeed in this pass,
- `failed` for any other error (logged with its traceback); the next steps still run.

A whole-registry analysis of a window with saving on is recorded on the window's
`(:WindowAnalysis)` node (size analysed, status, steps as JSON), which is how `analyse --all`
and the scheduler know which windows still need one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphnet import findings as findings_mod
from graphnet.archive import Archive, TimeSplit
from graphnet.config import Settings
from graphnet.detectors.contract import Context, DetectorRun, Status, Step
from graphnet.detectors.registry import FORMER_NAMES, default_steps
from graphnet.errors import ConfigError, NotEnoughHistory
from graphnet.grouping import Grouped
from graphnet.memory import memory_mib, return_free_memory, span_peak_mib, start_span
from graphnet.store.protocol import GraphStore

log = logging.getLogger(__name__)


@dataclass
class StepOutcome:
    """One step of one window: `ok`, `skipped` or `failed`, why, how long it took, and the
    process's memory: resident after the step (`rss_mib`), the peak so far (`peak_rss_mib`)
    and the step's own peak (`step_peak_rss_mib`: what it needed, on top of what the earlier
    steps left), in MiB, None where the system does not say."""

    name: str
    status: Status
    message: str
    seconds: float = 0.0
    findings: int | None = None
    rss_mib: float | None = None
    peak_rss_mib: float | None = None
    step_peak_rss_mib: float | None = None

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["seconds"] = round(self.seconds, 3)
        if self.findings is None:
            data.pop("findings")
        for k in ("rss_mib", "peak_rss_mib", "step_peak_rss_mib"):
            if data[k] is None:
                data.pop(k)
            else:
                data[k] = round(data[k], 1)
        return data


@dataclass
class WindowAnalysis:
    window: str
    outcomes: list[StepOutcome]
    runs: dict[str, DetectorRun] = field(default_factory=dict, repr=False)
    seconds: float = 0.0

    @property
    def failed(self) -> list[StepOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def status(self) -> str:
        return "failed" if self.failed else "ok"

    @property
    def findings(self) -> list[findings_mod.Finding]:
        """Every finding of the pass, in step order."""
        return [f for r in self.runs.values() for f in r.findings]

    def grouped(self) -> Grouped:
        """The findings by host and by conversation, ranked."""
        return Grouped.of(self.findings)

    def why_empty(self) -> str:
        """Why the pass has no finding ("" when it has some): each detector that stepped
        aside or failed, with its reason, and those that ran and found nothing."""
        if self.findings:
            return ""
        detecting = {s.name for s in default_steps() if s.detector}
        said = [
            f"{o.name} {o.status}: {o.message}"
            for o in self.outcomes
            if o.name in detecting and o.status != "ok"
        ]
        quiet = [o.name for o in self.outcomes if o.name in detecting and o.status == "ok"]
        if quiet:
            said.append(f"{', '.join(quiet)} ran and found nothing unusual")
        if not said:
            said.append("no detector ran (--only chose none)")
        return f"no findings in {self.window}: " + "; ".join(said)

    def to_json(self) -> dict[str, Any]:
        grouped = self.grouped()
        return {
            "window": self.window,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "steps": [o.to_json() for o in self.outcomes],
            "findings": grouped.findings,
            "groups": grouped.to_json(),
            "note": self.why_empty(),
        }


@dataclass
class AnalysisResult:
    windows: list[WindowAnalysis]
    seconds: float
    #: why nothing was analysed, when nothing was
    message: str = ""

    @property
    def failed(self) -> bool:
        return any(w.failed for w in self.windows)

    def to_json(self) -> dict[str, Any]:
        return {
            "windows": [w.to_json() for w in self.windows],
            "failed": sum(1 for w in self.windows if w.failed),
            "seconds": round(self.seconds, 3),
            "message": self.message,
        }


#: called before each step (outcome None) and after it
OnStep = Callable[[str, Step, StepOutcome | None], None]


def check_order(steps: Sequence[Step]) -> None:
    """Every step comes after the steps it needs or uses, and names are unique."""
    seen: set[str] = set()
    for s in steps:
        if s.name in seen:
            raise ValueError(f"step {s.name!r} is listed twice")
        for how, names in (("needs", s.needs), ("uses", s.uses)):
            missing = [n for n in names if n not in seen]
            if missing:
                raise ValueError(f"step {s.name!r} is listed before {', '.join(missing)}, it {how}")
        seen.add(s.name)


def select(only: Sequence[str] | None = None, steps: Sequence[Step] | None = None) -> list[Step]:
    """The registry's steps (or `steps`) in order, limited to the names in `only`. Raises
    ConfigError naming the unknown ones."""
    all_steps = list(steps if steps is not None else default_steps())
    if not only:
        return all_steps
    only = [FORMER_NAMES.get(n, n) for n in only]
    names = {s.name for s in all_steps}
    unknown = [n for n in only if n not in names]
    if unknown:
        raise ConfigError(
            f"unknown step {', '.join(repr(n) for n in unknown)}",
            hint=f"use one of {', '.join(s.name for s in all_steps)}",
        )
    wanted = set(only)
    return [s for s in all_steps if s.name in wanted]


def _save_findings(step: Step, ctx: Context, run: DetectorRun) -> int | None:
    """Name the run's findings after the step and, when saving, store them in place of the
    window's earlier unreviewed findings of the step's kind. Returns how many were saved."""
    for f in run.findings:
        f.detector = step.name
    if step.kind is None or not ctx.save or ctx.store is None:
        return None
    return findings_mod.save(ctx.store, run.findings, replace_kind=step.kind, window=run.window)


NO_HISTORY = "this window itself (no earlier window to learn from)"


def baseline_of(
    run: DetectorRun,
    split: TimeSplit | None = None,
    needed: Sequence[DetectorRun] = (),
) -> str:
    """What a run's findings were judged against, for people: the time split it ran under,
    what the step says it judged against (`judged_against`), the earlier windows it learned
    from (its `info`: `baseline_windows` or `history`), the window itself (`fit_on` "self"),
    else the baseline of the steps it needs ("" unknown)."""
    if split is not None:
        return split.label
    info = run.info
    if info.get("judged_against"):  # steps that judge a window against itself say how
        return str(info["judged_against"])
    if info.get("fit_on") == "self":
        return NO_HISTORY
    wins = info.get("baseline_windows") or info.get("history")
    if wins and not isinstance(wins, str):
        listed = [str(w) for w in wins]
        head = ", ".join(listed if len(listed) <= 6 else [*listed[:2], "…", *listed[-2:]])
        return f"earlier window{'s' if len(listed) > 1 else ''} {head}"
    for n in needed:
        if n.info.get("baseline"):
            return str(n.info["baseline"])
    return ""


def _mark_baseline(step: Step, ctx: Context, run: DetectorRun) -> None:
    """Say in the run and in each of its findings (`evidence["baseline"]`) what it was judged
    against."""
    split = ctx.archive.split
    needed = [ctx.earlier[n] for n in step.needs if n in ctx.earlier]
    if split is not None:
        run.info["time_split"] = split.to_json()
        run.summary = f"{run.summary} (baseline: {split.label})"
    else:
        inherited = [n.info["time_split"] for n in needed if "time_split" in n.info]
        if inherited:  # it chains the runs of a split (paths: novelty's scores)
            run.info["time_split"] = inherited[0]
    text = baseline_of(run, split, needed)
    if not text:
        return
    run.info["baseline"] = text
    for f in run.findings:
        f.evidence.setdefault("baseline", text)


def run_step(step: Step, ctx: Context) -> tuple[StepOutcome, DetectorRun | None]:
    """Run one step for one window, save its findings (when `ctx.save`), and say how it went."""
    t0 = time.perf_counter()
    try:
        run = step.run(ctx)
        _mark_baseline(step, ctx, run)
        saved = _save_findings(step, ctx, run)
    except NotEnoughHistory as exc:
        log.info("%s of %s skipped: %s", step.name, ctx.window, exc)
        return StepOutcome(step.name, "skipped", str(exc), time.perf_counter() - t0), None
    except Exception as exc:  # one step's failure must not stop the others
        log.exception("%s of %s failed", step.name, ctx.window)
        msg = f"{type(exc).__name__}: {exc}"
        return StepOutcome(step.name, "failed", msg, time.perf_counter() - t0), None
    run.seconds = time.perf_counter() - t0
    log.info("%s of %s: %s (%.1f s)", step.name, ctx.window, run.summary, run.seconds)
    if run.skipped:
        return StepOutcome(step.name, "skipped", run.skipped, run.seconds), run
    found = len(run.findings) if step.kind is not None else None
    return StepOutcome(step.name, "ok", run.summary, run.seconds, saved or found), run


#: a window's time split view, or why it has none (made once per window, when a step needs it)
_Split = Context | str


def split_context(ctx: Context) -> _Split:
    """The context of a window read as a time split (`Archive.time_split`, `split_view`):
    its first part is the history the steps learn from, the rest is scored. A string says
    why the window cannot be split."""
    try:
        split = ctx.archive.time_split(ctx.window)
    except (NotEnoughHistory, ValueError) as exc:
        return str(exc)
    log.info("%s: no earlier window, learning from its %s", ctx.window, split.label)
    return dataclasses.replace(ctx, archive=ctx.archive.split_view(split))


def run_learning(
    step: Step, ctx: Context, splits: dict[str, _Split]
) -> tuple[StepOutcome, DetectorRun | None]:
    """`run_step`, and when the step cannot run for want of history (NotEnoughHistory), once
    more with the window learning from itself: its first part as the baseline, the rest
    scored (`split_context`, made once per window and kept in `splits`). The step stays
    skipped when that does not help, with its own reason and why the split could not stand
    in."""
    outcome, run = run_step(step, ctx)
    if outcome.status != "skipped" or run is not None or ctx.archive.split is not None:
        return outcome, run
    if not step.self_baseline:
        return outcome, run
    if ctx.window not in splits:
        splits[ctx.window] = split_context(dataclasses.replace(ctx, earlier={}))
    view = splits[ctx.window]
    if isinstance(view, str):
        outcome.message = f"{outcome.message}; no time split of the window either: {view}"
        return outcome, None
    again, run = run_step(
        step, dataclasses.replace(view, earlier=ctx.earlier, last_use=ctx.last_use)
    )
    if again.status == "skipped" and run is None:
        if again.message != outcome.message:
            outcome.message = f"{outcome.message}; with a time split: {again.message}"
        outcome.seconds += again.seconds
        return outcome, None
    again.seconds += outcome.seconds
    return again, run


def _wanted(steps: Sequence[Step]) -> set[str]:
    """The steps whose runs `steps` need or use."""
    return {n for s in steps for n in (*s.needs, *s.uses)}


def release_details(runs: Mapping[str, DetectorRun], later: Sequence[Step]) -> None:
    """Drop the `detail` of each run that none of the `later` steps needs or uses."""
    needed = _wanted(later)
    for name, run in runs.items():
        if name not in needed:
            run.detail = None


def last_use(runs: Mapping[str, DetectorRun], step: Step, later: Sequence[Step]) -> frozenset[str]:
    """The runs whose detail `step` is the last to need or use (none of the `later` steps
    does): it may take them (`Context.take`)."""
    return frozenset(set(runs) & (_wanted([step]) - _wanted(later)))


def analyse_window(
    store: GraphStore | None,
    settings: Settings,
    window: str,
    steps: Sequence[Step] | None = None,
    *,
    save: bool = True,
    options: tuple[object, ...] = (),
    on_step: OnStep | None = None,
    mark: bool = False,
) -> WindowAnalysis:
    """Run `steps` (default: the whole registry) over one window, in order. A step whose
    needed step did not succeed in this pass is skipped. With `mark`, the analysis is recorded
    on the window (`scheduler_mark_analysed`).

    A run's `detail` (the step's own result, for its own command: it can be as large as the
    window's fingerprints) is dropped as soon as no later step of the pass needs the run
    (`release_details`), or taken by the last step that uses it (`Context.take`), so a pass
    holds one step's working set at a time; the runs keep
    their scores, findings and evidence; what the step freed goes back to the system
    (`return_free_memory`). Each step's own peak is measured from its start
    (`start_span`). `run_detector` keeps the detail."""
    t0 = time.perf_counter()
    chosen = list(steps if steps is not None else default_steps())
    base = Context.of(settings, window, store, save=save, options=options)
    runs: dict[str, DetectorRun] = {}
    outcomes: list[StepOutcome] = []
    status: dict[str, str] = {}
    splits: dict[str, _Split] = {}
    for step in chosen:
        if on_step:
            on_step(window, step, None)
        start_span()
        blocked = [n for n in step.needs if n in status and status[n] != "ok"]
        if blocked:
            outcome = StepOutcome(
                step.name, "skipped", f"needs {', '.join(blocked)}, which did not succeed"
            )
            run = None
        else:
            later = chosen[len(outcomes) + 1 :]
            ctx = dataclasses.replace(
                base, earlier=dict(runs), last_use=last_use(runs, step, later)
            )
            outcome, run = run_learning(step, ctx, splits)
        status[step.name] = outcome.status
        outcomes.append(outcome)
        if run is not None:
            runs[step.name] = run
        release_details(runs, chosen[len(outcomes) :])
        return_free_memory()
        outcome.rss_mib, outcome.peak_rss_mib = memory_mib()
        outcome.step_peak_rss_mib = span_peak_mib()
        if on_step:
            on_step(window, step, outcome)
    result = WindowAnalysis(window, outcomes, runs, time.perf_counter() - t0)
    if mark and save and store is not None:
        size = window_sizes(store).get(window, {})
        store.write(
            "scheduler_mark_analysed",
            window=window,
            connections=size.get("connections"),
            edges=size.get("edges"),
            status=result.status,
            steps=json.dumps([o.to_json() for o in outcomes]),
        )
    return result


def window_sizes(store: GraphStore) -> dict[str, dict[str, Any]]:
    """Windows of the graph with their size and analysis state, oldest first."""
    return {str(r["window"]): r for r in store.read("scheduler_windows")}


def needs_analysis(row: Mapping[str, Any], max_attempts: int | None = None) -> bool:
    """A window never analysed, whose data changed since its analysis (late files), or whose
    last analysis had a failing step (fewer than `max_attempts` times in a row, when given)."""
    if row.get("analysed_seq") is None:
        return True
    if (row.get("analysed_connections"), row.get("analysed_edges")) != (
        row.get("connections"),
        row.get("edges"),
    ):
        return True
    if row.get("analysis_status") != "failed":
        return False
    return max_attempts is None or int(row.get("attempts") or 0) < max_attempts


def analyse(
    store: GraphStore,
    settings: Settings,
    *,
    window: str | None = None,
    all_windows: bool = False,
    only: Sequence[str] | None = None,
    options: tuple[object, ...] = (),
    on_step: OnStep | None = None,
) -> AnalysisResult:
    """`graphnet analyse`: every step for `window` (default: the latest window), or with
    `all_windows` for every window that needs an analysis (oldest first). With `only`, just
    those steps (in registry order) and the windows are not marked as analysed."""
    t0 = time.perf_counter()
    steps = select(only)
    sizes = window_sizes(store)
    if all_windows:
        todo = [w for w, r in sizes.items() if needs_analysis(r)]
        message = "" if todo else "every window is analysed already"
    elif window is not None:
        if window not in sizes:
            held = f" (the graph holds {min(sizes)} to {max(sizes)})" if sizes else ""
            raise ConfigError(
                f"no window {window} in the graph{held}",
                hint="ingest its logs first (graphnet ingest PATH)",
            )
        todo, message = [window], ""
    else:
        todo = [max(sizes)] if sizes else []
        message = ""
    if not sizes:
        message = "the graph holds no windows: ingest logs first (graphnet ingest PATH)"
    done = [
        analyse_window(store, settings, w, steps, options=options, on_step=on_step, mark=not only)
        for w in todo
    ]
    return AnalysisResult(done, time.perf_counter() - t0, message)


def latest_window(store: GraphStore | None, settings: Settings) -> str:
    """The window a command analyses when none is given: the latest window of the graph (of
    the connection archive when there is no graph at hand)."""
    if store is not None:
        present = [str(r["window"]) for r in store.read("windows_list")]
        where = "the graph"
    else:
        present = Archive(settings).windows()
        where = "the connection archive"
    if not present:
        raise NotEnoughHistory(f"{where} holds no windows", hint="ingest logs first")
    return present[-1]


def run_detector(
    name: str,
    store: GraphStore | None,
    settings: Settings,
    window: str | None = None,
    *,
    save: bool = True,
    options: tuple[object, ...] = (),
) -> DetectorRun:
    """One step by name for one window (default: `latest_window`), for its own command: like
    `analyse_window` with only that step, but a step that cannot run raises (NotEnoughHistory,
    or the step's error) so the command can say what to do next; a step that ran with nothing
    to score returns its run with `skipped` set (its `detail` says why, e.g. a shift report
    with too few earlier snapshots)."""
    [step] = select([name])
    window = window or latest_window(store, settings)
    ctx = Context.of(settings, window, store, save=save, options=options)
    run = step.run(ctx)
    _save_findings(step, ctx, run)
    return run
