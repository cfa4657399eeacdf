"""Analyst feedback: benign behaviour becomes normal, malicious findings are confirmed.

A feedback has a verdict and a scope:

    pair          src -> dst                    (optionally narrowed by port and/or service)
    src           everything src initiates      (optionally narrowed by port and/or service)
    dst_service   everything to dst             on a port and/or service
    subnet_pair   subnet(src) -> subnet(dst)    (Host.subnet; optionally port/service)
    path          the hops of a deviating path

and a reference window (the finding's window, or the latest window). It is stored as
`(:Feedback {id, verdict, scope, src, dst, port, service, why, created, window, weight, ...})`,
linked `(:Feedback)-[:ON]->(:Finding)` when given for a finding.

Benign feedback changes future scores, it does not hide anything (the novelty detector's
`graphnet.detectors.novelty.injection` does the re-injection): the *approved observations*
- the connections of the reference window that match the scope and were novel there (all
matching connections when that window was not scored) - are re-injected into the fingerprint
counts of every later window, as pseudo-edges of their own pairs (so the client, server,
subnet-pair and global levels see them too), Apache Spot style. Each approved connection
counts `weight` times (DUPFACTOR, default 100), and at least as much as needed for the
approved connections of a pair to weigh as much as the pair's whole baseline, so approved
behaviour holds at least half of its pair's fingerprint. Removing the feedback removes the
injection: the next build of the fingerprints (and so the next scores) are as before.
Malicious feedback marks the finding `confirmed` and does not change scores.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from graphnet import findings as findings_mod
from graphnet import ingest, windows
from graphnet.config import Settings
from graphnet.errors import ConfigError, NotEnoughHistory
from graphnet.store.protocol import GraphStore

log = logging.getLogger(__name__)

VERDICTS = ("benign", "malicious")
SCOPES = ("pair", "src", "dst_service", "subnet_pair", "path")
DUPFACTOR = 100.0


@dataclass
class Feedback:
    verdict: str
    scope: str
    src: str | None = None
    dst: str | None = None
    port: int | None = None
    service: str | None = None
    why: str = ""
    window: str | None = None
    finding: str | None = None
    hosts: list[str] = field(default_factory=list)  # path scope: the hosts in order
    weight: float = DUPFACTOR
    created: str = ""
    id: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ConfigError(
                f"unknown verdict {self.verdict!r}", hint=f"use one of {', '.join(VERDICTS)}"
            )
        if self.scope not in SCOPES:
            raise ConfigError(
                f"unknown scope {self.scope!r}", hint=f"use one of {', '.join(SCOPES)}"
            )
        if not self.created:
            self.created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        if not self.id:
            text = json.dumps(
                [
                    self.verdict,
                    self.scope,
                    self.src,
                    self.dst,
                    self.port,
                    self.service,
                    self.window,
                    self.finding,
                    self.hosts,
                    self.created,
                ],
                default=str,
            )
            self.id = "fb-" + hashlib.sha1(text.encode()).hexdigest()[:12]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """'benign: 10.0.0.5→10.0.0.9 port 445 (window 2024-W10)'"""
        if self.scope == "path":
            what = "→".join(self.hosts)
        elif self.scope == "pair":
            what = f"{self.src}→{self.dst}"
        elif self.scope == "src":
            what = f"everything from {self.src}"
        elif self.scope == "dst_service":
            what = f"everything to {self.dst}"
        else:
            what = f"subnet {self.src} → subnet {self.dst}"
        if self.port is not None:
            what += f" port {self.port}"
        if self.service:
            what += f" service {self.service}"
        return f"{self.verdict}: {what} (window {self.window})"


# --------------------------------------------------------------------------------------------
# matching (pure)
# --------------------------------------------------------------------------------------------
def matches(
    fb: Feedback,
    conns: pd.DataFrame,
    subnet_of: Callable[[str], str | None] | None = None,
) -> np.ndarray:
    """Which connections of a normalised table fall within the feedback's scope (vectorised;
    the subnet lookup runs once per distinct host)."""
    n = len(conns)
    if n == 0:
        return np.zeros(0, dtype=bool)
    src = conns["src"].astype(str).to_numpy(dtype=object)
    dst = conns["dst"].astype(str).to_numpy(dtype=object)
    m = np.ones(n, dtype=bool)
    if fb.scope == "path":
        hops = set(zip(fb.hosts[:-1], fb.hosts[1:], strict=True))
        keys = pd.MultiIndex.from_arrays([src, dst])
        m &= keys.isin(list(hops)) if hops else False
    elif fb.scope == "subnet_pair":
        classify = subnet_of or _default_subnet

        def sub(col: np.ndarray) -> np.ndarray:
            codes, uniq = pd.factorize(col)
            labels = np.array([classify(str(h)) or str(h) for h in uniq], dtype=object)
            return labels[codes] if len(uniq) else np.zeros(0, dtype=object)

        m &= (sub(src) == fb.src) & (sub(dst) == fb.dst)
    else:
        if fb.src is not None:
            m &= src == fb.src
        if fb.dst is not None:
            m &= dst == fb.dst
    if fb.port is not None:
        m &= pd.to_numeric(conns["dport"], errors="coerce").to_numpy() == fb.port
    if fb.service:
        m &= conns["service"].astype(str).to_numpy(dtype=object) == fb.service
    return m


def _default_subnet(host: str) -> str | None:
    return ingest.host_classifier(())(host)["subnet"]


def subnet_lookup(settings: Settings) -> Callable[[str], str | None]:
    classify = ingest.host_classifier(settings.internal_cidrs)
    return lambda h: classify(h)["subnet"]


# --------------------------------------------------------------------------------------------
# the store path
# --------------------------------------------------------------------------------------------
def _from_row(row: Mapping[str, Any]) -> Feedback:
    r = dict(row.get("props", row))
    created = r.get("created")
    if created is not None and hasattr(created, "iso_format"):
        r["created"] = created.iso_format()
    return Feedback(
        id=str(r["id"]),
        verdict=str(r["verdict"]),
        scope=str(r["scope"]),
        src=r.get("src"),
        dst=r.get("dst"),
        port=int(r["port"]) if r.get("port") is not None else None,
        service=r.get("service"),
        why=r.get("why") or "",
        window=r.get("window"),
        finding=r.get("finding"),
        hosts=list(r.get("hosts") or []),
        weight=float(r.get("weight") or DUPFACTOR),
        created=str(r.get("created") or ""),
    )


def list_feedback(store: GraphStore) -> list[Feedback]:
    """All feedback, oldest first."""
    return [_from_row(r) for r in store.read("feedback_list")]


def active_benign(store: GraphStore, before: str) -> list[Feedback]:
    """Benign feedback that applies to fingerprints as of `before` (reference window earlier)."""
    return [
        f for f in list_feedback(store) if f.verdict == "benign" and f.window and f.window < before
    ]


def add_feedback(
    store: GraphStore,
    verdict: str,
    *,
    finding: str | None = None,
    src: str | None = None,
    dst: str | None = None,
    port: int | None = None,
    service: str | None = None,
    scope: str | None = None,
    why: str = "",
    window: str | None = None,
    weight: float = DUPFACTOR,
    settings: Settings | None = None,
) -> Feedback:
    """`graphnet feedback benign|malicious --finding ID | --src S --dst D --port P --service X
    [--scope pair|src|dst_service|subnet_pair] [--why TEXT]`.

    With a finding, the scope is its pair (its path for a deviating path) in its window and
    the finding's status becomes `benign` / `confirmed`. Without, the scope is inferred from
    the options given (src+dst: pair, src: src, dst: dst_service) unless `scope` is given;
    the reference window is `window` or the latest window of the graph."""
    if verdict not in VERDICTS:
        raise ConfigError(f"unknown verdict {verdict!r}", hint="use benign or malicious")
    hosts: list[str] = []
    if finding is not None:
        got = store.read("feedback_finding_get", id=finding)
        if not got:
            raise ConfigError(
                f"no finding {finding!r}", hint="list findings with `graphnet findings`"
            )
        f = got[0]
        window = f["window"]
        fhosts = [str(h) for h in f["hosts"]]
        if f["kind"] == "deviating_path":
            scope, hosts = "path", fhosts
            src, dst = fhosts[0], fhosts[-1]
        elif len(fhosts) >= 2:
            scope = scope or "pair"
            src, dst = fhosts[0], fhosts[1]
        elif fhosts:
            scope = scope or "src"
            src = fhosts[0]
    else:
        if scope is None:
            if src and dst:
                scope = "pair"
            elif src:
                scope = "src"
            elif dst:
                scope = "dst_service"
            else:
                raise ConfigError(
                    "feedback needs --finding, or --src and/or --dst",
                    hint="e.g. graphnet feedback benign --src 10.0.0.5 --dst 10.0.0.9 --port 445",
                )
        if window is None:
            present = [str(r["window"]) for r in store.read("windows_list")]
            if not present:
                raise NotEnoughHistory("the graph holds no windows", hint="ingest logs first")
            window = present[-1]
    _check_scope(scope, src, dst, port, service)
    assert scope is not None
    if scope == "subnet_pair":
        lookup = subnet_lookup(settings or Settings.from_env())
        src = _as_subnet(store, str(src), lookup)
        dst = _as_subnet(store, str(dst), lookup)
    if window is not None:
        windows.kind_of(window)
    fb = Feedback(
        verdict=verdict,
        scope=scope,
        src=src,
        dst=dst,
        port=port,
        service=service,
        why=why,
        window=window,
        finding=finding,
        hosts=hosts,
        weight=float(weight),
    )
    store.write("feedback_create", **_params(fb))
    if finding is not None:
        findings_mod.set_status(store, finding, "benign" if verdict == "benign" else "confirmed")
    log.info("feedback %s: %s", fb.id, fb.describe())
    return fb


def _check_scope(
    scope: str | None, src: str | None, dst: str | None, port: int | None, service: str | None
) -> None:
    if scope not in SCOPES:
        raise ConfigError(f"unknown scope {scope!r}", hint=f"use one of {', '.join(SCOPES)}")
    need = {
        "pair": (src and dst, "--src and --dst"),
        "src": (src, "--src"),
        "dst_service": (dst and (port is not None or service), "--dst and --port/--service"),
        "subnet_pair": (src and dst, "--src and --dst (hosts or subnets)"),
        "path": (src and dst, "a deviating_path finding"),
    }
    ok, what = need[scope]
    if not ok:
        raise ConfigError(f"scope {scope} needs {what}")


def _as_subnet(store: GraphStore, value: str, lookup: Callable[[str], str | None]) -> str:
    """A host id -> its Host.subnet (or classified subnet, or itself); a CIDR stays as is."""
    if "/" in value:
        return value
    rows = store.read("fingerprint_host_subnets", ids=[value])
    if rows and rows[0]["subnet"]:
        return str(rows[0]["subnet"])
    return lookup(value) or value


def _params(fb: Feedback) -> dict[str, Any]:
    d = fb.to_json()
    return d


def remove_feedback(store: GraphStore, feedback_id: str) -> Feedback | None:
    """Delete a feedback; its effect on scores goes with it. A finding it had marked gets its
    status back (`new`) unless other feedback of the same verdict still covers it."""
    rows = store.read("feedback_get", id=feedback_id)
    if not rows:
        return None
    fb = _from_row(rows[0])
    store.write("feedback_delete", id=feedback_id)
    if fb.finding:
        left = store.read("feedback_for_finding", finding=fb.finding, verdict=fb.verdict)
        if not left[0]["n"]:
            findings_mod.set_status(store, fb.finding, "new")
    log.info("removed feedback %s (%s)", fb.id, fb.describe())
    return fb


__all__: Sequence[str] = (
    "DUPFACTOR",
    "SCOPES",
    "VERDICTS",
    "Feedback",
    "active_benign",
    "add_feedback",
    "list_feedback",
    "matches",
    "remove_feedback",
    "subnet_lookup",
)
