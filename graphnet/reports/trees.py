"""The fingerprint of a novel connection's pair as a tree (`tree_for`): per component, the
values the baseline held, the value the finding calls new and other values the window brought,
read from the edges' stored histograms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from graphnet import features
from graphnet.reports.describe import histogram, meaning
from graphnet.reports.types import FingerprintTree, TreeBranch, TreeLeaf

# components drawn in a fingerprint tree (plus any other component a finding names as novel)
TREE_COMPONENTS = ("proto", "service", "dport", "conn_state", "history")
TREE_LEAVES = 5


def _histograms(
    rows: Sequence[Mapping[str, Any]], window: str
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]], int]:
    """Edge rows (window, props) -> summed component histograms of the baseline windows and of
    `window`, and the baseline's connections."""
    base: dict[str, dict[str, int]] = {}
    cur: dict[str, dict[str, int]] = {}
    conns = 0
    for r in rows:
        props = r["props"] or {}
        target = cur if r["window"] == window else base
        if r["window"] != window:
            conns += int(props.get("conns") or 0)
        for key, val in props.items():
            if not key.endswith("_k") or key[:-2] not in features.COMPONENTS:
                continue
            comp = key[:-2]
            h = target.setdefault(comp, {})
            for k, n in histogram(val, props.get(f"{comp}_n")):
                h[k] = h.get(k, 0) + n
    return base, cur, conns


def tree_for(store: Any, f: Any, window: str, baseline: Sequence[str]) -> FingerprintTree | None:
    """The fingerprint of a novel connection's pair as a tree; for a new pair, what the
    destination usually receives (or else what the source usually sends)."""
    if len(f.hosts) < 2:
        return None
    src, dst = str(f.hosts[0]), str(f.hosts[1])
    rows = store.read("report_pair_history", src=src, dst=dst, windows=[*baseline, window])
    base_hist, cur_hist, base_conns = _histograms(rows, window)
    level = "pair"
    if base_conns == 0 and baseline:
        for lvl, name, host in (
            ("server", "report_server_history", dst),
            ("client", "report_client_history", src),
        ):
            wider = store.read(name, host=host, windows=list(baseline))
            b, _, n = _histograms(wider, window)
            if n:
                base_hist, base_conns, level = b, n, lvl
                break
    novel = _novel_values(f)
    comps = list(TREE_COMPONENTS) + [c for c in novel if c not in TREE_COMPONENTS]
    branches = []
    for comp in comps:
        base = base_hist.get(comp, {})
        cur = cur_hist.get(comp, {})
        nv = novel.get(comp)
        items = sorted(base.items(), key=lambda kv: (-kv[1], kv[0]))
        leaves = [
            TreeLeaf(k, meaning(comp, k), n, cur.get(k, 0) if cur else None, novel=(nv == k))
            for k, n in items[:TREE_LEAVES]
        ]
        shown = {lf.value for lf in leaves}
        if nv is not None and nv not in shown:
            leaves.append(
                TreeLeaf(
                    nv,
                    meaning(comp, nv),
                    base.get(nv, 0),
                    cur.get(nv, 0) if cur else None,
                    novel=True,
                )
            )
            shown.add(nv)
        # other values of the window the baseline never had (not the reported novelty)
        fresh = sorted(
            ((k, n) for k, n in cur.items() if k not in base and k not in shown),
            key=lambda kv: (-kv[1], kv[0]),
        )[:2]
        leaves += [TreeLeaf(k, meaning(comp, k), 0, n) for k, n in fresh]
        branches.append(
            TreeBranch(
                component=comp,
                description=features.COMPONENTS.get(comp, comp),
                leaves=leaves,
                more=max(0, len(items) - TREE_LEAVES),
                novel=comp in novel,
            )
        )
    return FingerprintTree(
        finding_id=f.id,
        src=src,
        dst=dst,
        baseline_windows=list(baseline),
        baseline_connections=base_conns,
        branches=branches,
        level=level,
    )


def _novel_values(f: Any) -> dict[str, str]:
    """Component -> value a novel_connection finding calls new (from its evidence and parts)."""
    ev = f.evidence or {}
    out: dict[str, str] = {}
    for key in ("novel", "novel_values", "new_values"):
        v = ev.get(key)
        if isinstance(v, dict):
            out.update({str(k): str(x) for k, x in v.items() if str(k) in features.COMPONENTS})
        elif isinstance(v, list):
            for x in v:
                if isinstance(x, dict) and "component" in x and "value" in x:
                    out[str(x["component"])] = str(x["value"])
    values: dict[str, str] = {}
    for key in ("values", "components", "connection", "example"):
        v = ev.get(key)
        if isinstance(v, dict):
            values.update({str(k): str(x) for k, x in v.items() if str(k) in features.COMPONENTS})
    top_c, top_v = ev.get("top_component"), ev.get("top_value")
    if isinstance(top_c, str) and top_c in features.COMPONENTS and top_v is not None:
        out.setdefault(top_c, str(top_v))
    # parts: components with excess bits, the largest first, valued from the evidence
    parts = f.parts or {}
    scored = []
    for name, v in parts.items():
        comp = name[5:] if name.startswith("part_") else name
        num = v.get("bits") if isinstance(v, dict) else v
        if comp in features.COMPONENTS and isinstance(num, int | float) and num > 0:
            scored.append((float(num), comp))
    for _, comp in sorted(scored, reverse=True)[:2]:
        if comp in values:
            out.setdefault(comp, values[comp])
    return out
