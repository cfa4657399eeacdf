"""Novelty of connections against per-pair fingerprints (information content in bits).

For each connection and each categorical component c with value v, the predictive probability
of v for the connection's pair is a chain of Dirichlet (additive) smoothings, each level using
the next coarser one as its prior (alpha = pseudo-count of the prior):

    P_global(v) = (n_g(v) + a0 / (V + 1)) / (N_g + a0)           floor for never-seen values
    P_subnet(v) = (n_sp(v) + a * P_global(v)) / (N_sp + a)        subnet pair
    P_client(v) = (n_c(v) + a * P_subnet(v)) / (N_c + a)          source host as client
    P_server(v) = (n_s(v) + a * P_subnet(v)) / (N_s + a)          destination host as server
    P_role(v)   = (P_client(v) + P_server(v)) / 2
    P_pair(v)   = (n_p(v) + a * P_role(v)) / (N_p + a)

bits_c = -log2 P_pair(v). What matters is how much more surprising v is than what the pair
usually produces, so each component contributes its *excess* bits,
x_c = max(0, bits_c - E_c), where E_c is the expected bits (entropy) of the same predictive
chain, approximated level by level as E = (N * H_empirical + a * E_prior) / (N + a).
A pair that always does the same thing has E ~ 0; a pair with many habits has E large, so its
ordinary variety does not count as novelty.

Two "who" parts cover the identity of the conversation, from how often new pairs and new hosts
appeared inside the baseline itself (smoothed rates, see fingerprints._who_stats):
`new_pair` = -log2 of the pair's new-peer rate (mean of the source's rate as client and the
destination's as server, each backed off to the global rate) when the pair has no history;
`new_host` = -log2 of the global rate of new source (resp. destination) hosts for an end that
was never seen.

Correlated components are grouped so that one change does not count three or four times:

    who  = new_pair, new_host          what = proto, service, dport
    how  = conn_state, history, orig_act, resp_act
    when = hour, daytype               size = src/dst bytes and packet bins

group bits = max_c x_c + rho * (sum_c x_c - max_c x_c)   (rho = 0.1 by default)
total bits = sum over groups of weight_g * group bits     (who/what/how 1.0, when/size 0.5)
novelty    = 1 - 2 ** (-total / scale)                    (scale = 10 bits: 10 -> 0.5, 20 -> 0.75)

Uniqueness (independent of the pair): -log2((n(t) + 0.5) / (N + 1)) for the connection's
(proto, service, dport, conn_state) tuple t counted over all baseline connections.

Everything is vectorised: rows are reduced to distinct (pair, value) combinations per
component, looked up with searchsorted in the fingerprint's sorted code arrays, and mapped back.

This module scores connections (`score_connections`, `window_p_values`) and holds the
`NoveltyDetector` model; the pieces live beside it: `parts` (parts, groups, parameters, how
parts add up), `backoff` (the chain and the who parts), `scored` (what scoring produces),
`explain` (words), `conversations` (per pair) and `reference` (a slow per-row yardstick).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from graphnet import features, windows
from graphnet.config import Settings
from graphnet.detectors.contract import Model
from graphnet.detectors.novelty import backoff, fingerprints
from graphnet.detectors.novelty.explain import explain, top_values
from graphnet.detectors.novelty.fingerprints import JOINT, Fingerprints
from graphnet.detectors.novelty.histograms import COMPONENTS
from graphnet.detectors.novelty.parts import (
    GROUP_NAMES,
    GROUPS,
    PARTS,
    NoveltyParams,
    novelty_from_bits,
    representatives,
)
from graphnet.detectors.novelty.scored import Scored


def score_connections(
    fp: Fingerprints,
    conns: pd.DataFrame,
    params: NoveltyParams | None = None,
    *,
    comps: pd.DataFrame | None = None,
    hosts_info: Mapping[str, Mapping[str, Any]] | None = None,
    settings: Settings | None = None,
    explain_threshold: float | None = 0.5,
) -> Scored:
    """Score every connection of `conns` against `fp` (vectorised).

    The frame has: uid, ts, src, dst, score (0-1 novelty), bits (total excess bits =
    conn_bits from the components + who_bits from new pair / new host), info_bits (sum of the
    raw information content of the 13 components), uniqueness,
    top_component, top_value, explanation and part_<name> (excess bits per part).
    Connections with score >= explain_threshold get a full explanation, the others a short one.
    """
    p = params or NoveltyParams()
    n = len(conns)
    if comps is not None:
        values = comps
    elif n == 0:  # features.components cannot take an empty frame
        values = pd.DataFrame({c: pd.Series([], dtype=object) for c in COMPONENTS})
    else:
        values = features.components(conns)
    pk = backoff.pair_keys(fp, conns["src"], conns["dst"], hosts_info, settings)
    parts = np.zeros((n, len(PARTS)), order="F")  # filled column by column
    info = np.zeros(n)
    g_bits = np.zeros((n, len(JOINT)))
    u_codes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for comp in COMPONENTS:
        col = values[comp]
        uc, uu = pd.factorize(col.to_numpy(), sort=False)
        uc = uc.astype(np.int64)
        u_codes[comp] = (uc, np.asarray(uu, dtype=object))
        fv = fp.vocab[comp].get_indexer(pd.Index(uu, dtype=object)).astype(np.int64)
        U = max(len(uu), 1)
        cc, cu = _factorize_ints(pk.codes * U + uc, len(pk.pair) * U)
        cw = cu // U
        cv = fv[cu % U]
        keys = {lvl: pk.level_key(lvl)[cw] for lvl in fingerprints.LEVELS}
        P_p, E_p, P_g = backoff.chain(fp, comp, keys, cv, p)
        bits = -np.log2(P_p)
        excess = np.maximum(bits - E_p, 0.0)
        parts[:, PARTS.index(comp)] = excess[cc]
        info += bits[cc]
        if comp in JOINT:
            g_bits[:, JOINT.index(comp)] = -np.log2(P_g)[cc]
    new_pair, new_host = backoff.who(fp, pk, p)
    parts[:, PARTS.index("new_pair")] = new_pair[pk.codes]
    parts[:, PARTS.index("new_host")] = new_host[pk.codes]
    g_bits_all, reps = representatives(parts, p)
    who = GROUP_NAMES.index("who")
    who_bits = g_bits_all[:, who].copy()
    conn_bits = g_bits_all.sum(axis=1) - who_bits
    total = who_bits + conn_bits
    score = novelty_from_bits(total, p.scale_bits)

    uniq = _uniqueness(fp, u_codes, g_bits)
    top_group = g_bits_all.argmax(axis=1) if n else np.zeros(0, dtype=np.int64)
    top_idx = reps[np.arange(n), top_group]
    has_top = parts[np.arange(n), top_idx] > 0
    top_comp = np.where(has_top, np.asarray(PARTS, dtype=object)[top_idx], "-")
    top_value, short = top_values(u_codes, top_idx, has_top)

    def text(a: np.ndarray) -> pd.Series:  # keep object strings as they are (no Arrow copy)
        return pd.Series(a, index=conns.index, dtype=object)

    # the parts matrix becomes one block as is (column-major: no copy, no consolidation)
    frame = pd.DataFrame(parts, index=conns.index, columns=[f"part_{q}" for q in PARTS])
    head = {
        "uid": conns["uid"].array if "uid" in conns else np.arange(n),
        "ts": conns["ts"].to_numpy(dtype="float64"),
        "src": conns["src"].array,
        "dst": conns["dst"].array,
        "score": score,
        "bits": total,
        "conn_bits": conn_bits,
        "who_bits": who_bits,
        "p_value": window_p_values(conn_bits, conns["src"].to_numpy()),
        "info_bits": info,
        "uniqueness": uniq,
        "top_component": text(top_comp),
        "top_value": text(top_value),
    }
    for i, (name, col) in enumerate(head.items()):
        frame.insert(i, name, col)
    scored = Scored(frame, parts, values, pk, fp, p, extra={"short": short})
    frame["explanation"] = explain(scored, threshold=explain_threshold)
    return scored


def _factorize_ints(key: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes and sorted uniques of non-negative integers below `size`: a presence table when it
    is small enough (no hashing), pandas' hash factorisation otherwise."""
    if size <= 1 << 25:
        present = np.zeros(size, dtype=bool)
        present[key] = True
        uniq = np.flatnonzero(present)
        rank = np.cumsum(present) - 1
        return rank[key], uniq
    codes, uniq = pd.factorize(key, sort=True)
    return codes, np.asarray(uniq, dtype=np.int64)


def window_p_values(
    bits: np.ndarray, groups: np.ndarray | None = None, per_group: int = 100
) -> np.ndarray:
    """p-value of each connection: the larger of its empirical p-value within the window (the
    fraction of the window's connections at least as novel) and 2^-bits. The empirical part
    calibrates the tail, whatever the absolute size of the component bits, so conversations
    of different pairs and windows compare; the 2^-bits part keeps connections with hardly any
    excess bits at p ~ 1.

    With `groups` (the source host of each connection), one group's connections count at most
    `per_group` times in the empirical part: a scan of thousands of novel connections from one
    host must not push a small, equally novel conversation elsewhere (lateral movement) out of
    the tail."""
    n = len(bits)
    out = np.ones(n)
    pos = np.flatnonzero(bits > 0)  # bits of 0 are at least as novel as nothing: p = 1
    if not len(pos):
        return out
    b = bits[pos]
    order = np.argsort(-b, kind="stable")  # most novel first
    sb = b[order]
    if groups is None:
        w = np.ones(len(b))
    else:
        g = pd.factorize(np.asarray(groups, dtype=object)[pos][order])[0]
        within = pd.Series(g).groupby(g).cumcount().to_numpy()
        w = (within < per_group).astype("float64")
    counted = np.cumsum(w)
    # ties: every member of a run of equal values counts the whole run
    ends = np.concatenate([sb[1:] != sb[:-1], [True]])
    last = np.where(ends, np.arange(len(sb)), len(sb))
    last = np.minimum.accumulate(last[::-1])[::-1]
    ecdf = np.empty(len(b))
    ecdf[order] = np.maximum(counted[last], 1.0) / n
    out[pos] = np.maximum(ecdf, np.exp2(-b))
    return out


def _uniqueness(
    fp: Fingerprints, u_codes: Mapping[str, tuple[np.ndarray, np.ndarray]], g_bits: np.ndarray
) -> np.ndarray:
    if fp.joint is None or fp.joint.empty:
        return g_bits.sum(axis=1)  # independence fallback: global marginals
    combined = np.zeros(len(g_bits), dtype=np.int64)
    for comp in JOINT:
        c, u = u_codes[comp]
        combined = combined * max(len(u), 1) + c
    tc, tu = pd.factorize(combined, sort=False)
    tu = np.asarray(tu, dtype=np.int64)
    cols: dict[str, np.ndarray] = {}
    rest = tu.copy()
    for comp in reversed(JOINT):
        _, u = u_codes[comp]
        base = max(len(u), 1)
        cols[comp] = u[rest % base] if len(u) else np.zeros(len(rest), dtype=object)
        rest = rest // base
    tuples = pd.DataFrame({c: cols[c].astype(str) for c in JOINT})
    joint = fp.joint.astype({c: str for c in JOINT})
    counts = tuples.merge(joint, on=list(JOINT), how="left")["n"].fillna(0.0).to_numpy()
    N = float(fp.joint["n"].sum())
    return (-np.log2((counts + 0.5) / (N + 1.0)))[tc]


class NoveltyDetector(Model):
    """fit(baseline connections) -> score(connections of a later window)."""

    name = "novelty"

    def __init__(
        self,
        params: NoveltyParams | None = None,
        settings: Settings | None = None,
        as_of: str | None = None,
        explain_threshold: float | None = 0.5,
    ) -> None:
        self.params = params or NoveltyParams()
        self.settings = settings or Settings(home=Path("."))
        self.as_of = as_of
        self.explain_threshold = explain_threshold
        self.fingerprints: Fingerprints | None = None

    def fit(self, history: pd.DataFrame) -> Self:
        kind = self.settings.window
        if kind not in windows.KINDS:  # `auto` (a home's default): week, as before it
            kind = "week"
        as_of = self.as_of or "9999"  # sorts after every window id
        self.fingerprints = fingerprints.fingerprints_from_connections(
            history, as_of, self.settings, window_kind=kind
        )
        return self

    def fit_fingerprints(self, fp: Fingerprints) -> Self:
        self.fingerprints = fp
        return self

    def score(self, observations: pd.DataFrame) -> pd.DataFrame:
        if self.fingerprints is None:
            raise RuntimeError("fit the detector first")
        scored = score_connections(
            self.fingerprints,
            observations,
            self.params,
            settings=self.settings,
            explain_threshold=self.explain_threshold,
        )
        return self.check_scores(scored.frame, observations)


# the public model API; the other names are imported from the modules that define them
__all__: Sequence[str] = (
    "GROUPS",
    "PARTS",
    "NoveltyDetector",
    "NoveltyParams",
    "Scored",
    "novelty_from_bits",
    "score_connections",
    "window_p_values",
)
