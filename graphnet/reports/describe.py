"""Describing values for a network engineer: the titles of finding kinds, what a component
value means (connection states, TCP histories, ports ...), and a finding's parts and evidence as
(name, text) rows."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from graphnet import features, windows
from graphnet.reports.types import Count

KIND_TITLES = {
    "centrality_shift": "centrality shift",
    "novel_connection": "novel connection",
    "deviating_path": "deviating path",
    "suspicious_connect": "suspicious connect",
    "volume_anomaly": "volume anomaly",
    "first_behaviour": "first-time behaviour",
    "beacon": "beacon",
    "long_connection": "long connection",
    "strobe": "strobe",
    "suspicious_dns": "suspicious DNS",
    "suspicious_http": "suspicious HTTP",
    "dns_tunnel": "DNS tunnelling",
}


def histogram(keys: Sequence[Any] | None, counts: Sequence[Any] | None) -> list[tuple[str, int]]:
    if not keys:
        return []
    ns = list(counts or [])
    out = [
        (str(k), int(ns[i]) if i < len(ns) and ns[i] is not None else 0) for i, k in enumerate(keys)
    ]
    return sorted(out, key=lambda kv: (-kv[1], kv[0]))


def meaning(component: str, value: str) -> str:
    """What a component value means, for the report ('' when the value speaks for itself)."""
    if component == "conn_state":
        return features.CONN_STATES.get(value, "unknown state")
    if component == "history":
        if value == "other":
            return "histories folded together (not among the most frequent)"
        return features.describe_history(value)
    if component == "dport":
        if value == "dyn":
            return "a dynamic port (49152 and above)"
        if value == "other":
            return "ports folded together (not among the most frequent)"
        return ""
    if component in ("orig_act", "resp_act", "hour") or component.endswith("_bin"):
        return features.describe_value(component, value)
    if value == "-":
        return "unknown"
    return ""


def counts_of(
    component: str, keys: Sequence[Any] | None, ns: Sequence[Any] | None, limit: int = 4
) -> list[Count]:
    return [Count(k, n, meaning(component, k)) for k, n in histogram(keys, ns)[:limit]]


def _fmt_number(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "n/a"
        if v == int(v) and abs(v) < 1e15:
            return f"{int(v):,}"
        return f"{v:.3g}"
    return str(v)


def _is_window_list(v: Any) -> bool:
    if not isinstance(v, list) or not v:
        return False
    try:
        for x in v:
            windows.kind_of(str(x))
    except ValueError:
        return False
    return True


def describe_parts(parts: Mapping[str, Any], limit: int = 6) -> list[tuple[str, str]]:
    """A finding's named sub-scores as (name, text), largest first."""

    def weight(item: tuple[str, Any]) -> float:
        v = item[1]
        if isinstance(v, dict):
            for k in ("z", "score", "bits", "value"):
                if isinstance(v.get(k), int | float) and not isinstance(v.get(k), bool):
                    return abs(float(v[k]))
            return 0.0
        if isinstance(v, int | float) and not isinstance(v, bool):
            return abs(float(v))
        return 0.0

    items = sorted(parts.items(), key=lambda kv: -weight(kv))
    out = []
    for name, v in items[:limit]:
        label = name[5:] if name.startswith("part_") else name
        if isinstance(v, dict):
            if {"previous", "current"} <= set(v):
                text = f"{_fmt_number(v['previous'])} → {_fmt_number(v['current'])}"
                if "z" in v:
                    text += f" (z {_fmt_number(v['z'])})"
            else:
                text = ", ".join(f"{k} {_fmt_number(x)}" for k, x in v.items())
        elif isinstance(v, list):
            text = ", ".join(_fmt_number(x) for x in v[:8])
        else:
            text = _fmt_number(v)
        if label in features.COMPONENTS and label not in ("conn_state", "history"):
            label = f"{label} ({features.COMPONENTS[label]})"
        out.append((label, text))
    return out


def describe_evidence(evidence: Mapping[str, Any], limit: int = 14) -> list[tuple[str, str]]:
    """A finding's evidence as (name, text); conn_state and TCP history values are shown with
    their meanings."""
    out: list[tuple[str, str]] = []
    top_comp = evidence.get("top_component")
    for key, v in list(evidence.items())[:limit]:
        if key == "top_value" and top_comp in features.COMPONENTS and isinstance(v, str):
            m = meaning(str(top_comp), v)
            out.append((key, f"{v} ({m})" if m else v))
            continue
        comp = next(
            (
                c
                for c in (
                    "conn_state",
                    "history",
                    "orig_act",
                    "resp_act",
                    "dport",
                    "service",
                    "proto",
                )
                if key in (c, c + "s") or key.startswith(c + "_") or key.endswith("_" + c)
            ),
            None,
        )
        if key == "history" and _is_window_list(v):
            out.append(("earlier windows", ", ".join(str(x) for x in v)))
            continue
        if comp and isinstance(v, str):
            m = meaning(comp, v)
            out.append((key, f"{v} ({m})" if m else v))
        elif comp and isinstance(v, dict):
            pieces = []
            for k, n in sorted(
                v.items(), key=lambda kv: -float(kv[1]) if isinstance(kv[1], int | float) else 0
            )[:6]:
                m = meaning(comp, str(k))
                pieces.append(f"{k} ×{_fmt_number(n)}" + (f" ({m})" if m else ""))
            out.append((key, ", ".join(pieces)))
        elif comp and isinstance(v, list) and all(isinstance(x, str) for x in v):
            pieces = [f"{x} ({meaning(comp, x)})" if meaning(comp, x) else x for x in v[:6]]
            out.append((key, ", ".join(pieces)))
        elif isinstance(v, dict) and any(c in v for c in features.COMPONENTS):
            pieces = []
            for c, x in v.items():
                m = meaning(c, str(x)) if c in features.COMPONENTS else ""
                pieces.append(f"{c} {x}" + (f" ({m})" if m else ""))
            out.append((key, "; ".join(pieces)))
        elif isinstance(v, list):
            shown = ", ".join(
                _fmt_number(x) if not isinstance(x, dict | list) else json.dumps(x, default=str)
                for x in v[:8]
            )
            more = f" … (+{len(v) - 8})" if len(v) > 8 else ""
            out.append((key, shown + more))
        elif isinstance(v, dict):
            out.append((key, json.dumps(v, default=str, sort_keys=True)[:300]))
        else:
            out.append((key, _fmt_number(v)))
    return out
