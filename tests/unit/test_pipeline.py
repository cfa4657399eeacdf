"""The pipeline's own behaviour with steps of the test's own (no DB): order, skips, failures,
and the registry it runs by default."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from graphnet import memory, pipeline
from graphnet.config import Settings
from graphnet.detectors.contract import Context, DetectorRun, Step
from graphnet.detectors.registry import default_steps, detector_of_kind, detectors
from graphnet.errors import ConfigError, NotEnoughHistory
from graphnet.findings import Finding
from graphnet.pipeline import StepOutcome, analyse_window, check_order, select

WINDOW = "2024-W10"


class Calls:
    """The steps of one pass: each records the context it was given."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Context]] = []

    def ghost(self, ctx: Context) -> DetectorRun:
        self.seen.append(("ghost", ctx))
        raise NotEnoughHistory(f"no window before {ctx.window} to learn from")

    def boom(self, ctx: Context) -> DetectorRun:
        self.seen.append(("boom", ctx))
        raise ValueError(f"cannot analyse {ctx.window}")

    def fake(self, ctx: Context) -> DetectorRun:
        self.seen.append(("fake", ctx))
        found = [
            Finding("volume_anomaly", ctx.window, 9.0, ["10.0.0.1"], "busy", detector="x"),
            Finding("volume_anomaly", ctx.window, 5.0, ["10.0.0.2"], "busier"),
        ]
        return DetectorRun("fake", ctx.window, "2 results", findings=found)

    def quiet(self, ctx: Context) -> DetectorRun:
        self.seen.append(("quiet", ctx))
        return DetectorRun("quiet", ctx.window, "nothing", skipped="too few earlier snapshots")

    def after_boom(self, ctx: Context) -> DetectorRun:
        self.seen.append(("after_boom", ctx))
        return DetectorRun("after_boom", ctx.window, "should not run")

    def after_fake(self, ctx: Context) -> DetectorRun:
        self.seen.append(("after_fake", ctx))
        earlier = ctx.earlier["fake"]
        return DetectorRun("after_fake", ctx.window, f"read {len(earlier.findings)} findings")

    def steps(self) -> list[Step]:
        return [
            Step("ghost", self.ghost, "raises NotEnoughHistory", kind="novel_connection"),
            Step("boom", self.boom, "raises"),
            Step("fake", self.fake, "records its call", kind="volume_anomaly"),
            Step("quiet", self.quiet, "ran, with nothing to score", kind="centrality_shift"),
            Step("after_boom", self.after_boom, "needs boom", needs=("boom",)),
            Step("after_ghost", self.after_boom, "needs ghost", needs=("ghost",)),
            Step("after_fake", self.after_fake, "needs fake", needs=("fake",)),
        ]


def test_a_failing_step_does_not_stop_the_others(tmp_path: Path) -> None:
    calls = Calls()
    settings = Settings(home=tmp_path / "nonexistent")
    events: list[tuple[str, str, str | None]] = []

    def on_step(window: str, step: Step, outcome: StepOutcome | None) -> None:
        events.append((window, step.name, None if outcome is None else outcome.status))

    option = object()
    done = analyse_window(
        None,
        settings,
        WINDOW,
        steps=calls.steps(),
        save=False,
        options=(option,),
        on_step=on_step,
        mark=True,  # no store: nothing to mark, and no error
    )
    assert [(o.name, o.status) for o in done.outcomes] == [
        ("ghost", "skipped"),
        ("boom", "failed"),
        ("fake", "ok"),
        ("quiet", "skipped"),
        ("after_boom", "skipped"),
        ("after_ghost", "skipped"),
        ("after_fake", "ok"),
    ]
    by = {o.name: o for o in done.outcomes}
    # a skip keeps its reason, a failure names the error
    assert by["ghost"].message == f"no window before {WINDOW} to learn from"
    assert by["boom"].message == f"ValueError: cannot analyse {WINDOW}"
    assert by["quiet"].message == "too few earlier snapshots"
    assert by["after_boom"].message == "needs boom, which did not succeed"
    assert by["after_ghost"].message == "needs ghost, which did not succeed"
    # the step's summary is the ok message; a detector step counts its findings
    assert by["fake"].message == "2 results" and by["fake"].findings == 2
    assert by["after_fake"].message == "read 2 findings" and by["after_fake"].findings is None
    assert all(o.seconds >= 0 for o in done.outcomes)
    # a step needing a step that did not succeed is not called at all
    assert [n for n, _ in calls.seen] == ["ghost", "boom", "fake", "quiet", "after_fake"]
    for _, ctx in calls.seen:
        assert ctx.window == WINDOW and ctx.store is None and ctx.save is False
        assert ctx.settings is settings and ctx.option(object) is option
    # each step sees the runs of the steps before it in this pass
    assert set(calls.seen[-1][1].earlier) == {"fake", "quiet"}
    assert set(done.runs) == {"fake", "quiet", "after_fake"}
    # findings are the step's, whatever the run said
    assert [f.detector for f in done.runs["fake"].findings] == ["fake", "fake"]
    assert done.status == "failed" and [o.name for o in done.failed] == ["boom"]
    js = done.to_json()
    assert js["window"] == WINDOW and js["status"] == "failed"
    assert [s["name"] for s in js["steps"]] == [s.name for s in calls.steps()]
    assert all("seconds" in s for s in js["steps"])
    assert "findings" in js["steps"][2] and "findings" not in js["steps"][1]
    # on_step is called before and after every step
    assert events[:2] == [(WINDOW, "ghost", None), (WINDOW, "ghost", "skipped")]
    assert len(events) == 2 * len(calls.steps())


def test_a_clean_pass_is_ok(tmp_path: Path) -> None:
    calls = Calls()
    steps = [s for s in calls.steps() if s.name in ("fake", "after_fake")]
    done = analyse_window(None, Settings(home=tmp_path), WINDOW, steps=steps, save=False)
    assert done.status == "ok" and not done.failed
    assert [o.status for o in done.outcomes] == ["ok", "ok"]


class Held:
    """A step's own result (`DetectorRun.detail`)."""

    def to_json(self) -> str:
        return "held"


def test_a_detail_is_dropped_once_no_later_step_needs_it(tmp_path: Path) -> None:
    seen: dict[str, dict[str, object]] = {}

    def make(name: str) -> Step:
        def run(ctx: Context) -> DetectorRun:
            seen[name] = {n: r.detail for n, r in ctx.earlier.items()}
            return DetectorRun(
                name, ctx.window, "", host_scores=pd.Series({"h": 1.0}), detail=Held()
            )

        return Step(name, run, name)

    a, b, c = make("a"), make("b"), make("c")
    b = dataclasses.replace(b, needs=("a",))
    c = dataclasses.replace(c, needs=("a",))
    d = make("d")
    e = dataclasses.replace(make("e"), uses=("d",))  # reads d's detail, would do without
    f = make("f")
    steps = [a, b, c, d, e, f]
    done = analyse_window(None, Settings(home=tmp_path), WINDOW, steps=steps, save=False)
    # a later step that needs or uses a run sees its detail, until the last one of them ran
    assert isinstance(seen["c"]["a"], Held)
    assert seen["c"]["b"] is None
    assert seen["d"] == {"a": None, "b": None, "c": None}
    assert isinstance(seen["e"]["d"], Held)
    assert seen["f"] == {"a": None, "b": None, "c": None, "d": None, "e": None}
    assert [r.detail for r in done.runs.values()] == [None] * 6
    # the scores stay, and every step says the process's memory after it
    assert all(r.host_scores is not None for r in done.runs.values())
    for o in done.to_json()["steps"]:
        assert o["peak_rss_mib"] >= o["rss_mib"] > 0
        assert o["peak_rss_mib"] >= o.get("step_peak_rss_mib", 0)


def test_the_last_step_that_uses_a_detail_takes_it(tmp_path: Path) -> None:
    """A step takes an earlier run's detail from the pass (`Context.take`) only when no later
    step needs or uses it; before that, `take` reads it and leaves it in the run."""
    taken: dict[str, object] = {}  # what take gave each step
    left: dict[str, object] = {}  # what stayed in the run of `a` after it
    last: dict[str, frozenset[str]] = {}

    def make(name: str) -> Step:
        def run(ctx: Context) -> DetectorRun:
            taken[name] = ctx.take("a")
            left[name] = ctx.earlier["a"].detail if "a" in ctx.earlier else None
            last[name] = ctx.last_use
            return DetectorRun(name, ctx.window, "", detail=Held())

        return Step(name, run, name)

    a = make("a")
    b = dataclasses.replace(make("b"), uses=("a",))
    c = dataclasses.replace(make("c"), needs=("a",))
    d = make("d")
    analyse_window(None, Settings(home=tmp_path), WINDOW, steps=[a, b, c, d], save=False)
    assert taken["a"] is None and last["a"] == frozenset()  # no earlier run of that name
    # c needs it after b: b reads it and leaves it in the run
    assert isinstance(taken["b"], Held) and isinstance(left["b"], Held)
    assert last["b"] == frozenset()
    # c is its last user: it takes it, and the pass holds it no more
    assert isinstance(taken["c"], Held) and left["c"] is None
    assert last["c"] == frozenset({"a"})
    assert taken["d"] is None and last["d"] == frozenset()


@pytest.mark.skipif(memory._malloc_trim() is None, reason="needs glibc's malloc_trim")
def test_what_a_step_frees_goes_back_to_the_system(tmp_path: Path) -> None:
    """Arrays a step freed are not counted in the memory after it: once a large block was
    freed, the C library serves 1 MiB blocks from its heap and keeps them when they are freed;
    the pass hands them back before the next step starts."""
    pinned: list[np.ndarray] = []

    def frees() -> None:
        big = np.ones(8 << 17)  # 8 MiB, freed: the heap now serves blocks up to its size
        del big
        blocks = [np.ones(1 << 17) for _ in range(300)]  # 300 blocks of 1 MiB
        pinned.append(np.ones(1 << 17))  # above them: the heap's top cannot shrink by itself
        del blocks

    at_end, after = _memory_of_a_step(tmp_path, frees)
    assert after < at_end - 200


def test_what_a_step_freed_in_arrow_goes_back_to_the_system(tmp_path: Path) -> None:
    """Arrow's memory pool keeps the pages of arrays that were freed (for Arrow's next
    ones); the pass hands them back before the next step starts."""

    def frees() -> None:
        texts = [pa.array(np.arange(1 << 18) * i).cast(pa.string()) for i in range(100)]
        assert pa.total_allocated_bytes() > 200 << 20
        del texts

    at_end, after = _memory_of_a_step(tmp_path, frees)
    assert after < at_end - 150


def test_each_step_says_its_own_peak(tmp_path: Path) -> None:
    """A step's own peak is what it needed, not what an earlier step needed; the peak so far
    still counts the earlier step's."""
    if not memory.start_span():
        pytest.skip("the system does not let the high-water mark start afresh")

    def big(ctx: Context) -> DetectorRun:
        block = np.ones(300 << 17)  # 300 MiB, touched
        del block
        return DetectorRun("big", ctx.window, "big")

    def small(ctx: Context) -> DetectorRun:
        return DetectorRun("small", ctx.window, "small")

    steps = [Step("big", big, "big"), Step("small", small, "small")]
    done = analyse_window(None, Settings(home=tmp_path), WINDOW, steps=steps, save=False)
    first, second = done.to_json()["steps"]
    assert first["step_peak_rss_mib"] >= first["rss_mib"] + 250
    assert second["step_peak_rss_mib"] < first["step_peak_rss_mib"] - 250
    assert second["peak_rss_mib"] >= first["step_peak_rss_mib"]
    assert second["rss_mib"] <= second["step_peak_rss_mib"] <= second["peak_rss_mib"]


def _memory_of_a_step(tmp_path: Path, work: Callable[[], None]) -> tuple[float, float]:
    """A pass of one step that does `work`: the process's memory at the step's end, and the
    memory the pass records after it."""
    at_end: list[float] = []

    def run(ctx: Context) -> DetectorRun:
        work()
        rss = memory.memory_mib()[0]
        assert rss is not None
        at_end.append(rss)
        return DetectorRun("frees", ctx.window, "freed")

    done = analyse_window(
        None, Settings(home=tmp_path), WINDOW, steps=[Step("frees", run, "frees")], save=False
    )
    after = done.outcomes[0].rss_mib
    assert after is not None
    return at_end[0], after


def test_select_keeps_registry_order_and_names_unknown_steps() -> None:
    names = [s.name for s in default_steps()]
    assert [s.name for s in select(None)] == names
    assert [s.name for s in select([])] == names
    assert [s.name for s in select(["lda", "snapshot"])] == ["snapshot", "lda"]
    with pytest.raises(ConfigError) as info:
        select(["lda", "nope"])
    assert str(info.value) == "unknown step 'nope'"
    assert info.value.hint == f"use one of {', '.join(names)}"
    assert info.value.exit_code == 2
    with pytest.raises(ConfigError, match=r"^unknown step 'nope', 'magic'$"):
        select(["nope", "magic"])
    own = Calls().steps()
    assert [s.name for s in select(["after_fake", "fake"], own)] == ["fake", "after_fake"]
    with pytest.raises(ConfigError, match=r"^unknown step 'lda'$") as info:
        select(["lda"], own)
    assert info.value.hint.startswith("use one of ghost, boom, fake, ")


def test_check_order() -> None:
    def run(ctx: Context) -> DetectorRun:
        return DetectorRun("x", ctx.window, "")

    a, b = Step("a", run, "first"), Step("b", run, "needs a", needs=("a",))
    check_order([a, b])
    check_order([])
    with pytest.raises(ValueError, match=r"^step 'b' is listed before a, it needs$"):
        check_order([b, a])
    with pytest.raises(ValueError, match=r"^step 'a' is listed twice$"):
        check_order([a, b, a])
    c = Step("c", run, "needs two", needs=("a", "b"))
    with pytest.raises(ValueError, match=r"^step 'c' is listed before a, b, it needs$"):
        check_order([c, a, b])
    u = Step("u", run, "uses a", uses=("a",))
    check_order([a, u])
    with pytest.raises(ValueError, match=r"^step 'u' is listed before a, it uses$"):
        check_order([u, a])
    check_order(Calls().steps())


def test_the_registry_is_in_order_with_one_name_per_step() -> None:
    steps = default_steps()
    check_order(steps)
    names = [s.name for s in steps]
    assert len(set(names)) == len(names)
    assert {
        "snapshot",
        "shifts",
        "fingerprints",
        "novelty",
        "paths",
        "lda",
        "volume",
        "behaviour",
        "beacon",
        "long_connection",
        "strobe",
        "suspicious_dns",
        "suspicious_http",
        "dns_tunnel",
        "browser_labels",
    } == set(names)
    assert all(callable(s.run) and s.description for s in steps)
    # one step per finding kind; the detectors are the steps with a kind
    kinds = [s.kind for s in steps if s.kind is not None]
    assert len(set(kinds)) == len(kinds)
    assert [s.name for s in detectors()] == [s.name for s in steps if s.detector]
    assert detector_of_kind() == {
        "centrality_shift": "shifts",
        "novel_connection": "novelty",
        "deviating_path": "paths",
        "suspicious_connect": "lda",
        "volume_anomaly": "volume",
        "first_behaviour": "behaviour",
        "beacon": "beacon",
        "long_connection": "long_connection",
        "strobe": "strobe",
        "suspicious_dns": "suspicious_dns",
        "suspicious_http": "suspicious_http",
        "dns_tunnel": "dns_tunnel",
    }


def test_run_detector_raises_what_analyse_would_record(tmp_path: Path) -> None:
    """A step's own command: a skip raises NotEnoughHistory, an unknown name ConfigError."""
    settings = Settings(home=tmp_path)
    with pytest.raises(NotEnoughHistory, match="needs the graph"):
        pipeline.run_detector("snapshot", None, settings, WINDOW)
    with pytest.raises(ConfigError, match="unknown step 'nope'"):
        pipeline.run_detector("nope", None, settings, WINDOW)


def test_needs_analysis() -> None:
    done = {
        "connections": 100,
        "edges": 10,
        "analysed_seq": 1,
        "analysed_connections": 100,
        "analysed_edges": 10,
        "analysis_status": "ok",
        "attempts": 1,
    }
    assert not pipeline.needs_analysis(done)
    assert pipeline.needs_analysis({**done, "analysed_seq": None})
    assert pipeline.needs_analysis({**done, "analysed_edges": 9})  # late data
    failed = {**done, "analysis_status": "failed", "attempts": 3}
    assert pipeline.needs_analysis(failed)  # `analyse --all` retries without a limit
    assert not pipeline.needs_analysis(failed, max_attempts=3)
    assert pipeline.needs_analysis(failed, max_attempts=4)
