"""The parts of a connection's novelty, the model's parameters, and how parts add up.

One part per categorical component (its excess bits against the pair's fingerprint, see
`backoff`) and two "who" parts (new pair, new host), grouped so that one change does not count
several times; group bits add up, with a weight per group, to a connection's total bits, and
`novelty_from_bits` maps bits to a 0-1 score (the formulas are in `model`'s docstring).
`NoveltyParams` holds every parameter of the model, the back-off's pseudo-counts included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from graphnet.detectors.novelty.histograms import COMPONENTS

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


def combine_parts(
    parts: np.ndarray, p: NoveltyParams, groups: Sequence[str] | None = None
) -> np.ndarray:
    """(rows x PARTS) excess bits -> total bits of the given groups (default all), see `model`'s
    docstring."""
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
