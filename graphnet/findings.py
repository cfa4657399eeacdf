"""Findings: what detectors report, stored in Neo4j as `(:Finding)-[:ABOUT]->(:Host)`.

A finding's id is derived from its kind, window, hosts and a discriminator, so re-running an
analysis replaces its findings instead of duplicating them, and keeps the analyst's status.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from graphnet.store.protocol import GraphStore

KINDS = (
    "centrality_shift",
    "novel_connection",
    "deviating_path",
    "suspicious_connect",
    "volume_anomaly",
    "first_behaviour",
    "beacon",
    "long_connection",
    "strobe",
    "suspicious_dns",
    "suspicious_http",
    "dns_tunnel",
)
STATUSES = ("new", "confirmed", "benign")


_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"'}
#: written as `\uXXXX` escapes: the line and paragraph separators and the bidirectional
#: controls (embeddings, overrides, isolates, marks), which would reorder what people read
_UNICODE_ESCAPED = frozenset(
    "\u2028\u2029\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def cypher_literal(text: str) -> str:
    """A Cypher string literal holding exactly `text`, for the queries graphnet shows to people
    (findings' `cypher`, reports, the CLI) and never executes itself: host ids come from logs
    and are attacker-controlled, so quotes and backslashes are escaped, and control
    characters (C0, DEL, C1), line separators and bidirectional controls (U+202E ...) are
    written as `\\uXXXX` escapes (the literal still holds exactly `text`)."""
    out = []
    for ch in str(text):
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F or ch in _UNICODE_ESCAPED:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "'" + "".join(out) + "'"


def finding_id(kind: str, window: str, hosts: Sequence[str], discriminator: str = "") -> str:
    text = "\x1f".join([kind, window, *hosts, discriminator])
    return f"{kind[:2]}-{hashlib.sha1(text.encode()).hexdigest()[:14]}"


@dataclass
class Finding:
    kind: str
    window: str
    score: float
    hosts: list[str]  # ordered: source first
    explanation: str
    parts: dict[str, Any] = field(default_factory=dict)
    cypher: str = ""
    detector: str = ""
    status: str = "new"
    discriminator: str = ""
    # extra evidence (counts, first/last time, example uids ...), stored as JSON
    evidence: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown finding kind {self.kind!r}")
        if not self.id:
            self.id = finding_id(self.kind, self.window, self.hosts, self.discriminator)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("discriminator")
        return d


def save(
    store: GraphStore,
    findings: Sequence[Finding],
    *,
    replace_kind: str | None = None,
    window: str | None = None,
) -> int:
    """Write findings (MERGE by id, the analyst's status is kept). With `replace_kind` and
    `window`, earlier findings of that kind and window that are not in `findings` and still
    `new` are removed, so a re-run reflects the current analysis."""
    rows = [
        {
            "id": f.id,
            "kind": f.kind,
            "window": f.window,
            "score": float(f.score),
            "explanation": f.explanation,
            "parts": json.dumps(f.parts, sort_keys=True, default=str),
            "evidence": json.dumps(f.evidence, sort_keys=True, default=str),
            "cypher": f.cypher,
            "detector": f.detector or f.kind,
            "hosts": [{"id": h, "order": i} for i, h in enumerate(f.hosts)],
        }
        for f in findings
    ]
    if replace_kind and window:
        store.write(
            "findings_prune", kind=replace_kind, window=window, keep=[r["id"] for r in rows]
        )
    if rows:
        store.write_batches("findings_upsert", rows, batch_size=2000)
    return len(rows)


def load(
    store: GraphStore, window: str | None = None, kind: str | None = None, limit: int | None = None
) -> list[Finding]:
    rows = store.read("findings_list", window=window, kind=kind, limit=limit)
    out = []
    for r in rows:
        out.append(
            Finding(
                id=r["id"],
                kind=r["kind"],
                window=r["window"],
                score=r["score"],
                hosts=r["hosts"],
                explanation=r["explanation"],
                parts=json.loads(r["parts"] or "{}"),
                evidence=json.loads(r["evidence"] or "{}"),
                cypher=r["cypher"] or "",
                detector=r["detector"] or "",
                status=r["status"] or "new",
            )
        )
    return out


def set_status(store: GraphStore, finding: str, status: str) -> bool:
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    return bool(store.write("finding_set_status", id=finding, status=status))
