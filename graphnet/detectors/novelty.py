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

group bits = max_c x_c + rho * (sum_c x_c - max_c x_c)   (rho = 0.25)
total bits = sum over groups of weight_g * group bits     (who/what/how 1.0, when/size 0.5)
novelty    = 1 - 2 ** (-total / scale)                    (scale = 10 bits: 10 -> 0.5, 20 -> 0.75)

Uniqueness (independent of the pair): -log2((n(t) + 0.5) / (N + 1)) for the connection's
(proto, service, dport, conn_state) tuple t counted over all baseline connections.

Everything is vectorised: rows are reduced to distinct (pair, value) combinations per
component, looked up with searchsorted in the fingerprint's sorted code arrays, and mapped back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
from scipy.special import gammaln

from graphnet import features, fingerprints, ingest
from graphnet.config import Settings
from graphnet.detectors.base import Detector
from graphnet.fingerprints import COMPONENTS, JOINT, Fingerprints

GROUPS: dict[str, tuple[str, ...]] = {
    "who": ("new_pair", "new_host"),
    "what": ("proto", "service", "dport"),
    "how": ("conn_state", "history", "orig_act", "resp_act"),
    "size": ("src_bytes_bin", "dst_bytes_bin", "src_pkts_bin", "dst_pkts_bin"),
    "when": ("hour", "daytype"),
}
PARTS: tuple[str, ...] = tuple(p for g in GROUPS.values() for p in g)
WHO_PARTS = ("new_pair", "new_host")
assert set(PARTS) == set(COMPONENTS) | set(WHO_PARTS)


@dataclass(frozen=True)
class NoveltyParams:
    # prior pseudo-count at the client/server and subnet-pair levels
    alpha: float = 5.0
    # concentrations averaged at the pair level, weighted per pair and component by their
    # posterior (Dirichlet-multinomial marginal likelihood of the pair's baseline counts)
    pair_alphas: tuple[float, ...] = (0.25, 2.0, 16.0, 128.0, 1024.0)
    alpha_global: float = 1.0  # prior pseudo-count of the uniform floor at the global level
    alpha_who: float = 2.0  # prior pseudo-count of the global rate in per-host new-peer rates
    rho: float = 0.1  # share of the non-maximal components of a correlated group
    additive: tuple[str, ...] = ("who",)  # groups whose parts are distinct facts: summed
    weights: tuple[tuple[str, float], ...] = (
        ("who", 1.0),
        ("what", 1.0),
        ("how", 1.0),
        ("size", 0.5),
        ("when", 0.5),
    )
    scale_bits: float = 10.0  # bits at which a 0-1 novelty score is 0.5
    # a connection is novel when its p-value (window_p_values) is at most this
    novel_p: float = 0.01

    def weight(self, group: str) -> float:
        return dict(self.weights).get(group, 1.0)


def novelty_from_bits(bits: np.ndarray | float, scale: float) -> np.ndarray:
    return 1.0 - np.exp2(-np.asarray(bits, dtype="float64") / scale)


# --------------------------------------------------------------------------------------------
# vectorised scoring
# --------------------------------------------------------------------------------------------
@dataclass
class _PairKeys:
    """Per distinct (src, dst) of the observations: their codes at every level."""

    codes: np.ndarray  # row -> distinct pair
    src: np.ndarray  # host ids
    dst: np.ndarray
    src_fp: np.ndarray  # fingerprint host code or -1
    dst_fp: np.ndarray
    pair: np.ndarray  # fingerprint pair code or -1
    sp: np.ndarray  # fingerprint subnet-pair code or -1
    src_zone: np.ndarray  # 1 internal, 0 external
    dst_zone: np.ndarray
    src_sub: np.ndarray  # fingerprint subnet code or -1
    dst_sub: np.ndarray

    def level_key(self, level: str) -> np.ndarray:
        if level == "pair":
            return self.pair
        if level == "client":
            return self.src_fp
        if level == "server":
            return self.dst_fp
        if level == "subnet_pair":
            return self.sp
        if level == "zone_pair":
            return self.src_zone * 2 + self.dst_zone
        return np.zeros(len(self.pair), dtype=np.int64)


def _pair_keys(
    fp: Fingerprints,
    src: np.ndarray | pd.Series,
    dst: np.ndarray | pd.Series,
    hosts_info: Mapping[str, Mapping[str, Any]] | None,
    settings: Settings | None,
) -> _PairKeys:
    s_codes, s_uniq = pd.factorize(src, sort=False)  # Arrow strings are factorised natively
    d_codes, d_uniq = pd.factorize(dst, sort=False)
    nd = max(len(d_uniq), 1)
    w_codes, w_uniq = pd.factorize(s_codes.astype(np.int64) * nd + d_codes, sort=False)
    ws = np.asarray(w_uniq, dtype=np.int64) // nd
    wd = np.asarray(w_uniq, dtype=np.int64) % nd
    s_ids = np.asarray(s_uniq, dtype=object)[ws]
    d_ids = np.asarray(d_uniq, dtype=object)[wd]
    src_fp = fp.host_codes(s_ids)
    dst_fp = fp.host_codes(d_ids)
    pair = fp.pair_codes(src_fp, dst_fp)

    # subnet and zone: known hosts from the fingerprint; others from `hosts_info` (Host.subnet
    # and Host.internal), else ingest's classification; no subnet -> the host id
    classify = ingest.host_classifier(settings.internal_cidrs if settings else ())

    def where(ids: np.ndarray, fpc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        known = fpc >= 0
        k = np.maximum(fpc, 0)
        sub = np.where(known, fp.host_subnet[k] if len(fp.hosts) else -1, -1).astype(np.int64)
        zone = np.where(known, fp.host_zone[k] if len(fp.hosts) else 0, 0).astype(np.int64)
        unknown = np.flatnonzero(~known)
        if len(unknown):
            codes, uniq = pd.factorize(ids[unknown])
            labels, zones = [], []
            for h in uniq:  # once per distinct new host
                info = (hosts_info or {}).get(str(h)) or classify(str(h))
                lab = info.get("subnet")
                labels.append(str(lab) if lab is not None else str(h))
                zones.append(1 if info.get("internal") else 0)
            sub[unknown] = fp.subnets.get_indexer(pd.Index(labels, dtype=object))[codes]
            zone[unknown] = np.asarray(zones, dtype=np.int64)[codes]
        return sub, zone

    s_sub, s_zone = where(s_ids, src_fp)
    d_sub, d_zone = where(d_ids, dst_fp)
    sp = fp.subnet_pair_codes(s_sub, d_sub)
    return _PairKeys(
        w_codes.astype(np.int64),
        s_ids,
        d_ids,
        src_fp,
        dst_fp,
        pair,
        sp,
        s_zone,
        d_zone,
        s_sub,
        d_sub,
    )


def _level_stats(
    fp: Fingerprints, comp: str, level: str, key: np.ndarray, value: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n(key, value), N(key), H(key) at one level (zeros for unknown keys)."""
    lh = fp.levels[comp][level]
    ok = key >= 0
    kk = np.maximum(key, 0)
    if len(lh.total) == 0:
        z = np.zeros(len(key))
        return z, z, z
    N = np.where(ok, lh.total[kk], 0.0)
    H = np.where(ok, lh.entropy[kk], 0.0)
    return lh.lookup(key, value), N, H


def _vocab_size(fp: Fingerprints, comp: str) -> int:
    voc = fp.vocab[comp]
    return len(voc) - (1 if comp in fingerprints.FOLDED and fingerprints.OTHER in voc else 0)


def _role(
    fp: Fingerprints,
    comp: str,
    keys: Mapping[str, np.ndarray],
    value: np.ndarray,
    p: NoveltyParams,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predictive probability and expected bits up to the role level (the pair's prior).
    Returns (P_role, E_role, P_global)."""
    a, a0 = p.alpha, p.alpha_global
    V = _vocab_size(fp, comp)
    n, N, H = _level_stats(fp, comp, "global", keys["global"], value)
    P_g = (n + a0 / (V + 1)) / (N + a0)
    E_g = (N * H + a0 * math.log2(V + 1)) / (N + a0)
    n, N, H = _level_stats(fp, comp, "zone_pair", keys["zone_pair"], value)
    P_z = (n + a * P_g) / (N + a)
    E_z = (N * H + a * E_g) / (N + a)
    n, N, H = _level_stats(fp, comp, "subnet_pair", keys["subnet_pair"], value)
    P_sp = (n + a * P_z) / (N + a)
    E_sp = (N * H + a * E_z) / (N + a)
    n, N, H = _level_stats(fp, comp, "client", keys["client"], value)
    P_c = (n + a * P_sp) / (N + a)
    E_c = (N * H + a * E_sp) / (N + a)
    n, N, H = _level_stats(fp, comp, "server", keys["server"], value)
    P_s = (n + a * P_sp) / (N + a)
    E_s = (N * H + a * E_sp) / (N + a)
    return 0.5 * (P_c + P_s), 0.5 * (E_c + E_s), P_g


def pair_weights(fp: Fingerprints, comp: str, p: NoveltyParams) -> np.ndarray:
    """Posterior weight of each pair-level concentration, per pair (pairs x len(pair_alphas)).

    log ML_k(pair) = lgamma(a_k) - lgamma(N + a_k)
                     + sum_v [lgamma(n_v + a_k pi_v) - lgamma(a_k pi_v)],  pi = P_role,
    with a uniform prior over the grid. A pair that behaves like its hosts' roles gets large
    concentrations (its rare values are judged by the role), a pair with its own habit (e.g.
    every connection times out while its hosts' others complete) gets small ones."""
    cache = fp.meta.setdefault("_pair_weights", {})
    ck = (comp, p.alpha, p.alpha_global, p.pair_alphas)
    if ck in cache:
        return np.asarray(cache[ck])
    lh = fp.levels[comp]["pair"]
    alphas = np.asarray(p.pair_alphas, dtype="float64")
    P = fp.n_pairs
    if P == 0 or len(lh.keys) == 0:
        w = np.full((P, len(alphas)), 1.0 / len(alphas))
        cache[ck] = w
        return w
    pair = lh.keys // lh.V
    value = lh.keys % lh.V
    pairs = fp.pairs
    keys = {
        "global": np.zeros(len(pair), dtype=np.int64),
        "zone_pair": pairs["zp"].to_numpy()[pair],
        "subnet_pair": pairs["sp"].to_numpy()[pair],
        "client": pairs["src"].to_numpy()[pair],
        "server": pairs["dst"].to_numpy()[pair],
    }
    pi, _, _ = _role(fp, comp, keys, value, p)
    pi = np.maximum(pi, 1e-300)
    N = lh.total
    ll = np.empty((P, len(alphas)))
    for k, a in enumerate(alphas):
        row = gammaln(lh.n + a * pi) - gammaln(a * pi)
        ll[:, k] = gammaln(a) - gammaln(N + a) + np.bincount(pair, weights=row, minlength=P)
    ll -= ll.max(axis=1, keepdims=True)
    w = np.exp(ll)
    w /= w.sum(axis=1, keepdims=True)
    cache[ck] = w
    return w


def _chain(
    fp: Fingerprints,
    comp: str,
    keys: Mapping[str, np.ndarray],
    value: np.ndarray,
    p: NoveltyParams,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predictive probability and expected bits of `value` for the pair, along the backoff
    chain. Returns (P_pair, E_pair, P_global)."""
    P_r, E_r, P_g = _role(fp, comp, keys, value, p)
    pair = keys["pair"]
    known = pair >= 0
    P_p = P_r.copy()
    E_p = E_r.copy()
    if known.any():
        # sum_k w_k (n + a_k P_r) / (N + a_k) = n * c1 + P_r * c2, per pair constants
        c1, c2 = _pair_coefficients(fp, comp, p)
        pk = pair[known]
        lh = fp.levels[comp]["pair"]
        n = lh.lookup(pk, value[known])
        P_p[known] = n * c1[pk] + P_r[known] * c2[pk]
        E_p[known] = lh.total[pk] * lh.entropy[pk] * c1[pk] + E_r[known] * c2[pk]
    return P_p, E_p, P_g


def _pair_coefficients(
    fp: Fingerprints, comp: str, p: NoveltyParams
) -> tuple[np.ndarray, np.ndarray]:
    """Per pair: c1 = sum_k w_k / (N + a_k) and c2 = sum_k w_k a_k / (N + a_k)."""
    cache = fp.meta.setdefault("_pair_coefficients", {})
    ck = (comp, p.alpha, p.alpha_global, p.pair_alphas)
    if ck not in cache:
        w = pair_weights(fp, comp, p)
        a = np.asarray(p.pair_alphas, dtype="float64")[None, :]
        N = fp.levels[comp]["pair"].total[:, None]
        cache[ck] = ((w / (N + a)).sum(axis=1), (w * a / (N + a)).sum(axis=1))
    c1, c2 = cache[ck]
    return c1, c2


def _rate(
    w: Mapping[str, Any], chain: Sequence[tuple[str, np.ndarray]], base: float, a: float
) -> np.ndarray:
    """A smoothed rate backed off along `chain` (coarse to fine): at each level with a known
    key, r = (new + a * r_coarser) / (opportunities + a)."""
    n = len(chain[0][1]) if chain else 0
    r = np.full(n, base)
    for name, key in chain:
        new = np.asarray(w[f"{name}_new"])
        opp = np.asarray(w[f"{name}_opp"])
        ok = key >= 0
        if not len(new) or not ok.any():
            continue
        k = np.maximum(key, 0)
        r = np.where(ok, (new[k] + a * r) / (opp[k] + a), r)
    return r


def _who(fp: Fingerprints, pk: _PairKeys, p: NoveltyParams) -> tuple[np.ndarray, np.ndarray]:
    """new_pair and new_host bits per distinct pair of the observations (see _who_stats for
    the levels)."""
    w = fp.who
    a = p.alpha_who
    n = len(pk.pair)
    if not w or "g_opp" not in w:
        return np.zeros(n), np.zeros(n)

    def seen(host: np.ndarray, side: str) -> np.ndarray:
        flags = np.asarray(w[f"is_{side}"])
        return (host >= 0) & (flags[np.maximum(host, 0)] if len(flags) else False)

    client, server = seen(pk.src_fp, "src"), seen(pk.dst_fp, "dst")
    g = (float(w["g_new"]) + 1.0) / (float(w["g_opp"]) + 2.0)
    zp = pk.src_zone * 2 + pk.dst_zone
    shared = [("zp", zp), ("sp", pk.sp)]
    r_c = _rate(w, [*shared, ("c", np.where(client, pk.src_fp * 2 + pk.dst_zone, -1))], g, a)
    r_s = _rate(w, [*shared, ("s", np.where(server, pk.dst_fp * 2 + pk.src_zone, -1))], g, a)
    new_pair = np.where(pk.pair < 0, -np.log2(0.5 * (r_c + r_s)), 0.0)

    def new_role(prefix: str, zone: np.ndarray, sub: np.ndarray) -> np.ndarray:
        base = (float(w[f"{prefix}_g_new"]) + 1.0) / (float(w[f"{prefix}_g_opp"]) + 2.0)
        return -np.log2(_rate(w, [(f"{prefix}_zone", zone), (f"{prefix}_sub", sub)], base, a))

    new_host = np.where(client, 0.0, new_role("hc", pk.src_zone, pk.src_sub)) + np.where(
        server, 0.0, new_role("hs", pk.dst_zone, pk.dst_sub)
    )
    return new_pair, new_host


def combine_parts(
    parts: np.ndarray, p: NoveltyParams, groups: Sequence[str] | None = None
) -> np.ndarray:
    """(rows x PARTS) excess bits -> total bits of the given groups (default all), see the
    module docstring."""
    total = np.zeros(parts.shape[0])
    for g, members in GROUPS.items():
        if groups is not None and g not in groups:
            continue
        idx = [PARTS.index(m) for m in members]
        x = parts[:, idx]
        mx = x.max(axis=1)
        rho = 1.0 if g in p.additive else p.rho
        total += p.weight(g) * (mx + rho * (x.sum(axis=1) - mx))
    return total


CONN_GROUPS: tuple[str, ...] = tuple(g for g in GROUPS if g != "who")
GROUP_NAMES: tuple[str, ...] = tuple(GROUPS)
REPRESENTATIVE_SHARE = 0.5


def representatives(parts: np.ndarray, p: NoveltyParams) -> tuple[np.ndarray, np.ndarray]:
    """Per row and group: the group's bits and its representative part (index into PARTS):
    the first member, in GROUPS order (most readable first), with at least half of the group's
    largest part, so 'connection state SF' is named rather than an equally novel history
    string. Returns (rows x groups bits, rows x groups part index)."""
    bits = np.zeros((parts.shape[0], len(GROUPS)))
    rep = np.zeros((parts.shape[0], len(GROUPS)), dtype=np.int64)
    for gi, (g, members) in enumerate(GROUPS.items()):
        idx = np.array([PARTS.index(m) for m in members])
        x = parts[:, idx]
        mx = x.max(axis=1)
        rho = 1.0 if g in p.additive else p.rho
        bits[:, gi] = p.weight(g) * (mx + rho * (x.sum(axis=1) - mx))
        ok = (x >= REPRESENTATIVE_SHARE * mx[:, None]) & (x > 0)
        rep[:, gi] = idx[ok.argmax(axis=1)]
    return bits, rep


@dataclass
class Scored:
    """Connection scores plus what explanations need."""

    frame: pd.DataFrame  # per connection (indexed like the observations)
    parts: np.ndarray  # rows x PARTS excess bits
    values: pd.DataFrame  # the component values of each connection
    keys: _PairKeys
    fp: Fingerprints
    params: NoveltyParams
    extra: dict[str, Any] = field(default_factory=dict)


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
    pk = _pair_keys(fp, conns["src"], conns["dst"], hosts_info, settings)
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
        P_p, E_p, P_g = _chain(fp, comp, keys, cv, p)
        bits = -np.log2(P_p)
        excess = np.maximum(bits - E_p, 0.0)
        parts[:, PARTS.index(comp)] = excess[cc]
        info += bits[cc]
        if comp in JOINT:
            g_bits[:, JOINT.index(comp)] = -np.log2(P_g)[cc]
    new_pair, new_host = _who(fp, pk, p)
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
    top_value, short = _top_values(u_codes, top_idx, has_top)

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


def conversations(scored: Scored) -> pd.DataFrame:
    """Per (src, dst) of the window: how novel the conversation is as a whole.

    Each connection gets its window p-value p (window_p_values of conn_bits); connections with
    p <= novel_p are novel. If nothing changed, the chance that at least k of a pair's n
    connections have p <= t is at most C(n, k) t^k, so with p_(k) the k-th smallest p-value of
    the pair (over novel connections only)

        conversation bits = who_bits + max(0, max_k [k * -log2 p_(k) - log2 C(n, k)])

    Several novel connections add up; a big conversation is not rewarded for the rare value it
    is bound to contain; noise (uniform p-values) scores ~0. The k maximising connections are
    the conversation's novel ones (all of them for a new pair). Vectorised: one sort,
    cumulative counts, reduceat."""
    f = scored.frame
    p = scored.params
    cols = [
        "src",
        "dst",
        "score",
        "bits",
        "conn",
        "conn_bits",
        "who_bits",
        "connections",
        "novel",
        "first",
        "last",
        "best",
        "pair",
    ]
    if f.empty:
        return pd.DataFrame(columns=cols)
    codes = scored.keys.codes
    cb = f["conn_bits"].to_numpy()
    pv = f["p_value"].to_numpy()
    order = np.lexsort((-cb, codes))
    sc = codes[order]
    n_pairs = len(scored.keys.src)
    n = np.bincount(codes, minlength=n_pairs)
    starts = np.concatenate([[0], np.cumsum(n)[:-1]]).astype(np.int64)
    rank = (np.arange(len(order)) - starts[sc] + 1).astype("float64")  # 1-based, most novel 1st
    nn = n[sc].astype("float64")
    log_c = (gammaln(nn + 1) - gammaln(rank + 1.0) - gammaln(nn - rank + 1)) / math.log(2)
    ps = pv[order]
    gain = np.where(ps <= p.novel_p, rank * -np.log2(np.maximum(ps, 1e-300)) - log_c, 0.0)
    best_gain = np.maximum.reduceat(gain, starts)
    at_best = gain >= best_gain[sc] - 1e-9
    k_best = np.zeros(n_pairs, dtype=np.int64)
    hit = np.flatnonzero(at_best)
    grp, first_hit = np.unique(sc[hit], return_index=True)
    k_best[grp] = rank[hit[first_hit]]
    k_best = np.where(best_gain > 0, k_best, 0)
    who = f["who_bits"].to_numpy()[order][starts]
    novel = np.zeros(len(f), dtype=bool)
    novel[order] = (rank <= k_best[sc]) | (who[sc] > 0)
    conv = np.maximum(best_gain, 0.0)
    bits = who + conv
    ts = f["ts"].to_numpy()
    first = np.full(n_pairs, np.inf)
    last = np.full(n_pairs, -np.inf)
    np.minimum.at(first, codes[novel], ts[novel])
    np.maximum.at(last, codes[novel], ts[novel])
    out = pd.DataFrame(
        {
            "src": scored.keys.src,
            "dst": scored.keys.dst,
            "score": novelty_from_bits(bits, p.scale_bits),
            "bits": bits,
            "conn": conv,
            "conn_bits": cb[order][starts],
            "who_bits": who,
            "connections": n,
            "novel": np.bincount(codes[novel], minlength=n_pairs),
            "first": np.where(np.isfinite(first), first, np.nan),
            "last": np.where(np.isfinite(last), last, np.nan),
            "best": order[starts],  # position of the pair's most novel connection
            "pair": np.arange(n_pairs),  # code of the pair in scored.keys
        }
    )
    scored.extra["novel"] = novel
    return out.sort_values(["bits", "src", "dst"], ascending=[False, True, True]).reset_index(
        drop=True
    )


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


def _top_values(
    u_codes: Mapping[str, tuple[np.ndarray, np.ndarray]], top_idx: np.ndarray, has_top: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The value of each row's most novel part and a short phrase for it ('unusual port 22'),
    phrased once per distinct (part, value)."""
    n = len(top_idx)
    code = np.full(n, -1, dtype=np.int64)
    for i, name in enumerate(PARTS):
        if name in u_codes:
            sel = has_top & (top_idx == i)
            code[sel] = u_codes[name][0][sel]
    m = max((len(u) for _, u in u_codes.values()), default=0) + 2
    key = np.where(has_top, top_idx * m + code + 1, -1)
    kc, ku = pd.factorize(key, sort=False)
    values, phrases = [], []
    for k in np.asarray(ku, dtype=np.int64):
        if k < 0:
            values.append("-")
            phrases.append("as usual for this pair")
            continue
        name = PARTS[int(k // m)]
        c = int(k % m) - 1
        if name in WHO_PARTS or c < 0:
            values.append(name.replace("_", " "))
            phrases.append("new " + name.replace("_", " ").replace("new ", ""))
        else:
            v = str(u_codes[name][1][c])
            values.append(v)
            phrases.append("unusual " + phrase(name, v))
    return (
        np.asarray(values, dtype=object)[kc],
        np.asarray(phrases, dtype=object)[kc],
    )


# --------------------------------------------------------------------------------------------
# explanations
# --------------------------------------------------------------------------------------------
def phrase(comp: str, value: str) -> str:
    """A component value as words: 'connection state ... (SF)', 'port 445', ..."""
    text = features.describe_value(comp, value)
    if comp == "conn_state":
        return f"connection state {text}"
    return text


def _pct(x: float) -> str:
    if x >= 0.995 or x == 0:
        return f"{x:.0%}"
    if x < 0.01:
        return f"{x:.2%}"
    return f"{x:.0%}"


def _describe_part(
    fp: Fingerprints,
    name: str,
    value: str,
    src: str,
    dst: str,
    src_fp: int,
    dst_fp: int,
    pair: int,
) -> str:
    k = len(fp.windows)
    wins = f"{k} baseline window{'s' if k != 1 else ''}"
    if name == "new_host":
        texts = []
        is_src = np.asarray(fp.who.get("is_src", np.zeros(0, dtype=bool)))
        is_dst = np.asarray(fp.who.get("is_dst", np.zeros(0, dtype=bool)))
        if src_fp < 0:
            texts.append(f"{src} is a new host (not seen in the {wins})")
        elif not is_src[src_fp]:
            texts.append(f"{src} initiates connections for the first time (in the {wins})")
        if dst_fp < 0:
            texts.append(f"{dst} is a new host (not seen in the {wins})")
        elif not is_dst[dst_fp]:
            texts.append(f"{dst} receives connections for the first time (in the {wins})")
        return "; ".join(texts)
    if name == "new_pair":
        text = f"{src}→{dst} is a new pair (never seen in the {wins})"
        if src_fp >= 0:
            peers = fp.pairs[fp.pairs["src"] == src_fp].nlargest(3, "conns")
            names = [str(fp.hosts[int(d)]) for d in peers["dst"]]
            if names:
                text += f"; {src} usually talks to {', '.join(names)}"
        return text
    pv = phrase(name, value)
    if pair >= 0:
        dist = fp.distribution(name, "pair", pair)
        N = sum(c for _, c in dist)
        if N > 0 and dist:
            top_v, top_n = dist[0]
            seen = dict(dist).get(value, 0.0)
            text = (
                f"{pv}; for {src}→{dst}, {_pct(top_n / N)} of {N:,.0f} earlier connections "
                f"had {phrase(name, top_v)}"
            )
            if top_v != value:
                text += f" and {_pct(seen / N)} had this" if seen else " and none had this"
            return text
    for level, key, who in (
        ("server", dst_fp, f"{dst}'s incoming"),
        ("client", src_fp, f"{src}'s outgoing"),
    ):
        if key >= 0:
            dist = fp.distribution(name, level, key)
            N = sum(c for _, c in dist)
            if N > 0:
                seen = dict(dist).get(value, 0.0)
                return (
                    f"{pv}; {src}→{dst} has no history, and {_pct(seen / N)} of {N:,.0f} "
                    f"earlier {who} connections had this"
                )
    return f"{pv}; neither {src} nor {dst} has history"


def explain(
    scored: Scored,
    threshold: float | None = 0.5,
    max_parts: int = 3,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """Sentences for each connection: full ones (what is new, what the pair usually does) for
    the given `rows` (positions) or those with score >= threshold, a short one for the rest.
    Loops run over distinct (pair, part, value) combinations of the explained rows, not over
    connections."""
    f = scored.frame
    n = len(f)
    out = np.full(n, "as usual for this pair", dtype=object)
    parts = scored.parts
    if n == 0:
        return out
    short = scored.extra.get("short")
    if short is not None:
        out = np.asarray(short, dtype=object).copy()
    if rows is None:
        if threshold is None:
            return out
        rows = np.flatnonzero(f["score"].to_numpy() >= threshold)
    if not len(rows):
        return out
    gbits, reps = representatives(parts[rows], scored.params)
    gorder = np.argsort(-gbits, axis=1)[:, :max_parts]
    pk = scored.keys
    vals = scored.values
    cache: dict[tuple[int, str, str], str] = {}
    for r, i in enumerate(rows):
        w = int(pk.codes[i])
        pieces: list[str] = []
        for g in gorder[r]:
            j = int(reps[r, g])
            bits = parts[i, j]
            if bits <= 0 or (pieces and gbits[r, g] < 1.0):
                continue
            name = PARTS[j]
            value = str(vals[name].iat[i]) if name in COMPONENTS else name
            key = (w, name, value)
            if key not in cache:
                cache[key] = _describe_part(
                    scored.fp,
                    name,
                    value,
                    str(pk.src[w]),
                    str(pk.dst[w]),
                    int(pk.src_fp[w]),
                    int(pk.dst_fp[w]),
                    int(pk.pair[w]),
                )
            pieces.append(f"{cache[key]} [{bits:.1f} bits]")
        if pieces:
            out[i] = pieces[0] + (". Also: " + "; ".join(pieces[1:]) if len(pieces) > 1 else "")
    return out


def summarise(scored: Scored, rows: np.ndarray, max_groups: int = 2) -> np.ndarray:
    """A few words on what is novel about the given connections (positions): the
    representatives of their most novel groups, e.g. 'new pair; service smb'. Phrases are made
    once per distinct (part, value)."""
    out = np.full(len(rows), "", dtype=object)
    if not len(rows):
        return out
    gbits, reps = representatives(scored.parts[rows], scored.params)
    order = np.argsort(-gbits, axis=1)[:, :max_groups]
    cache: dict[tuple[str, str], str] = {}
    for r, i in enumerate(rows):
        words = []
        for g in order[r]:
            if gbits[r, g] < 1.0:
                continue
            name = PARTS[int(reps[r, g])]
            value = str(scored.values[name].iat[i]) if name in COMPONENTS else ""
            key = (name, value)
            if key not in cache:
                cache[key] = name.replace("_", " ") if name in WHO_PARTS else phrase(name, value)
            words.append(cache[key])
        out[r] = "; ".join(words)
    return out


# --------------------------------------------------------------------------------------------
# the detector contract, and a per-row reference implementation
# --------------------------------------------------------------------------------------------
class NoveltyDetector(Detector):
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


class ReferenceScorer:
    """A straightforward per-row implementation of the same formulas with dictionaries.

    Slow on purpose: it is the yardstick the vectorised scorer is checked and benchmarked
    against (tests/unit/test_novelty.py, bench/bench_score.py). The fitted model (level
    histograms, pair concentration weights, who statistics) is taken from the fingerprint."""

    def __init__(self, fp: Fingerprints, params: NoveltyParams | None = None) -> None:
        self.fp = fp
        self.p = params or NoveltyParams()
        self.host = {str(h): i for i, h in enumerate(fp.hosts)}
        self.classify = ingest.host_classifier(())
        self.subnet = {str(s): i for i, s in enumerate(fp.subnets)}
        self.H = len(fp.hosts)
        self.S = len(fp.subnets)
        self.pair = {int(k): i for i, k in enumerate(fp.pair_keys)}
        self.sp = {int(k): i for i, k in enumerate(fp.sp_keys)}
        self.who: dict[str, Any] = {
            k: (v.tolist() if isinstance(v, np.ndarray) else float(v)) for k, v in fp.who.items()
        }
        # the per-pair concentration weights are part of the fitted model
        self.weights = {c: pair_weights(fp, c, self.p).tolist() for c in COMPONENTS}
        self.counts: dict[str, dict[str, dict[tuple[int, str], float]]] = {}
        for comp in COMPONENTS:
            self.counts[comp] = {}
            voc = fp.vocab[comp]
            for lvl, lh in fp.levels[comp].items():
                d: dict[tuple[int, str], float] = {}
                for key, n in zip(lh.keys.tolist(), lh.n.tolist(), strict=True):
                    d[(key // lh.V, str(voc[key % lh.V]))] = n
                self.counts[comp][lvl] = d

    def _where(self, host: str, code: int) -> tuple[int, int]:
        """(subnet code or -1, zone)"""
        if code >= 0:
            return int(self.fp.host_subnet[code]), int(self.fp.host_zone[code])
        info = self.classify(host)
        label = info["subnet"] if info["subnet"] is not None else host
        return self.subnet.get(label, -1), 1 if info["internal"] else 0

    def _n(self, comp: str, lvl: str, key: int, value: str) -> tuple[float, float, float]:
        if key < 0:
            return 0.0, 0.0, 0.0
        lh = self.fp.levels[comp][lvl]
        d = self.counts[comp][lvl]
        if (key, value) in d:
            n = d[(key, value)]
        else:
            n = lh.other_n[key] / lh.other_m[key] if len(lh.other_n) else 0.0
        return n, float(lh.total[key]), float(lh.entropy[key])

    def _rate(self, chain: list[tuple[str, int]], r: float) -> float:
        a = self.p.alpha_who
        for name, key in chain:
            if key >= 0:
                r = (self.who[f"{name}_new"][key] + a * r) / (self.who[f"{name}_opp"][key] + a)
        return r

    def score_row(self, src: str, dst: str, comps: Mapping[str, str]) -> float:
        fp, p = self.fp, self.p
        s = self.host.get(src, -1)
        d = self.host.get(dst, -1)
        pair = self.pair.get(s * self.H + d, -1) if s >= 0 and d >= 0 else -1
        ss, zs = self._where(src, s)
        ds, zd = self._where(dst, d)
        sp = self.sp.get(ss * self.S + ds, -1) if ss >= 0 and ds >= 0 else -1
        zp = zs * 2 + zd
        x: dict[str, float] = {}
        a, a0 = p.alpha, p.alpha_global
        for comp in COMPONENTS:
            v = comps[comp]
            V = _vocab_size(fp, comp)
            n, N, H = self._n(comp, "global", 0, v)
            P = (n + a0 / (V + 1)) / (N + a0)
            E = (N * H + a0 * math.log2(V + 1)) / (N + a0)
            for lvl, key in (("zone_pair", zp), ("subnet_pair", sp)):
                n, N, H = self._n(comp, lvl, key, v)
                P, E = (n + a * P) / (N + a), (N * H + a * E) / (N + a)
            nc, Nc, Hc = self._n(comp, "client", s, v)
            ns, Ns, Hs = self._n(comp, "server", d, v)
            Pr = 0.5 * ((nc + a * P) / (Nc + a) + (ns + a * P) / (Ns + a))
            Er = 0.5 * ((Nc * Hc + a * E) / (Nc + a) + (Ns * Hs + a * E) / (Ns + a))
            if pair >= 0:
                n, N, H = self._n(comp, "pair", pair, v)
                P = E = 0.0
                for w_k, a_k in zip(self.weights[comp][pair], p.pair_alphas, strict=True):
                    P += w_k * (n + a_k * Pr) / (N + a_k)
                    E += w_k * (N * H + a_k * Er) / (N + a_k)
            else:
                P, E = Pr, Er
            x[comp] = max(-math.log2(P) - E, 0.0)
        w = self.who
        client = s >= 0 and bool(w["is_src"][s])
        server = d >= 0 and bool(w["is_dst"][d])
        if pair < 0:
            g = (w["g_new"] + 1) / (w["g_opp"] + 2)
            shared = [("zp", zp), ("sp", sp)]
            rc = self._rate([*shared, ("c", s * 2 + zd if client else -1)], g)
            rs = self._rate([*shared, ("s", d * 2 + zs if server else -1)], g)
            x["new_pair"] = -math.log2(0.5 * (rc + rs))
        else:
            x["new_pair"] = 0.0
        nh = 0.0
        for prefix, known, zone, sub in (("hc", client, zs, ss), ("hs", server, zd, ds)):
            if not known:
                base = (w[f"{prefix}_g_new"] + 1) / (w[f"{prefix}_g_opp"] + 2)
                nh -= math.log2(
                    self._rate([(f"{prefix}_zone", zone), (f"{prefix}_sub", sub)], base)
                )
        x["new_host"] = nh
        total = 0.0
        for g_name, members in GROUPS.items():
            xs = [x[m] for m in members]
            mx = max(xs)
            rho = 1.0 if g_name in p.additive else p.rho
            total += p.weight(g_name) * (mx + rho * (sum(xs) - mx))
        return total

    def score(self, conns: pd.DataFrame, comps: pd.DataFrame | None = None) -> np.ndarray:
        comps = comps if comps is not None else features.components(conns)
        cols = {c: comps[c].astype(str).tolist() for c in COMPONENTS}
        out = []
        for i, (src, dst) in enumerate(zip(conns["src"], conns["dst"], strict=True)):
            row = {c: cols[c][i] for c in COMPONENTS}
            out.append(self.score_row(str(src), str(dst), row))
        return np.asarray(out)


def rank_pairs(frame: pd.DataFrame, by: str = "score") -> pd.DataFrame:
    """Per (src, dst): max score, connections, novel connections — for evaluation and reports."""
    g = frame.groupby(["src", "dst"], sort=False)
    out = g.agg(score=(by, "max"), bits=("bits", "max"), connections=("score", "size"))
    return out.sort_values("score", ascending=False).reset_index()


__all__: Sequence[str] = (
    "GROUPS",
    "PARTS",
    "NoveltyDetector",
    "NoveltyParams",
    "ReferenceScorer",
    "Scored",
    "combine_parts",
    "explain",
    "novelty_from_bits",
    "phrase",
    "rank_pairs",
    "score_connections",
)
