"""The evaluation harness: how well do the detectors find what was planted (or labelled)?

`evaluate(store, truth, window, settings)` runs the registry's detectors on a window through
the pipeline (`graphnet.pipeline.analyse_window`, nothing saved) and compares each, and the
combined host risk ranking (`graphnet.risk.combine`), with the ground truth of the window:

- the generator's `truth.json` (scenarios with their window, attacker and victim hosts, uids,
  pairs, phases), or
- a labelled log set (`truth=None`): the archive's `label` / `attack_type` columns (CIDDS
  `class`, Stratosphere/Slips `label`, CTU `Label`); a connection is positive when its label
  names an attack (malicious, botnet, attacker, victim, an attack type), negative when it is
  benign/normal/background, and left out otherwise (unknown, unlabelled).

Per detector and window it reports connection-level ROC AUC, average precision and precision
at k (scikit-learn metrics), the same at the pair level, per scenario type (and attack phase),
the rank of every attacker/victim host among the window's hosts, and alerts per day at the
detector's own threshold: all from the detector's `DetectorRun` (connection, pair and host
scores, alerts). A detector that skipped the window, or scored nothing, is reported
unavailable with the pipeline's reason. The JSON shape is documented in docs/evaluation.md.

The detectors of dns.log / http.log records (`RECORD_DETECTORS`) score records and clients:
they are measured at host level, against the clients of the window's application-log plants
meant for them (`truth.PLANT_DETECTORS`), and each plant gets its client's rank by its
detectors and in the combined ranking (`plants`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graphnet import windows
from graphnet.archive import Archive
from graphnet.config import Settings
from graphnet.detectors import applogs
from graphnet.detectors.contract import ConnectionScores, DetectorRun, Step
from graphnet.detectors.lda import CONN_COLUMNS
from graphnet.detectors.registry import default_steps
from graphnet.evaluation.metrics import (
    host_block,
    json_number,
    pooled,
    ranking_metrics,
    unplanted_above,
)
from graphnet.evaluation.truth import (
    Scenario,
    WindowTruth,
    epoch_seconds,
    label_positive,
    load_truth,
)
from graphnet.pipeline import analyse_window
from graphnet.risk import RiskSettings, combine
from graphnet.store.protocol import GraphStore

log = logging.getLogger(__name__)

EVAL_COLUMNS = (*CONN_COLUMNS, "history", "duration")

#: detectors of dns / http records: their records' uids are those of their connections, but
#: they cover only some connections and rank clients, so they are measured at host level
RECORD_DETECTORS = frozenset(s.name for s in applogs.STEPS)


@dataclass
class EvalWindow:
    """One window under evaluation: its connections with their label columns (for the truth
    only: detectors read the archive themselves and never see labels)."""

    store: GraphStore | None
    settings: Settings
    window: str
    options: tuple[object, ...] = field(default=())

    @cached_property
    def conns(self) -> pd.DataFrame:
        return Archive(self.settings).connections(
            [self.window], EVAL_COLUMNS, labels=True, complete=True
        )

    @cached_property
    def hosts(self) -> set[str]:
        c = self.conns
        return set(c["src"].astype(str)) | set(c["dst"].astype(str))


def window_truth(ctx: EvalWindow, scenarios: Sequence[Scenario] | None) -> WindowTruth:
    """What is positive in the window: the truth.json scenarios of the window, or (without
    scenarios) the archive's label columns."""
    c = ctx.conns
    n = len(c)
    uid = c["uid"].astype(str).to_numpy(dtype=object)
    src = c["src"].astype(str).to_numpy(dtype=object)
    dst = c["dst"].astype(str).to_numpy(dtype=object)
    ts = c["ts"].to_numpy(dtype="float64")
    kind = np.full(n, "", dtype=object)
    hosts: dict[str, str] = {}
    pairs: set[tuple[str, str]] = set()
    if scenarios is not None:
        label = np.zeros(n, dtype=bool)
        listed = []
        plants = []
        w0, w1 = (b.timestamp() for b in windows.bounds(ctx.window))
        for s in scenarios:
            in_window = s.window == ctx.window or (
                s.start is not None and w0 <= s.start < w1 and not s.window
            )
            if not in_window:
                continue
            if s.uids:
                m = pd.Index(uid).isin(list(s.uids))
            elif s.attack_id is not None and "attack_id" in c.columns:
                m = (c["attack_id"].astype(str) == s.attack_id).to_numpy()
            else:
                m = np.zeros(n, dtype=bool)
            label |= m
            kind[m] = s.type
            for ph in s.phases:
                name = ph.get("attack_type") or ph.get("name")
                p0, p1 = epoch_seconds(ph.get("start")), epoch_seconds(ph.get("end"))
                if not name or p0 is None or p1 is None:
                    continue
                pm = m & (ts >= p0 - 1.0) & (ts <= p1 + 1.0)
                targets = set(map(str, ph.get("targets") or []))
                if targets:
                    pm &= pd.Index(dst).isin(list(targets)) | pd.Index(src).isin(list(targets))
                kind[pm] = f"{s.type}/{name}"
            for a in s.attackers:
                hosts[a] = "attacker"
            for v in s.victims:
                hosts.setdefault(v, "victim")
            pairs.update(s.pairs)
            pairs.update(zip(src[m], dst[m], strict=True))
            listed.append(
                {
                    "id": s.id,
                    "type": s.type,
                    "attackers": s.attackers,
                    "victims": s.victims[:20],
                    "connections": int(m.sum()),
                }
            )
            if s.client is not None:
                plants.append(
                    {
                        "id": s.id,
                        "type": s.type,
                        "client": s.client,
                        "detectors": list(s.detectors),
                    }
                )
        return WindowTruth(
            ctx.window,
            "truth",
            pd.Series(label, dtype="boolean"),
            pd.Series(kind),
            hosts,
            pairs,
            listed,
            plants,
        )
    lab = label_positive(c).reset_index(drop=True)
    pos = lab.fillna(False).to_numpy(dtype=bool)
    for col in ("attack_type", "detailed_label", "label"):
        if col in c.columns:
            t = c[col].astype(object).where(c[col].notna(), "-").astype(str).to_numpy(dtype=object)
            fill = pos & (kind == "") & (t != "-") & (t != "---")
            kind[fill] = t[fill]
    kind[pos & (kind == "")] = "labelled"
    text = np.zeros(n, dtype=bool)
    if "label" in c.columns:
        text = c["label"].astype(str).str.contains("victim", case=False).to_numpy()
    roles = pd.DataFrame({"a": src[pos], "b": dst[pos], "v": text[pos]}).drop_duplicates()
    for a, b, v in roles.itertuples(index=False):  # distinct (src, dst, direction) only
        hosts[str(b) if v else str(a)] = "attacker"
    for a, b, v in roles.itertuples(index=False):
        hosts.setdefault(str(a) if v else str(b), "victim")
    pairs.update(zip(src[pos], dst[pos], strict=True))
    types = pd.Series(kind[pos]).value_counts().to_dict()
    listed = [{"id": str(t), "type": str(t), "connections": int(v)} for t, v in types.items()]
    return WindowTruth(ctx.window, "labels", lab, pd.Series(kind), hosts, pairs, listed)


def _pairs_frame(c: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "src": c["src"].astype(str).to_numpy(dtype=object),
            "dst": c["dst"].astype(str).to_numpy(dtype=object),
        }
    )


def detector_result(
    name: str, got: DetectorRun, ctx: EvalWindow, truth: WindowTruth, k: int, days: float
) -> dict[str, Any]:
    """Metrics of one detector on one window (see docs/evaluation.md for the fields)."""
    c = ctx.conns
    uid = c["uid"].astype(str)
    known = truth.label.notna().to_numpy()
    y = truth.label.fillna(False).to_numpy(dtype=bool)
    res: dict[str, Any] = {"available": True, "level": None}
    conn_s: np.ndarray | None = None
    record = name in RECORD_DETECTORS
    if got.conn_scores is not None and not record:
        conn = got.conn_scores[~got.conn_scores.index.duplicated(keep="first")]
        conn_s = conn.reindex(uid.to_numpy()).to_numpy(dtype="float64")
        conn_s = np.where(np.isnan(conn_s), np.nanmin(conn_s, initial=0.0) - 1.0, conn_s)
        m = ranking_metrics(y[known], conn_s[known], k)
        res.update(m)
        res["level"] = "connection"
        kinds = truth.kind.to_numpy(dtype=object)
        by_type = {}
        neg = known & ~y
        for t in sorted({str(t) for t in kinds[y] if t}):
            ks = pd.Series(kinds, dtype=object).astype(str)
            sel = (ks == t).to_numpy() & known
            if "/" not in t:
                sel |= ks.str.startswith(t + "/").to_numpy() & known
            mm = ranking_metrics(sel[sel | neg], conn_s[sel | neg], k)
            by_type[t] = {"auc": mm["auc"], "ap": mm["ap"], "positives": mm["positives"]}
        res["by_type"] = by_type
    # pairs
    pf = _pairs_frame(c)
    if conn_s is not None:
        pf["s"] = conn_s
        ps = pf.groupby(["src", "dst"])["s"].max()
    elif got.pair_scores is not None:
        allp = pf.drop_duplicates().set_index(["src", "dst"]).index
        ps = got.pair_scores.reindex(allp).astype("float64")
        ps = ps.fillna(ps.min() - 1.0 if ps.notna().any() else 0.0)
    else:
        ps = None
    if ps is not None:
        yp = (
            np.asarray(ps.index.isin(list(truth.pairs)), dtype=bool)
            if truth.pairs
            else (np.zeros(len(ps), dtype=bool))
        )
        mp = ranking_metrics(yp, ps.to_numpy(), k)
        res["pair"] = {
            key: mp[key] for key in ("auc", "ap", "precision_at_k", "k", "positives", "candidates")
        }
        if res["level"] is None:
            res.update({key: mp[key] for key in ("auc", "ap", "precision_at_k", "k")})
            res["level"] = "pair"
    universe = pd.Index(sorted(ctx.hosts), dtype=object)
    positive = truth
    if record and truth.source == "truth":
        # its positives: the clients of the window's plants meant for it (none: no AUC / AP)
        clients = truth.clients_of(name)
        positive = replace(truth, hosts=dict.fromkeys(clients, "attacker"))
        res["clients"] = clients
    if got.host_scores is not None and len(universe):
        hb, ranks = host_block(got.host_scores, universe, positive, k)
        res["host"] = hb
        res["host_ranks"] = ranks
        if res["level"] is None:
            res.update(
                {
                    "auc": hb["auc"],
                    "ap": hb["ap"],
                    "precision_at_k": hb["precision_at_k"],
                    "k": hb["k"],
                }
            )
            res["level"] = "host"
    res["alerts_per_day"] = None if got.alerts is None else got.alerts / days
    res["seconds"] = got.seconds
    res["info"] = got.info
    return res


def steps_for(names: Sequence[str] | None, steps: Sequence[Step] | None = None) -> list[Step]:
    """The detectors named (default: every detector of `steps`, the registry by default) and
    the steps they need, in pipeline order."""
    all_steps = list(steps if steps is not None else default_steps())
    by_name = {s.name: s for s in all_steps}
    wanted = list(names) if names else [s.name for s in all_steps if s.detector]
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise ValueError(
            f"unknown detector {', '.join(map(repr, unknown))}; registered: "
            f"{', '.join(s.name for s in all_steps if s.detector)}"
        )
    need = set(wanted)
    for s in reversed(all_steps):  # registry order lists needs first
        if s.name in need:
            need.update(s.needs)
    return [s for s in all_steps if s.name in need]


def evaluate_window(
    ctx: EvalWindow,
    scenarios: Sequence[Scenario] | None,
    detectors: Sequence[str] | None = None,
    k: int = 100,
    risk: RiskSettings | None = None,
    steps: Sequence[Step] | None = None,
) -> dict[str, Any]:
    """Evaluate the detectors (run now through the pipeline, nothing saved) and the combined
    ranking on one window."""
    truth = window_truth(ctx, scenarios)
    days = windows.span_days(ctx.conns, ctx.window)
    out: dict[str, Any] = {
        "window": ctx.window,
        "truth": truth.source,
        "connections": len(ctx.conns),
        "positives": int(truth.label.fillna(False).sum()),
        "hosts": len(ctx.hosts),
        "days": days,
        "scenarios": truth.scenarios,
        "detectors": {},
    }
    chosen = steps_for(detectors, steps)
    names = list(detectors) if detectors else [s.name for s in chosen if s.detector]
    analysis = analyse_window(
        ctx.store, ctx.settings, ctx.window, chosen, save=False, options=ctx.options
    )
    outcome = {o.name: o for o in analysis.outcomes}
    host_scores: dict[str, pd.Series | pd.DataFrame] = {}
    evidence: dict[str, dict[str, str]] = {}
    for name in names:
        got = analysis.runs.get(name)
        scored = (
            got is not None
            and not got.skipped
            and any(x is not None for x in (got.conn_scores, got.host_scores, got.pair_scores))
        )
        if got is None or not scored:
            reason = outcome[name].message if name in outcome else None
            out["detectors"][name] = {"available": False, "reason": reason}
            continue
        out["detectors"][name] = detector_result(name, got, ctx, truth, k, days)
        if got.host_scores is not None and len(got.host_scores):
            host_scores[name] = got.host_scores
            evidence[name] = got.evidence
    universe = pd.Index(sorted(ctx.hosts), dtype=object)
    rs = risk or RiskSettings()
    table = combine(host_scores, universe, rs, evidence)
    comb: dict[str, Any] = {
        "available": bool(host_scores),
        "level": "host",
        "detectors": list(host_scores),
        "method": rs.method,
    }
    if host_scores and len(table):
        hb, ranks = host_block(table["risk"], universe, truth, k)
        comb["unplanted_above"] = unplanted_above(table["risk"], truth)
        comb.update(
            {
                "auc": hb["auc"],
                "ap": hb["ap"],
                "precision_at_k": hb["precision_at_k"],
                "k": hb["k"],
                "host_ranks": ranks,
            }
        )
        comb["alerts_per_day"] = float((table["p"] < rs.alpha).sum()) / days
        comb["top"] = [
            {"host": h, "rank": r["rank"], "risk": r["risk"], "explanation": r["explanation"]}
            for h, r in zip(table.index[:10], table.head(10).to_dict("records"), strict=True)
        ]
    out["combined"] = comb
    if truth.plants:
        out["plants"] = plant_ranks(truth, out["detectors"], comb)
    return json_number(out)


def plant_ranks(
    truth: WindowTruth, detectors: dict[str, dict[str, Any]], combined: dict[str, Any]
) -> list[dict[str, Any]]:
    """Per application-log plant of the window: its client's rank among the window's hosts by
    each detector meant to find it (None: the detector was not available) and in the combined
    ranking, with the unplanted hosts above it there."""
    out = []
    for p in truth.plants:
        client = p["client"]
        ranks = {
            d: (detectors.get(d, {}).get("host_ranks") or {}).get(client) for d in p["detectors"]
        }
        out.append(
            {
                **p,
                "ranks": ranks,
                "combined": (combined.get("host_ranks") or {}).get(client),
                "unplanted_above": (combined.get("unplanted_above") or {}).get(client),
            }
        )
    return out


def _archive_label_windows(settings: Settings) -> list[str]:
    archive = Archive(settings)
    out = []
    for w in archive.windows():
        c = archive.connections([w], ("uid",), labels=True, complete=True)
        if label_positive(c).fillna(False).any():
            out.append(w)
    return out


def evaluate(
    store: Any,
    truth: Path | None,
    window: str | None,
    settings: Settings,
    *,
    detectors: Sequence[str] | None = None,
    k: int = 100,
    options: tuple[object, ...] = (),
    risk: RiskSettings | None = None,
    steps: Sequence[Step] | None = None,
) -> dict[str, Any]:
    """Evaluate the detectors against `truth` (a truth.json) or, without it, the archive's label
    columns, on `window` or on every window that has planted/labelled attacks.

    One window: `{"window", "detectors": {name: {...}}, "combined": {...}, ...}`; several: the
    same per window under `windows` plus their means under `detectors` / `combined`
    (host_ranks keyed `host@window`). The detectors run through the pipeline without saving
    anything (`options` are the steps' settings, e.g. an `LdaSettings`; `steps` replaces the
    registry, e.g. to evaluate a detector of your own)."""
    scenarios = load_truth(truth) if truth is not None else None
    present = Archive(settings).windows()
    if window is not None:
        wins = [window]
    elif scenarios is not None:
        wins = sorted({s.window for s in scenarios if s.window in present})
    else:
        wins = _archive_label_windows(settings)
    if not wins:
        raise ValueError(
            "no window to evaluate: no planted or labelled attack falls in an archived window"
        )
    results = []
    # the evaluation scores every connection: the steps return all of their scores
    options = (*options, ConnectionScores())
    for w in wins:
        ctx = EvalWindow(store, settings, w, options)
        log.info("evaluating window %s", w)
        results.append(evaluate_window(ctx, scenarios, detectors, k, risk, steps))
    if len(results) == 1:
        return results[0]
    return json_number({"window": None, "windows": results, **pooled(results)})
