"""Analyst feedback: benign verdicts re-injected DUPFACTOR times into training (Spot's practice),
scoped (graphnet.feedback's scopes) and stored in Neo4j; removing a verdict removes its
re-injection at the next fit.

A verdict given for window W applies to the windows after W and re-injects the connections of
W that it covers; a verdict without a window re-injects those of the training history itself.
`feedback_mask` decides which connections of a frame a verdict covers (pandas);
`match_table` says the same as a lookup table for `graphnet/sql/lda_views.sql`, so that the
archive's engine finds the covered connections without loading a window.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

log = logging.getLogger(__name__)

#: the columns of the verdicts' lookup table (`lda_fb_match`)
MATCH_SCHEMA = pa.schema(
    [
        ("grp", pa.string()),
        ("kind", pa.string()),
        ("src", pa.string()),
        ("dst", pa.string()),
        ("port", pa.int64()),
        ("service", pa.string()),
    ]
)


def load_feedback(store: Any) -> list[dict[str, Any]]:
    """Benign `(:Feedback)` verdicts from the store (`graphnet/cypher/lda_feedback.cypher`), as
    dicts of their properties."""
    return [dict(r["feedback"]) for r in store.read("lda_feedback")]


def _ip_int(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Host ids -> (integer address, version) via their distinct values; non-IPs get -1/0."""
    codes, uniq = pd.factorize(values.astype(str), sort=False)
    addr = np.full(len(uniq), -1, dtype=object)
    ver = np.zeros(len(uniq), dtype=np.int64)
    for i, u in enumerate(uniq):  # loop over distinct hosts, not rows
        try:
            ip = ipaddress.ip_address(str(u).split("%", 1)[0])
        except ValueError:
            continue
        addr[i] = int(ip)
        ver[i] = ip.version
    return addr[codes], ver[codes]


def _in_net(addr: np.ndarray, ver: np.ndarray, cidr: str) -> np.ndarray:
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return np.zeros(len(addr), dtype=bool)
    lo, hi = int(net.network_address), int(net.broadcast_address)
    ok = ver == net.version
    out = np.zeros(len(addr), dtype=bool)
    idx = np.flatnonzero(ok)
    if idx.size:
        a = addr[idx].astype(object)
        out[idx] = (a >= lo) & (a <= hi)
    return out


def feedback_mask(frame: pd.DataFrame, fb: dict[str, Any]) -> np.ndarray:
    """Which connections a benign verdict covers, by its scope (the scopes of
    graphnet.feedback): `pair` (src -> dst), `src` (everything src initiates), `dst_service`
    (everything to dst), `subnet_pair` (src and dst are subnets, e.g. 10.0.1.0/24), `path`
    (each hop of `hosts`); each optionally narrowed by `port` and/or `service`. Unknown or
    underspecified scopes match nothing (logged)."""
    scope = str(fb.get("scope") or "pair").lower().replace("-", "_")
    n = len(frame)
    none = np.zeros(n, dtype=bool)
    src = frame["src"].astype(str).to_numpy(dtype=object)
    dst = frame["dst"].astype(str).to_numpy(dtype=object)
    m = np.ones(n, dtype=bool)
    if scope == "path":
        hosts = [str(h) for h in fb.get("hosts") or []]
        hops = list(itertools.pairwise(hosts))
        if not hops:
            return none
        m &= pd.MultiIndex.from_arrays([src, dst]).isin(hops)
    elif scope == "subnet_pair":
        if not fb.get("src") or not fb.get("dst"):
            return none
        a, v = _ip_int(frame["src"])
        b, w = _ip_int(frame["dst"])
        m &= _in_net(a, v, str(fb["src"])) & _in_net(b, w, str(fb["dst"]))
    elif scope in ("pair", "src", "dst_service"):
        need = {"pair": ("src", "dst"), "src": ("src",), "dst_service": ("dst",)}[scope]
        if any(not fb.get(k) for k in need):
            return none
        if fb.get("src"):
            m &= src == str(fb["src"])
        if fb.get("dst"):
            m &= dst == str(fb["dst"])
    else:
        log.warning("feedback %s: unknown scope %r, ignored", fb.get("id"), scope)
        return none
    port = fb.get("port")
    if port is not None and str(port) not in ("", "-"):
        try:
            m &= (pd.to_numeric(frame["dport"], errors="coerce") == int(port)).to_numpy()
        except (TypeError, ValueError):
            return none
    svc = fb.get("service")
    if svc not in (None, "", "-"):
        m &= frame["service"].astype(str).to_numpy(dtype=object) == str(svc)
    return m


def feedback_flows(
    frame: pd.DataFrame, feedback: Sequence[dict[str, Any]], dupfactor: int
) -> pd.DataFrame:
    """The connections covered by benign verdicts, with `weight` = dupfactor (each connection
    once, however many verdicts cover it)."""
    if frame.empty or not feedback:
        return frame.iloc[:0].assign(weight=pd.Series(dtype="float64"))
    m = np.zeros(len(frame), dtype=bool)
    for fb in feedback:  # a loop over verdicts; each is one vectorised mask
        m |= feedback_mask(frame, fb)
    return frame[m].assign(weight=float(dupfactor))


def benign_groups(
    feedback: Sequence[dict[str, Any]], window: str
) -> dict[str, list[dict[str, Any]]]:
    """The benign verdicts that apply to `window`, by reference window ("" for verdicts without
    a window: they look at the training history), in reference order."""
    by_window: dict[str, list[dict[str, Any]]] = {}
    for f in feedback:
        if str(f.get("verdict", "benign")) != "benign":
            continue
        ref = str(f.get("window") or "")
        if ref and ref >= window:
            continue  # feedback changes the windows after the one it was given for
        by_window.setdefault(ref, []).append(f)
    return dict(sorted(by_window.items()))


def _scope(fb: Mapping[str, Any]) -> str:
    return str(fb.get("scope") or "pair").lower().replace("-", "_")


def _narrowing(fb: Mapping[str, Any]) -> tuple[bool, int | None, str | None]:
    """(usable, port, service) of a verdict: a port that is not a number matches nothing."""
    port = fb.get("port")
    p: int | None = None
    if port is not None and str(port) not in ("", "-"):
        try:
            p = int(port)
        except (TypeError, ValueError):
            return False, None, None
    svc = fb.get("service")
    s = None if svc in (None, "", "-") else str(svc)
    return True, p, s


def needs_pairs(groups: Mapping[str, Sequence[dict[str, Any]]]) -> list[str]:
    """The groups holding a subnet verdict: their pools' distinct (src, dst) pairs are needed
    to expand the subnets."""
    return [g for g, fbs in groups.items() if any(_scope(f) == "subnet_pair" for f in fbs)]


def match_table(
    groups: Mapping[str, Sequence[dict[str, Any]]],
    pairs: Callable[[str], pd.DataFrame] | None = None,
) -> pa.Table:
    """The verdicts as rows (grp, kind, src, dst, port, service) for the engine: kind `pair`
    (src and dst given), `src` (any dst) or `dst` (any src); NULL port or service: any. A
    path becomes its hops; a subnet pair becomes the (src, dst) pairs of its group's pool that
    fall in both subnets (`pairs(grp)` gives the pool's distinct pairs). The same connections
    as `feedback_mask`."""
    rows: list[tuple[str, str, str | None, str | None, int | None, str | None]] = []
    for grp, fbs in groups.items():
        for fb in fbs:
            scope = _scope(fb)
            usable, port, svc = _narrowing(fb)
            hosts: list[tuple[str | None, str | None]] = []
            if scope == "path":
                hosts = list(itertools.pairwise(str(h) for h in fb.get("hosts") or []))
            elif scope == "subnet_pair":
                if fb.get("src") and fb.get("dst") and pairs is not None:
                    pool = pairs(grp)
                    if len(pool):
                        m = feedback_mask(
                            pool, {"scope": "subnet_pair", "src": fb["src"], "dst": fb["dst"]}
                        )
                        sel = pool[m]
                        hosts = list(
                            zip(sel["src"].astype(str), sel["dst"].astype(str), strict=True)
                        )
            elif scope in ("pair", "src", "dst_service"):
                need = {"pair": ("src", "dst"), "src": ("src",), "dst_service": ("dst",)}[scope]
                if all(fb.get(k) for k in need):
                    hosts = [
                        (
                            str(fb["src"]) if fb.get("src") else None,
                            str(fb["dst"]) if fb.get("dst") else None,
                        )
                    ]
            else:
                log.warning("feedback %s: unknown scope %r, ignored", fb.get("id"), scope)
            if not usable:
                continue
            for s, d in dict.fromkeys(hosts):
                kind = "pair" if s is not None and d is not None else "src" if s else "dst"
                rows.append((grp, kind, s, d, port, svc))
    return pa.table(
        {
            n: pa.array([r[i] for r in rows], type=t)
            for i, (n, t) in enumerate(zip(MATCH_SCHEMA.names, MATCH_SCHEMA.types, strict=True))
        },
        schema=MATCH_SCHEMA,
    )


def subnet_groups_table(groups: Sequence[str]) -> pa.Table:
    """Placeholder verdict rows (kind `subnet`) naming the groups whose pools' pairs are
    asked for (`graphnet/sql/lda_fb_pairs.sql`)."""
    n = len(groups)
    return pa.table(
        {
            "grp": pa.array(list(groups), type=pa.string()),
            "kind": pa.array(["subnet"] * n, type=pa.string()),
            "src": pa.nulls(n, pa.string()),
            "dst": pa.nulls(n, pa.string()),
            "port": pa.nulls(n, pa.int64()),
            "service": pa.nulls(n, pa.string()),
        },
        schema=MATCH_SCHEMA,
    )
