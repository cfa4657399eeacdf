"""The one contract every analysis step follows.

Two layers, as in pyod:

- **`Model`**: the pure maths of a detector. `fit` learns normal behaviour from earlier
  observations, `score` returns, per observation, a score (higher = more anomalous), its named
  parts (`part_<name>` columns) and an `explanation`. Frames in, frames out, no I/O: testable
  without a database.
- **`Step`**: one entry of the registry (`graphnet.detectors.registry`): a name, what it needs
  before it, and `run(ctx) -> DetectorRun`. The runner reads what the model needs through the
  context's doors (`ctx.archive` for the columnar store, `ctx.store` for the graph) and returns
  everything the rest of graphnet uses: host scores for the combined ranking, connection or
  pair scores for the evaluation, findings (saved by the pipeline, not by the step), its alert
  count at its own threshold, a one-line summary, and its own result object for its command's
  JSON. A step that cannot run for a reason the user can fix raises `NotEnoughHistory` (the
  pipeline records it as skipped, with the reason).

Steps that are not detectors (the centrality snapshot, fingerprints, Browser labels) follow
the same contract and simply have no finding kind and no host scores.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, Self, TypeVar

import pandas as pd

from graphnet.archive import Archive
from graphnet.config import Settings
from graphnet.errors import NotEnoughHistory
from graphnet.findings import Finding
from graphnet.store.protocol import GraphStore

T = TypeVar("T")


class Model(ABC):
    """The pure fit/score layer of a detector (in the spirit of pyod's BaseDetector)."""

    @abstractmethod
    def fit(self, history: pd.DataFrame) -> Self:
        """Learn normal behaviour from earlier observations."""

    @abstractmethod
    def score(self, observations: pd.DataFrame) -> pd.DataFrame:
        """Return a frame indexed like `observations` with columns `score`, `part_*` and
        `explanation`. Higher score = more anomalous."""

    @staticmethod
    def check_scores(scores: pd.DataFrame, observations: pd.DataFrame) -> pd.DataFrame:
        """Validate a model's output against the contract (used by tests and callers)."""
        missing = {"score", "explanation"} - set(scores.columns)
        if missing:
            raise ValueError(f"detector output lacks {sorted(missing)}")
        if not scores.index.equals(observations.index):
            raise ValueError("detector output must be indexed like the observations")
        return scores


@dataclass(frozen=True)
class ConnectionScores:
    """Option: a step that scores connections returns the score of every connection of the
    window in `DetectorRun.conn_scores` (the evaluation asks for it). Without it a step keeps
    only what its findings need, so that its memory does not grow with the window."""


@dataclass(frozen=True)
class Context:
    """What a step sees: one window, the settings, the two doors, and typed options.

    `store` is None where no graph is at hand (the evaluation of an archive alone): steps that
    need the graph then raise NotEnoughHistory. With `save=False` a step writes nothing (no
    findings, no stored results): the evaluation and `risk --fresh` run that way.
    `options` holds per-step settings objects (e.g. an `LdaSettings`); a step takes its own
    with `ctx.option(LdaSettings)`, which is None when the caller gave none."""

    settings: Settings
    window: str
    archive: Archive
    store: GraphStore | None = None
    save: bool = True
    options: tuple[object, ...] = ()
    #: the runs of the steps before this one in the same pass (a step uses what a step it
    #: needs computed, instead of reading it back or computing it again)
    earlier: Mapping[str, DetectorRun] = field(default_factory=dict)
    #: those of `earlier` whose detail this step is the last of the pass to use: it may take
    #: them (`take`), so that they are freed as soon as it lets them go
    last_use: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        settings: Settings,
        window: str,
        store: GraphStore | None = None,
        *,
        save: bool = True,
        options: tuple[object, ...] = (),
    ) -> Context:
        return cls(settings, window, Archive(settings), store, save, options)

    def option(self, kind: type[T]) -> T | None:
        for o in self.options:
            if isinstance(o, kind):
                return o
        return None

    @property
    def per_connection(self) -> bool:
        """Whether the caller wants every connection's score (`ConnectionScores`)."""
        return self.option(ConnectionScores) is not None

    def take(self, name: str) -> Detail | None:
        """The detail of the earlier run `name` of the pass (None without one). When this step
        is its last user (`last_use`) it is taken from the run: the pass holds it no more, and
        it is freed once the step lets it go (novelty lets the fingerprints go before it reads
        the connections it keeps), where the pass would drop it only after the step."""
        run = self.earlier.get(name)
        if run is None:
            return None
        detail = run.detail
        if name in self.last_use:
            run.detail = None
        return detail

    def graph(self) -> GraphStore:
        """The graph store; a step that needs it and has none cannot run."""
        if self.store is None:
            raise NotEnoughHistory("this step needs the graph (Neo4j), and none was given")
        return self.store


class Detail(Protocol):
    """A step's own result, as its command prints it with `--json`."""

    def to_json(self) -> Any: ...


@dataclass
class DetectorRun:
    """What one step did for one window."""

    step: str
    window: str
    summary: str
    #: host -> score (or a frame whose first column is the score and the second breaks ties)
    host_scores: pd.Series | pd.DataFrame | None = None
    #: connection uid -> score (higher = more anomalous), where the detector scores connections
    conn_scores: pd.Series | None = None
    #: (src, dst) -> score, where the detector scores pairs and not connections
    pair_scores: pd.Series | None = None
    findings: list[Finding] = field(default_factory=list)
    #: how many alerts the detector raises in the window at its own threshold
    alerts: float | None = None
    #: host -> the sentence that best explains its score
    evidence: dict[str, str] = field(default_factory=dict)
    #: what the step learned from and how (history windows, fitted on, thresholds ...)
    info: dict[str, Any] = field(default_factory=dict)
    detail: Detail | None = None
    #: why the step had nothing to score although it ran (e.g. too few earlier snapshots):
    #: the pipeline records the step as skipped, with this reason
    skipped: str = ""
    seconds: float = 0.0


Status = Literal["ok", "skipped", "failed"]


@dataclass(frozen=True)
class Step:
    """A registry entry: run by the pipeline in registry order, after the steps it `needs` or
    `uses`."""

    name: str
    run: Callable[[Context], DetectorRun]
    description: str
    #: the kind of the findings it writes (None: a preparation step without findings)
    kind: str | None = None
    needs: tuple[str, ...] = ()
    #: steps whose result (their run's `detail`) it reads when they ran earlier in the pass,
    #: without needing them: it does their work itself otherwise (novelty builds the
    #: fingerprints when the fingerprints step did not give them)
    uses: tuple[str, ...] = ()
    #: without history (NotEnoughHistory) the step can learn from the window itself: the
    #: pipeline runs it again on a time split view of the archive (`Archive.split_view`: the
    #: window's first part as its history, the rest scored)
    self_baseline: bool = False

    @property
    def detector(self) -> bool:
        """Does it score hosts for the combined ranking?"""
        return self.kind is not None
