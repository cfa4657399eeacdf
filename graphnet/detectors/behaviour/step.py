"""The `behaviour` step: the window's first times against its history, asked of the archive
(`aggregates`), one `first_behaviour` finding per originating host (`findings_from_hosts`),
the saved Browser query of a finding (`browser_query`) and `BehaviourResult`, what
`graphnet behaviour --json` prints.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from graphnet import windows
from graphnet.detectors.behaviour import aggregates
from graphnet.detectors.behaviour.frames import answered
from graphnet.detectors.behaviour.model import (
    PARTS,
    BehaviourSettings,
    host_frame,
    internal_of,
    parts_of,
    rates_of,
)
from graphnet.detectors.contract import Context, DetectorRun
from graphnet.errors import NotEnoughHistory
from graphnet.findings import Finding, cypher_literal

log = logging.getLogger(__name__)

BROWSER_QUERY = "browser/first_behaviour"  # graphnet/cypher/browser/first_behaviour.cypher
_PARAM = re.compile(r"\$([A-Za-z_]\w*)")

#: per host, the (peer, port) services of its first times -> per host, example connections
#: (`uids`, `connections`, `first`, `last`)
Examples = Callable[[Mapping[str, Sequence[tuple[str, int]]]], dict[str, dict[str, Any]]]


def browser_query(host: str, window: str) -> str:
    """The saved Browser query `graphnet/cypher/browser/first_behaviour.cypher` with its `$host` and
    `$window` rendered as Cypher string literals (`graphnet.findings.cypher_literal`): host ids
    come from logs and are attacker-controlled. Shown to people, never executed by graphnet."""
    from graphnet.store import cypher as cypher_text

    params = {"host": host, "window": window}
    return _PARAM.sub(lambda m: cypher_literal(params[m.group(1)]), cypher_text(BROWSER_QUERY))


def example_uids(
    conns: pd.DataFrame, keys: Mapping[str, Sequence[tuple[str, int]]], limit: int = 10
) -> dict[str, dict[str, Any]]:
    """Per host: up to `limit` uids (earliest first), the count and the first/last time of its
    answered connections in a frame to the (peer, port) services of its first times (what
    `aggregates.examples` asks the archive)."""
    rows = [(h, d, int(port)) for h, ks in keys.items() for d, port in ks]
    if not rows or "uid" not in conns or conns.empty:
        return {}
    want = pd.DataFrame(rows, columns=["s", "d", "port"]).drop_duplicates()
    c = pd.DataFrame(
        {
            "s": conns["src"].astype(str).to_numpy(dtype=object),
            "d": conns["dst"].astype(str).to_numpy(dtype=object),
            "port": conns["dport"].to_numpy(dtype="int64"),
            "ts": conns["ts"].to_numpy(dtype="float64"),
            "uid": conns["uid"].astype(str).to_numpy(dtype=object),
        }
    )[answered(conns)]
    hit = c.merge(want, on=["s", "d", "port"]).sort_values(["s", "ts"], kind="stable")
    out: dict[str, dict[str, Any]] = {}
    for h, g in hit.groupby("s", sort=False):
        out[str(h)] = {
            "uids": [str(u) for u in g["uid"].head(limit)],
            "connections": len(g),
            "first": float(g["ts"].min()),
            "last": float(g["ts"].max()),
        }
    return out


def findings_from_hosts(
    hosts: pd.DataFrame,
    parts: Mapping[str, pd.DataFrame],
    conns: pd.DataFrame | Examples,
    window: str,
    settings: BehaviourSettings,
    history: Sequence[str] = (),
) -> list[Finding]:
    """One `first_behaviour` finding per originating host of `hosts` (`host_frame`, highest
    score first; at most `max_findings`): its score, the part scores that contributed
    (`parts`), the explanation naming each first time, and as evidence per part its count,
    the (peer, port) services and the details (hop chain, period), example uids of those
    connections (from the window's frame `conns`, or asked of `conns` when it is `Examples`)
    and the history windows. Only the originator is a host of the finding (its peers did
    nothing new themselves)."""
    top = hosts[hosts["score"] > 0].head(settings.max_findings)
    keys: dict[str, list[tuple[str, int]]] = {}
    detail: dict[str, dict[str, dict[str, Any]]] = {}
    for h, row in zip(top.index, top.to_dict("records"), strict=True):
        h = str(h)
        for name in PARTS:
            score = float(row.get(f"part_{name}", 0.0))
            if score <= 0 or name not in parts or h not in parts[name].index:
                continue
            p: dict[Any, Any] = parts[name].loc[h].to_dict()
            services = [(str(d), int(port)) for d, port in p["keys"]]
            keys.setdefault(h, []).extend(services)
            item: dict[str, Any] = {
                "score": score,
                "n": int(p["n"]),
                "what": str(p["text"]),
                "services": [f"{d}:{port}" for d, port in services[:10]],
            }
            if name in ("new_admin", "new_service"):
                item["rarity"] = round(float(p["rare"]), 4)
            if name == "new_admin":
                item["chain"] = bool(p["chain"])
            if name == "new_periodic":
                item["regularity"] = float(p["reg"])
                item["period_seconds"] = float(p["period"])
            detail.setdefault(h, {})[name] = item
    if isinstance(conns, pd.DataFrame):
        examples = example_uids(conns, keys)
    else:
        examples = conns(keys) if keys else {}
    out = []
    for h, row in zip(top.index, top.to_dict("records"), strict=True):
        h = str(h)
        score = float(row["score"])
        ex = examples.get(h, {})
        out.append(
            Finding(
                kind="first_behaviour",
                window=window,
                score=score,
                hosts=[h],
                explanation=str(row["explanation"]),
                parts={
                    n: float(row[f"part_{n}"])
                    for n in PARTS
                    if float(row.get(f"part_{n}", 0.0)) > 0
                },
                evidence={
                    "first_times": detail.get(h, {}),
                    "uids": ex.get("uids", []),
                    "connections": ex.get("connections", 0),
                    "first": ex.get("first"),
                    "last": ex.get("last"),
                    "alert": score >= settings.alert_score,
                    "history": list(history),
                },
                cypher=browser_query(h, window),
                detector="behaviour",
            )
        )
    return out


@dataclass
class BehaviourResult:
    """What `behaviour_window` found: the saved findings and every scored host."""

    window: str
    history: list[str]
    findings: list[Finding]
    hosts: pd.DataFrame  # host_frame of the window
    bits: dict[str, float]  # learned weight per part and originator zone (empty: defaults)
    alert_score: float
    seconds: float

    @property
    def alerts(self) -> int:
        return int((self.hosts["score"] >= self.alert_score).sum()) if len(self.hosts) else 0

    def to_json(self, top: int = 20) -> dict[str, Any]:
        """A summary (what the scheduler logs); `graphnet behaviour --json` prints the
        findings themselves, `[f.to_json() for f in findings[:top]]`."""
        return {
            "window": self.window,
            "history": len(self.history),
            "hosts": len(self.hosts),
            "alerts": self.alerts,
            "findings": len(self.findings),
            "seconds": round(self.seconds, 3),
            "top": [f.to_json() for f in self.findings[:top]],
        }


def run(ctx: Context) -> DetectorRun:
    """Learn from the archive windows before the window, score the hosts that originated
    connections in it, and return one `first_behaviour` finding per host that did something
    for the first time (the `max_findings` highest). The connections stay in the archive: the
    engine aggregates them (`aggregates`) and only the first times reach Python.

    Options: a `BehaviourSettings` (default: the defaults with graphnet's `internal_cidrs` and
    window kind). Raises ValueError when the archive does not hold the window and
    NotEnoughHistory without an earlier window within `history_days` (everything would be a
    first time). The detector scores hosts: there are no connection scores, with or without
    `ConnectionScores`."""
    t0 = time.perf_counter()
    archive = ctx.archive
    window = archive.require(ctx.window)
    st = ctx.option(BehaviourSettings) or BehaviourSettings(
        internal_cidrs=tuple(ctx.settings.internal_cidrs), window_kind=windows.kind_of(window)
    )
    hist_w = archive.history(window, st.history_days)
    if not hist_w:
        raise NotEnoughHistory(
            f"no archive window before {window} within {st.history_days:g} days: "
            "without history everything would be a first time",
            hint="ingest the logs of an earlier window first",
        )
    internal = internal_of(st)
    with archive.session(
        {"conns": [window], "past": hist_w}, lookups={"b_admin": aggregates.admin_table(st)}
    ) as s:
        firsts, bits = aggregates.first_times(s, hist_w, st, internal)
        parts = parts_of(firsts, st)
        hosts = host_frame(parts, st, bits, internal)
        found = findings_from_hosts(
            hosts, parts, lambda keys: aggregates.examples(s, keys), window, st, hist_w
        )
    rates = rates_of(bits)
    result = BehaviourResult(
        window=window,
        history=hist_w,
        findings=found,
        hosts=hosts,
        bits=rates,
        alert_score=st.alert_score,
        seconds=time.perf_counter() - t0,
    )
    log.debug(
        "behaviour %s: %d first-time services, %d hosts, %.1f s",
        window,
        len(firsts.services),
        len(hosts),
        result.seconds,
    )
    return DetectorRun(
        step="behaviour",
        window=window,
        summary=f"{len(found)} hosts did something for the first time ({result.alerts} "
        f"scoring {st.alert_score:g} or more), learned from {len(hist_w)} earlier windows",
        host_scores=hosts["score"],
        findings=found,
        alerts=float(result.alerts),
        evidence={str(h): str(e)[:240] for h, e in hosts["explanation"].head(50).items()},
        info={"history": hist_w, "bits": rates, "hosts": len(hosts)},
        detail=result,
    )
