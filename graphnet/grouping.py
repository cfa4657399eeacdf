"""Findings grouped for people: by host and by conversation, ranked, the top ones first.

A one-day capture yields hundreds of findings from several detectors; an analyst reads a few
groups. Each finding belongs to the group of its subject (`hosts[0]`, the originator or the
host the finding is about) and, when it names a peer, to the conversation
`(hosts[0], hosts[1])`. Groups are per window.

Ranking, comparable across detectors whose scores have different scales: within each (window,
kind) the findings are ranked by score, and a finding's **weight** is `1 - (rank - 1) / n`
(the kind's top finding 1.0, its last one 1/n). A group's score is the sum, over the kinds
that flagged it, of its best weight in that kind: a host two detectors put on top outranks one
a single detector put on top, which outranks a host at the tail of every list. Ties: more
findings, then the highest raw score, then the key. Pure: no database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from graphnet.findings import Finding

By = Literal["host", "conversation"]
#: groups shown before "… one flag away" in the CLI and at the top of the report
TOP_GROUPS = 5


@dataclass
class Group:
    """The findings of one host (or one conversation) in one window, best first."""

    by: By
    window: str
    hosts: tuple[str, ...]
    score: float = 0.0
    rank: int = 0
    findings: list[Finding] = field(default_factory=list)
    #: kind -> the group's best weight in it
    weights: dict[str, float] = field(default_factory=dict)

    @property
    def kinds(self) -> list[str]:
        """The finding kinds that flagged it, strongest first."""
        return sorted(self.weights, key=lambda k: (-self.weights[k], k))

    @property
    def detectors(self) -> list[str]:
        """The steps that flagged it (their names; the kinds where a finding has none)."""
        out: dict[str, None] = {}
        for k in self.kinds:
            for f in self.findings:
                if f.kind == k:
                    out.setdefault(f.detector or f.kind, None)
        return list(out)

    @property
    def best(self) -> Finding:
        return self.findings[0]

    def summary(self) -> str:
        """`3 findings from novelty, behaviour; best: <its explanation>` (log text inside:
        shown escaped by whoever prints it)."""
        n = len(self.findings)
        return (
            f"{n} finding{'s' if n != 1 else ''} from {', '.join(self.detectors)}; "
            f"best: {self.best.explanation}"
        )

    def to_json(self, findings: int | None = 3) -> dict[str, Any]:
        shown = self.findings if findings is None else self.findings[:findings]
        return {
            "by": self.by,
            "window": self.window,
            "hosts": list(self.hosts),
            "rank": self.rank,
            "score": round(self.score, 4),
            "detectors": self.detectors,
            "kinds": self.kinds,
            "count": len(self.findings),
            "explanation": self.best.explanation,
            "findings": [f.id for f in shown],
        }


def weights(found: Iterable[Finding]) -> dict[str, float]:
    """Finding id -> its weight: 1 for the top finding of its (window, kind), 1/n for the
    last of n."""
    by: dict[tuple[str, str], list[Finding]] = {}
    for f in found:
        by.setdefault((f.window, f.kind), []).append(f)
    out: dict[str, float] = {}
    for fs in by.values():
        ordered = sorted(fs, key=lambda f: (-f.score, f.id))
        n = len(ordered)
        for i, f in enumerate(ordered):
            out[f.id] = max(out.get(f.id, 0.0), 1.0 - i / n)
    return out


def _key(f: Finding, by: By) -> tuple[str, ...] | None:
    if not f.hosts:
        return None
    if by == "host":
        return (str(f.hosts[0]),)
    if len(f.hosts) < 2:
        return None
    return (str(f.hosts[0]), str(f.hosts[1]))


def group(found: Sequence[Finding], by: By) -> list[Group]:
    """The findings' groups by host or by conversation, ranked (1 = look here first) within
    each window; windows in order."""
    w = weights(found)
    groups: dict[tuple[str, tuple[str, ...]], Group] = {}
    for f in found:
        key = _key(f, by)
        if key is None:
            continue
        g = groups.setdefault((f.window, key), Group(by, f.window, key))
        g.findings.append(f)
        g.weights[f.kind] = max(g.weights.get(f.kind, 0.0), w.get(f.id, 0.0))
    out: list[Group] = []
    for g in groups.values():
        g.score = sum(g.weights.values())
        g.findings.sort(key=lambda f: (-w.get(f.id, 0.0), -f.score, f.id))
    ordered = sorted(
        groups.values(),
        key=lambda g: (
            g.window,
            -g.score,
            -len(g.findings),
            -max(f.score for f in g.findings),
            g.hosts,
        ),
    )
    rank: dict[str, int] = {}
    for g in ordered:
        rank[g.window] = rank.get(g.window, 0) + 1
        g.rank = rank[g.window]
        out.append(g)
    return out


@dataclass
class Grouped:
    """A window's (or several windows') findings as ranked host and conversation groups."""

    findings: int
    hosts: list[Group]
    conversations: list[Group]

    @classmethod
    def of(cls, found: Sequence[Finding]) -> Grouped:
        return cls(len(found), group(found, "host"), group(found, "conversation"))

    def top(self, n: int = TOP_GROUPS) -> Grouped:
        """The first `n` groups of each window."""
        return Grouped(
            self.findings,
            [g for g in self.hosts if g.rank <= n],
            [g for g in self.conversations if g.rank <= n],
        )

    def shown_findings(self) -> int:
        """How many findings the groups hold (a finding may be in a host and a conversation
        group: counted once)."""
        return len({f.id for g in (*self.hosts, *self.conversations) for f in g.findings})

    def to_json(self, findings: int | None = 3) -> dict[str, Any]:
        return {
            "findings": self.findings,
            "hosts": [g.to_json(findings) for g in self.hosts],
            "conversations": [g.to_json(findings) for g in self.conversations],
        }
