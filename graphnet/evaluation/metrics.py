"""Metrics of the evaluation: ranking quality of detector scores against the ground truth.

Pure helpers over arrays and frames: connection scores to host scores (`top_mean`,
`both_ends`, `best_rows`), ROC AUC / average precision / precision at k (`ranking_metrics`),
host ranks (`host_block`), the detection-quality criterion (`unplanted_above`,
`criterion_met`), means over windows (`pooled`) and JSON-safe numbers (`json_number`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from graphnet.evaluation.truth import WindowTruth


def top_mean(hosts: np.ndarray, scores: np.ndarray, top: int = 20) -> pd.Series:
    """Per host: mean of its `top` highest scores (missing ones count 0)."""
    frame = pd.DataFrame({"host": hosts, "score": scores})
    frame = frame.sort_values(["host", "score"], ascending=[True, False], kind="stable")
    frame = frame[frame.groupby("host", sort=False).cumcount() < top]
    return (frame.groupby("host")["score"].sum() / top).sort_values(ascending=False)


def both_ends(conns: pd.DataFrame, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each connection's value at both of its endpoints: (hosts, values), src ones first."""
    hosts = np.concatenate(
        [
            conns["src"].astype(str).to_numpy(dtype=object),
            conns["dst"].astype(str).to_numpy(dtype=object),
        ]
    )
    return hosts, np.concatenate([values, values])


def best_rows(conns: pd.DataFrame, values: np.ndarray, hosts: Sequence[str]) -> dict[str, int]:
    """Row position of each host's highest-scoring connection (as either endpoint)."""
    h, v = both_ends(conns, values)
    frame = pd.DataFrame({"host": h, "v": v, "row": np.tile(np.arange(len(conns)), 2)})
    frame = frame[frame["host"].isin(set(hosts))].sort_values("v", ascending=False, kind="stable")
    best = frame.drop_duplicates("host")
    return dict(zip(best["host"], best["row"], strict=True))


def json_number(x: Any) -> Any:
    """JSON-safe numbers: numpy scalars to Python, NaN/inf to None, rounded."""
    if isinstance(x, dict):
        return {str(k): json_number(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_number(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        f = float(x)
        return round(f, 6) if math.isfinite(f) else None
    return x


def ranking_metrics(y: np.ndarray, s: np.ndarray, k: int) -> dict[str, Any]:
    """ROC AUC, average precision and precision at k of scores `s` for labels `y` (AUC and AP
    are None when only one class is present). Ties at the k-th place keep the input order."""
    y = np.asarray(y, dtype=bool)
    s = np.nan_to_num(np.asarray(s, dtype="float64"), nan=-1e300, neginf=-1e300, posinf=1e300)
    n, pos = len(y), int(y.sum())
    kk = min(k, n)
    out: dict[str, Any] = {
        "auc": None,
        "ap": None,
        "precision_at_k": None,
        "k": kk,
        "positives": pos,
        "candidates": n,
    }
    if n == 0:
        return out
    order = np.argsort(-s, kind="stable")
    out["precision_at_k"] = float(y[order[:kk]].mean()) if kk else None
    if 0 < pos < n:
        out["auc"] = float(roc_auc_score(y, s))
        out["ap"] = float(average_precision_score(y, s))
    return out


def host_block(
    scores: pd.Series | pd.DataFrame, universe: pd.Index, truth: WindowTruth, k: int
) -> tuple[dict[str, Any], dict[str, float]]:
    """Host-level AUC / AP / precision at min(k, 10) of `scores` against the planted hosts, and
    the rank of each planted host among `universe`."""
    # at call time: graphnet.risk imports the detector pipeline, which may use these helpers
    from graphnet.risk import rank_pvalues

    p = rank_pvalues(scores, universe)
    rank = p * (len(universe) + 1)
    ranks = {h: float(rank.get(h, np.nan)) for h in sorted(truth.hosts)}
    y = universe.isin(list(truth.hosts))
    m = ranking_metrics(y, -p.to_numpy(), min(k, 10))
    return {
        "auc": m["auc"],
        "ap": m["ap"],
        "precision_at_k": m["precision_at_k"],
        "k": m["k"],
    }, ranks


#: the criterion: at most this many unplanted hosts ranked above a planted attacker ("top 3")
MAX_UNPLANTED_ABOVE = 2


def criterion_met(n_above: int | None) -> bool:
    """Is an attacker with `n_above` unplanted hosts above it within the criterion?"""
    return n_above is not None and n_above <= MAX_UNPLANTED_ABOVE


def unplanted_above(risk: pd.Series, truth: WindowTruth) -> dict[str, int]:
    """Per attacker of the window: how many hosts that no planted scenario involves (neither
    attacker nor victim) have a strictly higher combined risk. The detection-quality criterion
    (issue 7) is at most 2 for every attacker: "top 3" that stays meaningful in a window with
    several planted scenarios, whose attackers rightly outrank each other."""
    r = risk[~risk.index.duplicated(keep="first")].astype("float64")
    planted = set(truth.hosts)
    free = r[~r.index.isin(list(planted))].to_numpy()
    out = {}
    for h, role in sorted(truth.hosts.items()):
        if role != "attacker":
            continue
        mine = float(r.get(h, -np.inf))
        if not np.isfinite(mine):
            mine = -np.inf
        out[h] = int((free > mine).sum())
    return out


def _mean(values: Sequence[Any]) -> float | None:
    v = [float(x) for x in values if x is not None]
    return float(np.mean(v)) if v else None


def pooled(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Means over windows of each detector's metrics; alerts per day over all days."""
    names = sorted({d for r in results for d in r["detectors"]})
    out: dict[str, Any] = {"detectors": {}, "combined": {}}
    for name in [*names, None]:
        # (window result, its block) for the windows where the detector was available
        pairs = [
            (r, r["combined"] if name is None else r["detectors"].get(name, {})) for r in results
        ]
        pairs = [(r, b) for r, b in pairs if b.get("available")]
        if not pairs:
            continue
        blocks = [b for _, b in pairs]
        agg: dict[str, Any] = {
            "available": True,
            "windows": len(blocks),
            "level": blocks[0].get("level"),
        }
        for key in ("auc", "ap", "precision_at_k"):
            agg[key] = _mean([b.get(key) for b in blocks])
        agg["k"] = blocks[0].get("k")
        days = sum(r["days"] for r, _ in pairs)  # the days this detector saw
        agg["alerts_per_day"] = (
            sum(
                b["alerts_per_day"] * r["days"]
                for r, b in pairs
                if b.get("alerts_per_day") is not None
            )
            / days
            if days
            else None
        )
        agg["host_ranks"] = {
            f"{h}@{r['window']}": rk
            for r, b in pairs
            for h, rk in (b.get("host_ranks") or {}).items()
        }
        if name is None:
            agg["unplanted_above"] = {
                f"{h}@{r['window']}": n
                for r, b in pairs
                for h, n in (b.get("unplanted_above") or {}).items()
            }
            out["combined"] = agg
        else:
            out["detectors"][name] = agg
    return out
