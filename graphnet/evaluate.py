"""Evaluation harness: how well do the detectors find what was planted (or labelled)?

`evaluate(store, truth, window, settings)` compares every registered detector, and the combined
host risk ranking (`graphnet.risk`), with the ground truth of a window:

- the generator's `truth.json` (scenarios with their window, attacker and victim hosts, uids,
  pairs, phases), or
- a labelled log set (`truth=None`): the archive's `label` / `attack_type` columns (CIDDS
  `class`, Stratosphere/Slips `label`, CTU `Label`); a connection is positive when its label
  names an attack (malicious, botnet, attacker, victim, an attack type), negative when it is
  benign/normal/background, and left out otherwise (unknown, unlabelled).

Per detector and window it reports connection-level ROC AUC, average precision and precision
at k (scikit-learn metrics), the same at the pair level, per scenario type (and attack phase),
the rank of every attacker/victim host among the window's hosts, and alerts per day at the
detector's own threshold. The JSON shape is documented in docs/evaluation.md.

Detectors are pluggable: `REGISTRY` maps a name to a function of an `EvalContext` returning a
`DetectorScores` (uid -> score and/or host -> score), or None when the detector cannot run
(e.g. no fingerprints yet). Registered: `lda`, `volume`, `novelty` (graphnet.scoring) and
`shifts` (graphnet.shifts) when their modules are present, `behaviour` (first-time behaviour
of originating hosts, graphnet.detectors.behaviour) and `paths` from stored `deviating_path`
findings.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from graphnet import windows
from graphnet.config import Settings
from graphnet.detectors import lda as lda_mod
from graphnet.detectors import volume as volume_mod
from graphnet.errors import GraphnetError
from graphnet.risk import RiskSettings, combine, rank_pvalues

log = logging.getLogger(__name__)

EVAL_COLUMNS = (*lda_mod.CONN_COLUMNS, "history", "duration")
POSITIVE = re.compile(
    r"malicious|malware|botnet|attack|victim|scan|brute|\bdos\b|\bddos\b|c&c|\bc2\b|exploit|infected|trojan",
    re.IGNORECASE,
)
NEGATIVE = re.compile(r"benign|normal|background|legitimate", re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# truth
# --------------------------------------------------------------------------------------------
def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        t = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.timestamp()


@dataclass
class Scenario:
    id: str
    type: str
    window: str
    attackers: list[str]
    victims: list[str]
    uids: set[str]
    pairs: list[tuple[str, str]]
    start: float | None
    end: float | None
    attack_id: str | None = None
    phases: list[dict[str, Any]] = field(default_factory=list)


def load_truth(path: Path) -> list[Scenario]:
    """Scenarios of a generator's truth.json (graphnet.generate or the synthetic network)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    out = []
    for i, s in enumerate(data.get("scenarios", [])):
        hosts = s.get("hosts") or {}
        att = hosts.get("attacker") or hosts.get("attackers") or []
        att = [att] if isinstance(att, str) else list(att)
        vic = hosts.get("victims") or hosts.get("victim") or []
        vic = [vic] if isinstance(vic, str) else list(vic)
        start = _epoch(s.get("start"))
        win = s.get("window") or (windows.window_of(start) if start is not None else "")
        out.append(
            Scenario(
                id=str(s.get("id", f"s{i + 1}")),
                type=str(s.get("type", "scenario")),
                window=str(win),
                attackers=[str(a) for a in att],
                victims=[str(v) for v in vic if str(v) not in att],
                uids={str(u) for u in s.get("uids") or []},
                pairs=[(str(a), str(b)) for a, b in s.get("pairs") or []],
                start=start,
                end=_epoch(s.get("end")),
                attack_id=None if s.get("attack_id") is None else str(s.get("attack_id")),
                phases=list(s.get("phases") or []),
            )
        )
    return out


def label_positive(frame: pd.DataFrame) -> pd.Series:
    """From label columns: True (attack), False (benign) or NA (unknown / unlabelled)."""
    out = pd.Series(pd.NA, index=frame.index, dtype="boolean")
    for col in ("attack_type", "detailed_label", "label"):
        if col not in frame.columns:
            continue
        text = frame[col].astype(object).where(frame[col].notna(), "-").astype(str)
        codes, uniq = pd.factorize(text)
        pos = np.array([bool(POSITIVE.search(u)) and u not in ("-", "---") for u in uniq])
        neg = np.array([bool(NEGATIVE.search(u)) for u in uniq])
        p = pos[codes] & ~neg[codes] if len(uniq) else np.zeros(len(text), bool)
        n = neg[codes] if len(uniq) else np.zeros(len(text), bool)
        undecided = out.isna().to_numpy()
        # an attack named in any column wins; benign only where nothing said attack
        out[undecided & p] = True
        out[undecided & n & ~p] = False
    return out


# --------------------------------------------------------------------------------------------
# the detector registry
# --------------------------------------------------------------------------------------------
@dataclass
class DetectorScores:
    conn: pd.Series | None = None  # uid -> score (higher = more anomalous)
    host: pd.Series | pd.DataFrame | None = None  # host -> score (or (max, tie-break) columns)
    pair: pd.Series | None = None  # (src, dst) -> score, when there are no connection scores
    alerts: float | None = None  # alerts the detector raises in the window at its threshold
    evidence: dict[str, str] = field(default_factory=dict)  # host -> its best evidence
    info: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class EvalContext:
    store: Any
    settings: Settings
    window: str
    lda: lda_mod.LdaSettings = field(default_factory=lda_mod.LdaSettings)
    volume: volume_mod.VolumeSettings = field(default_factory=volume_mod.VolumeSettings)
    #: compute what other detectors need when their stored results are missing (novelty
    #: scores, snapshots); findings are never saved by the evaluation
    run_missing: bool = True
    errors: dict[str, str] = field(default_factory=dict)

    @cached_property
    def conns(self) -> pd.DataFrame:
        """The window's connections with their label columns (for the truth only)."""
        return lda_mod.read_archive(self.settings, [self.window], EVAL_COLUMNS, labels=True)

    @cached_property
    def detector_conns(self) -> pd.DataFrame:
        """The same connections as detectors see them: without ground-truth columns."""
        drop = [c for c in lda_mod.LABEL_COLUMNS if c in self.conns.columns]
        return self.conns.drop(columns=drop)

    @cached_property
    def hosts(self) -> set[str]:
        c = self.conns
        return set(c["src"].astype(str)) | set(c["dst"].astype(str))


DetectorFn = Callable[[EvalContext], DetectorScores | None]
REGISTRY: dict[str, DetectorFn] = {}


def register(name: str) -> Callable[[DetectorFn], DetectorFn]:
    """Decorator: add a detector to the evaluation (and to `risk_window(fresh=True)`)."""

    def deco(fn: DetectorFn) -> DetectorFn:
        REGISTRY[name] = fn
        return fn

    return deco


def run_detector(name: str, fn: DetectorFn, ctx: EvalContext) -> DetectorScores | None:
    """Run one registered detector; a detector that cannot run is logged and skipped."""
    t0 = time.perf_counter()
    try:
        got = fn(ctx)
    except (GraphnetError, ValueError) as exc:
        log.warning("%s: not evaluated on %s: %s", name, ctx.window, exc)
        ctx.errors[name] = str(exc)
        return None
    except Exception as exc:  # a pluggable detector must not stop the evaluation
        log.warning("%s failed on %s: %r", name, ctx.window, exc, exc_info=True)
        ctx.errors[name] = f"{type(exc).__name__}: {exc}"
        return None
    if got is not None:
        got.seconds = time.perf_counter() - t0
    return got


def top_mean(hosts: np.ndarray, scores: np.ndarray, top: int = 20) -> pd.Series:
    """Per host: mean of its `top` highest scores (missing ones count 0)."""
    frame = pd.DataFrame({"host": hosts, "score": scores})
    frame = frame.sort_values(["host", "score"], ascending=[True, False], kind="stable")
    frame = frame[frame.groupby("host", sort=False).cumcount() < top]
    return (frame.groupby("host")["score"].sum() / top).sort_values(ascending=False)


def _both_ends(conns: pd.DataFrame, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hosts = np.concatenate(
        [
            conns["src"].astype(str).to_numpy(dtype=object),
            conns["dst"].astype(str).to_numpy(dtype=object),
        ]
    )
    return hosts, np.concatenate([values, values])


def _best_rows(conns: pd.DataFrame, values: np.ndarray, hosts: Sequence[str]) -> dict[str, int]:
    """Row position of each host's highest-scoring connection (as either endpoint)."""
    h, v = _both_ends(conns, values)
    frame = pd.DataFrame({"host": h, "v": v, "row": np.tile(np.arange(len(conns)), 2)})
    frame = frame[frame["host"].isin(set(hosts))].sort_values("v", ascending=False, kind="stable")
    best = frame.drop_duplicates("host")
    return dict(zip(best["host"], best["row"], strict=True))


@register("lda")
def _lda(ctx: EvalContext) -> DetectorScores:
    feedback = lda_mod.load_feedback(ctx.store) if ctx.store is not None else []
    det, run, conns = lda_mod.fit_window(
        ctx.settings, ctx.window, ctx.lda, feedback, conns=ctx.detector_conns
    )
    sc = det.score(conns, explain=False)
    s = sc["score"].to_numpy()
    hs = lda_mod.host_scores(sc, conns, ctx.lda.host_top, ctx.lda.threshold)
    top = list(hs.index[:50])
    rows = _best_rows(conns, s, top)
    evidence = {}
    if rows:
        pos = np.array(list(rows.values()))
        ex = det.score(conns.iloc[pos])["explanation"].to_numpy()
        evidence = dict(zip(rows.keys(), ex, strict=True))
    m = sc["part_p"].to_numpy() < ctx.lda.threshold
    pairs = pd.DataFrame({"s": conns["src"].to_numpy()[m], "d": conns["dst"].to_numpy()[m]})
    return DetectorScores(
        conn=pd.Series(s, index=conns["uid"].astype(str).to_numpy()),
        host=hs,
        alerts=float(len(pairs.drop_duplicates())),
        evidence=evidence,
        info={
            "fit_on": run.fit_on,
            "history": run.history,
            "train_flows": run.train_flows,
            "feedback_flows": run.feedback_flows,
            "threshold": ctx.lda.threshold,
        },
    )


@register("volume")
def _volume(ctx: EvalContext) -> DetectorScores:
    det, hist_w, fit_on, conns = volume_mod.fit_window(
        ctx.settings, ctx.window, ctx.volume, conns=ctx.detector_conns
    )
    c = det.cells(conns)
    sc = det.score_cells(conns, c)
    found = volume_mod.findings_from_cells(det, c, conns, ctx.window)
    evidence: dict[str, str] = {}
    for f in found:
        for h in f.hosts:
            evidence.setdefault(h, f.explanation)
    rep = det.report
    return DetectorScores(
        conn=pd.Series(sc["score"].to_numpy(), index=conns["uid"].astype(str).to_numpy()),
        host=volume_mod.host_scores(det, c),
        alerts=float(volume_mod._alerts(c, ctx.volume)),
        evidence=evidence,
        info={
            "fit_on": fit_on,
            "history": hist_w,
            "r2": rep.r2,
            "rmse": rep.rmse,
            "families": rep.families,
            "findings": len(found),
        },
    )


@register("novelty")
def _novelty(ctx: EvalContext) -> DetectorScores | None:
    try:
        from graphnet import scoring
    except ImportError:  # pragma: no cover - module not installed
        return None

    def unpack(obj: Any) -> tuple[pd.DataFrame, float | None]:
        # scoring's result shapes: WindowScores(.connections, .threshold), (frame, meta),
        # ScoreResult(.scores -> either of them)
        if hasattr(obj, "scores") and not isinstance(obj, tuple):
            return unpack(obj.scores)
        if isinstance(obj, tuple):
            frame, meta = obj
            return frame, (meta or {}).get("threshold")
        if isinstance(obj, pd.DataFrame):
            return obj, None
        return obj.connections, getattr(obj, "threshold", None)

    loaded = scoring.load_scores(ctx.settings, ctx.window)
    if loaded is not None:
        frame, threshold = unpack(loaded)
        source = "stored scores"
    elif ctx.run_missing and ctx.store is not None:
        frame, threshold = unpack(
            scoring.score_window(ctx.store, ctx.window, ctx.settings, save=False)
        )
        source = "scored now"
    else:
        return None
    meta = {"threshold": threshold}
    s = frame["score"].to_numpy(dtype="float64")
    hs = top_mean(*_both_ends(frame, s))
    novel = frame["novel"].to_numpy(dtype=bool) if "novel" in frame else s >= 0.5
    pairs = frame.loc[novel, ["src", "dst"]].drop_duplicates()
    evidence = {}
    if "explanation" in frame:
        rows = _best_rows(frame, s, list(hs.index[:50]))
        ex = frame["explanation"].to_numpy(dtype=object)
        evidence = {h: str(ex[r]) for h, r in rows.items()}
    return DetectorScores(
        conn=pd.Series(s, index=frame["uid"].astype(str).to_numpy()),
        host=hs,
        alerts=float(len(pairs)),
        evidence=evidence,
        info={"source": source, "threshold": meta.get("threshold")},
    )


@register("shifts")
def _shifts(ctx: EvalContext) -> DetectorScores | None:
    if ctx.store is None:
        return None
    try:
        from graphnet import shifts, snapshots
    except ImportError:  # pragma: no cover
        return None
    done = snapshots.snapshots(ctx.store)
    wins = [str(w) for w in done["window"]]
    if ctx.window not in wins or len([w for w in wins if w < ctx.window]) < 2:
        if not ctx.run_missing:
            return None
        snapshots.snapshot(ctx.store, all_windows=True)
        wins = [str(w) for w in snapshots.snapshots(ctx.store)["window"]]
        if ctx.window not in wins:
            return None
    st = shifts.ShiftSettings()
    earlier = [w for w in wins if w < ctx.window][-4:]
    measures = snapshots.measures(ctx.store, [*earlier, ctx.window])
    report, table = shifts.score_window(measures, ctx.window, earlier, 20, st)
    if report.status != "ok" or table.empty:
        return None
    hs = table["score"].astype("float64")
    hs.index = hs.index.map(str)
    ev = table["explanation"].astype(str) if "explanation" in table else pd.Series(dtype=str)
    return DetectorScores(
        host=hs.sort_values(ascending=False),
        alerts=float(min(20, int((hs >= st.finding_score).sum()))),  # saved: the top 20
        evidence={str(h): str(e) for h, e in ev.head(50).items()},
        info={"history": earlier},
    )


@register("behaviour")
def _behaviour(ctx: EvalContext) -> DetectorScores | None:
    from graphnet.detectors import behaviour as behaviour_mod

    det, hist_w, conns = behaviour_mod.fit_window(
        ctx.settings, ctx.window, conns=ctx.detector_conns
    )
    hf = det.host_frame(conns)
    return DetectorScores(
        host=hf["score"],
        alerts=float((hf["score"] >= det.settings.alert_score).sum()),
        evidence={str(h): str(e)[:240] for h, e in hf["explanation"].head(50).items()},
        info={"history": hist_w, "bits": det.rates, "hosts": len(hf)},
    )


@register("paths")
def _paths(ctx: EvalContext) -> DetectorScores | None:
    if ctx.store is None:
        return None
    from graphnet import findings as findings_mod

    rows: list[tuple[list[str], float, str]] = []
    found = findings_mod.load(ctx.store, window=ctx.window, kind="deviating_path")
    source = "stored findings"
    if found:
        rows = [(list(f.hosts), float(f.score), f.explanation) for f in found]
    elif ctx.run_missing:
        try:
            from graphnet import paths, scoring
        except ImportError:  # pragma: no cover
            return None
        ws = scoring.load_scores(ctx.settings, ctx.window)
        if ws is None:
            ws = scoring.score_window(ctx.store, ctx.window, ctx.settings, save=False).scores
        rows = [(list(p.hosts), float(p.score), p.explanation) for p in paths.chain_paths(ws)]
        source = "found now"
    if not rows:
        return None
    per_host = pd.DataFrame(
        [(h, sc, ex) for hosts, sc, ex in rows for h in hosts], columns=["host", "score", "ex"]
    ).sort_values("score", ascending=False, kind="stable")
    hs = per_host.groupby("host").agg(max=("score", "max"), sum=("score", "sum"))
    hs = hs.sort_values(["max", "sum"], ascending=False)
    best = per_host.drop_duplicates("host")
    hops = pd.DataFrame(
        [(a, b, sc) for hosts, sc, _ in rows for a, b in itertools.pairwise(hosts)],
        columns=["src", "dst", "score"],
    )
    return DetectorScores(
        host=hs,
        pair=hops.groupby(["src", "dst"])["score"].max(),
        alerts=float(len(rows)),
        evidence=dict(zip(best["host"], best["ex"].str.slice(0, 240), strict=True)),
        info={"source": source, "paths": len(rows)},
    )


# --------------------------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------------------------
def _num(x: Any) -> Any:
    """JSON-safe numbers: numpy scalars to Python, NaN/inf to None, rounded."""
    if isinstance(x, dict):
        return {str(k): _num(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_num(v) for v in x]
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


@dataclass
class WindowTruth:
    window: str
    source: str  # "truth" | "labels"
    label: pd.Series  # per connection (ctx.conns order): True / False / NA (left out)
    kind: pd.Series  # per connection: scenario type (or type/phase), "" for the others
    hosts: dict[str, str]  # host -> "attacker" | "victim"
    pairs: set[tuple[str, str]]
    scenarios: list[dict[str, Any]]


def window_truth(ctx: EvalContext, scenarios: Sequence[Scenario] | None) -> WindowTruth:
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
                p0, p1 = _epoch(ph.get("start")), _epoch(ph.get("end"))
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
        return WindowTruth(
            ctx.window,
            "truth",
            pd.Series(label, dtype="boolean"),
            pd.Series(kind),
            hosts,
            pairs,
            listed,
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


def _host_block(
    scores: pd.Series | pd.DataFrame, universe: pd.Index, truth: WindowTruth, k: int
) -> tuple[dict[str, Any], dict[str, float]]:
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


def _pairs_frame(c: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "src": c["src"].astype(str).to_numpy(dtype=object),
            "dst": c["dst"].astype(str).to_numpy(dtype=object),
        }
    )


def detector_result(
    name: str, got: DetectorScores, ctx: EvalContext, truth: WindowTruth, k: int, days: float
) -> dict[str, Any]:
    """Metrics of one detector on one window (see docs/evaluation.md for the fields)."""
    c = ctx.conns
    uid = c["uid"].astype(str)
    known = truth.label.notna().to_numpy()
    y = truth.label.fillna(False).to_numpy(dtype=bool)
    res: dict[str, Any] = {"available": True, "level": None}
    conn_s: np.ndarray | None = None
    if got.conn is not None:
        conn = got.conn[~got.conn.index.duplicated(keep="first")]
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
    elif got.pair is not None:
        allp = pf.drop_duplicates().set_index(["src", "dst"]).index
        ps = got.pair.reindex(allp).astype("float64")
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
    if got.host is not None and len(universe):
        hb, ranks = _host_block(got.host, universe, truth, k)
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


def evaluate_window(
    ctx: EvalContext,
    scenarios: Sequence[Scenario] | None,
    detectors: Sequence[str] | None = None,
    k: int = 100,
    risk: RiskSettings | None = None,
) -> dict[str, Any]:
    """Evaluate the registered detectors and the combined ranking on one window."""
    truth = window_truth(ctx, scenarios)
    days = lda_mod.window_span_days(ctx.conns, ctx.window)
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
    host_scores: dict[str, pd.Series | pd.DataFrame] = {}
    evidence: dict[str, dict[str, str]] = {}
    names = list(detectors) if detectors else list(REGISTRY)
    for name in names:
        fn = REGISTRY.get(name)
        if fn is None:
            raise ValueError(f"unknown detector {name!r}; registered: {', '.join(REGISTRY)}")
        got = run_detector(name, fn, ctx)
        if got is None:
            out["detectors"][name] = {"available": False, "reason": ctx.errors.get(name)}
            continue
        out["detectors"][name] = detector_result(name, got, ctx, truth, k, days)
        if got.host is not None and len(got.host):
            host_scores[name] = got.host
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
        hb, ranks = _host_block(table["risk"], universe, truth, k)
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
    return _num(out)


def _archive_label_windows(settings: Settings) -> list[str]:
    out = []
    for w in lda_mod.archive_windows(settings):
        c = lda_mod.read_archive(settings, [w], ("uid",), labels=True)
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
    lda: lda_mod.LdaSettings | None = None,
    volume: volume_mod.VolumeSettings | None = None,
    risk: RiskSettings | None = None,
    run_missing: bool = True,
) -> dict[str, Any]:
    """Evaluate the detectors against `truth` (a truth.json) or, without it, the archive's label
    columns, on `window` or on every window that has planted/labelled attacks.

    One window: `{"window", "detectors": {name: {...}}, "combined": {...}, ...}`; several: the
    same per window under `windows` plus their means under `detectors` / `combined`
    (host_ranks keyed `host@window`). Nothing is saved."""
    scenarios = load_truth(truth) if truth is not None else None
    present = lda_mod.archive_windows(settings)
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
    for w in wins:
        ctx = EvalContext(
            store,
            settings,
            w,
            lda or lda_mod.LdaSettings(),
            volume or volume_mod.VolumeSettings(),
            run_missing,
        )
        log.info("evaluating window %s", w)
        results.append(evaluate_window(ctx, scenarios, detectors, k, risk))
    if len(results) == 1:
        return results[0]
    return _num({"window": None, "windows": results, **_pooled(results)})


def _mean(values: Sequence[Any]) -> float | None:
    v = [float(x) for x in values if x is not None]
    return float(np.mean(v)) if v else None


def _pooled(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
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


# --------------------------------------------------------------------------------------------
# figures for docs/evaluation.md
# --------------------------------------------------------------------------------------------
#: labelled real log sets under the shared data folder (path, format or None, window kind)
LABELLED_SETS: tuple[tuple[str, str | None, str], ...] = (
    ("zeek/slips/test18-malicious-ctu-sme-11-win/zeek-labeled/conn.log.labeled", None, "hour"),
    ("zeek/stratosphere/normal-2023-02-20/conn.log.labeled", None, "hour"),
    ("netflow/ctu-binetflow/test5-mixed.binetflow", None, "hour"),
)
FIGURES_START = "<!-- evaluate_all:start -->"
FIGURES_END = "<!-- evaluate_all:end -->"


def merge_hourly_logs(src: Path, dst: Path) -> list[Path]:
    """Concatenate a generated network's hourly gzip Zeek logs into one file per week (gzip
    members and header blocks concatenate: `zcat`-compatible and read as one log). Ingest
    records each file in its ledger, so fewer files ingest much faster."""
    dst.mkdir(parents=True, exist_ok=True)
    days = sorted(p for p in src.iterdir() if p.is_dir())
    out = []
    for i in range(0, len(days), 7):
        path = dst / f"week{i // 7 + 1}.conn.log.gz"
        with path.open("wb") as fh:
            for d in days[i : i + 7]:
                for f in sorted(d.glob("conn.*.log.gz")):
                    fh.write(f.read_bytes())
        out.append(path)
    return out


def _fresh(store: Any, home: Path, window_kind: str) -> Settings:
    store.clear()
    home.mkdir(parents=True, exist_ok=True)
    return Settings(home=home, window=window_kind)


def evaluate_all(
    store: Any,
    work: Path,
    *,
    seeds: Sequence[int] = (1, 2, 3),
    weeks: int = 4,
    hosts: int = 60,
    scale: int | None = None,
    shared_data: Path | None = None,
    out: Path | None = None,
    detectors: Sequence[str] | None = None,
    clear: bool = False,
) -> dict[str, Any]:
    """Produce the figures of docs/evaluation.md: for each seed a generated network
    (graphnet.generate, `weeks` x `hosts`) ingested with graphnet.ingest and evaluated on every
    window with planted scenarios; then every labelled real log set of LABELLED_SETS found
    under `shared_data`, ingested alone in hour windows and evaluated against its labels.

    The graph is CLEARED before each data set: pass `clear=True` to confirm, against a
    scratch Neo4j. With `out`, the figures replace the block between FIGURES_START and
    FIGURES_END of that markdown file (appended when absent)."""
    if not clear:
        raise ValueError("evaluate_all clears the graph for every data set: pass clear=True")
    from graphnet import generate as gen
    from graphnet import ingest

    results: dict[str, Any] = {"generated": [], "labelled": []}
    for seed in seeds:
        t0 = time.perf_counter()
        src = work / f"generated-{seed}"
        if not (src / "truth.json").exists():
            gen.generate(src, gen.GenerateOptions(weeks=weeks, hosts=hosts, seed=seed, scale=scale))
        files = merge_hourly_logs(src, work / f"generated-{seed}-weekly")
        st = _fresh(store, work / f"home-generated-{seed}", "week")
        ing = ingest.ingest(store, files, st)
        res = evaluate(store, src / "truth.json", None, st, detectors=detectors)
        results["generated"].append(
            {
                "seed": seed,
                "weeks": weeks,
                "hosts": hosts,
                "connections": ing.accepted,
                "seconds": time.perf_counter() - t0,
                "result": res,
            }
        )
    root = shared_data
    for rel, fmt, kind in LABELLED_SETS if root is not None else ():
        assert root is not None
        path = root / rel
        if not path.exists():
            log.info("labelled set %s not found, skipped", path)
            continue
        t0 = time.perf_counter()
        st = _fresh(store, work / ("home-" + re.sub(r"[^A-Za-z0-9]+", "-", rel)), kind)
        ing = ingest.ingest(store, [path], st, window=kind, fmt=fmt)
        try:
            res = evaluate(store, None, None, st, detectors=detectors)
        except ValueError:  # no labelled attack: false alarms only, on every window
            per = [
                evaluate(store, None, w, st, detectors=detectors)
                for w in lda_mod.archive_windows(st)[1:]
            ]
            res = {"window": None, "windows": per, **_pooled(per)}
        results["labelled"].append(
            {
                "set": rel,
                "window_kind": kind,
                "connections": ing.accepted,
                "seconds": time.perf_counter() - t0,
                "result": _num(res),
            }
        )
    if out is not None:
        write_figures(out, results)
    return _num(results)


def _f(x: Any, digits: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _windows_of(res: dict[str, Any]) -> list[dict[str, Any]]:
    return list(res.get("windows") or [res])


def figures_markdown(results: dict[str, Any]) -> str:
    """The figures as markdown tables."""
    lines = [FIGURES_START, ""]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines.append(f"_Produced by `graphnet.evaluate.evaluate_all` on {stamp}._")
    lines.append("")
    for g in results.get("generated", []):
        lines.append(
            f"#### Generated network, seed {g['seed']} ({g['weeks']} weeks, {g['hosts']} hosts, "
            f"{g['connections']:,} connections)"
        )
        lines.append("")
        for w in _windows_of(g["result"]):
            scen = ", ".join(f"{s['type']}" for s in w.get("scenarios", []))
            lines.append(
                f"Window {w['window']} — {scen} ({w['positives']:,} planted of "
                f"{w['connections']:,} connections, {w['hosts']:,} hosts)"
            )
            lines.append("")
            lines += _detector_table(w)
            lines += _type_table(w)
            lines += _rank_table(w)
    lines += _criterion_table(results.get("generated", []))
    for lab in results.get("labelled", []):
        lines.append(
            f"#### Labelled logs: `{lab['set']}` ({lab['connections']:,} connections, "
            f"{lab['window_kind']} windows)"
        )
        lines.append("")
        res = lab["result"]
        if res.get("windows") and res.get("window") is None:
            lines.append(f"{len(res['windows'])} windows; means over windows:")
            lines.append("")
            lines += _detector_table({"detectors": res["detectors"], "combined": res["combined"]})
        else:
            for w in _windows_of(res):
                lines.append(
                    f"Window {w['window']} ({w['positives']:,} labelled attack "
                    f"connections of {w['connections']:,})"
                )
                lines.append("")
                lines += _detector_table(w)
    lines += [FIGURES_END, ""]
    return "\n".join(lines)


def _detector_table(w: dict[str, Any]) -> list[str]:
    rows = [
        "| detector | level | ROC AUC | AP | P@k (k) | alerts/day |",
        "|---|---|---|---|---|---|",
    ]
    for name, d in {**w["detectors"], "combined": w.get("combined", {})}.items():
        if not d.get("available"):
            rows.append(f"| {name} | not available | | | | |")
            continue
        rows.append(
            f"| {name} | {d.get('level') or 'host'} | {_f(d.get('auc'))} | {_f(d.get('ap'))} | "
            f"{_f(d.get('precision_at_k'), 2)} ({d.get('k')}) | {_f(d.get('alerts_per_day'), 1)} |"
        )
    return [*rows, ""]


def _type_table(w: dict[str, Any]) -> list[str]:
    names = [n for n, d in w["detectors"].items() if d.get("by_type")]
    types = sorted({t for n in names for t in w["detectors"][n]["by_type"]})
    if not types:
        return []
    rows = ["| connections of | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for t in types:
        cells = [_f((w["detectors"][n]["by_type"].get(t) or {}).get("auc")) for n in names]
        rows.append(f"| {t} | " + " | ".join(cells) + " |")
    return [
        "ROC AUC per scenario (positives: its connections; negatives: unplanted ones):",
        "",
        *rows,
        "",
    ]


def _rank_table(w: dict[str, Any]) -> list[str]:
    attackers = {a: s["type"] for s in w.get("scenarios", []) for a in s.get("attackers", [])}
    if not attackers:
        return []
    names = [n for n, d in w["detectors"].items() if d.get("host_ranks")]
    rows = [
        "| attacker (scenario) | "
        + " | ".join([*names, "combined", "unplanted above", "met"])
        + " |",
        "|---|" + "---|" * (len(names) + 3),
    ]
    above = w.get("combined", {}).get("unplanted_above") or {}
    for a, t in attackers.items():
        cells = [_f((w["detectors"][n]["host_ranks"] or {}).get(a), 1) for n in names]
        cells.append(_f((w.get("combined", {}).get("host_ranks") or {}).get(a), 1))
        n_above = above.get(a)
        cells.append(_f(n_above))
        cells.append("–" if n_above is None else ("yes" if criterion_met(n_above) else "**no**"))
        rows.append(f"| {a} ({t}) | " + " | ".join(cells) + " |")
    return [
        f"Rank of each attacker among the window's {w['hosts']:,} hosts (combined: "
        f"unplanted hosts ranked above it; met: at most {MAX_UNPLANTED_ABOVE}):",
        "",
        *rows,
        "",
    ]


def _criterion_table(generated: Sequence[dict[str, Any]]) -> list[str]:
    """Issue 7's criterion over every generated window: each attacker's combined rank and the
    unplanted hosts above it (met: at most 2)."""
    rows = [
        "| seed | window | scenario | attacker | combined rank | unplanted above | met |",
        "|---|---|---|---|---|---|---|",
    ]
    met = total = 0
    for g in generated:
        for w in _windows_of(g["result"]):
            comb = w.get("combined", {})
            above = comb.get("unplanted_above") or {}
            for s in w.get("scenarios", []):
                for a in s.get("attackers", []):
                    n = above.get(a)
                    ok = criterion_met(n)
                    met += ok
                    total += 1
                    rank = _f((comb.get("host_ranks") or {}).get(a), 1)
                    rows.append(
                        f"| {g['seed']} | {w['window']} | {s['type']} | {a} | {rank} | "
                        f"{_f(n)} | {'yes' if ok else '**no**'} |"
                    )
    if not total:
        return []
    return [
        f"#### Criterion: at most {MAX_UNPLANTED_ABOVE} unplanted hosts above each planted "
        f"attacker (met for {met} of {total})",
        "",
        *rows,
        "",
    ]


def write_figures(path: Path, results: dict[str, Any]) -> None:
    """Replace the figures block of a markdown file (append it when absent)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    block = figures_markdown(results)
    if FIGURES_START in text and FIGURES_END in text:
        head, rest = text.split(FIGURES_START, 1)
        _, tail = rest.split(FIGURES_END, 1)
        text = head + block.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------------------------
# a small seeded synthetic network (tests and benchmarks; independent of graphnet.generate)
# --------------------------------------------------------------------------------------------
_CATALOG = (
    # name, dst pool, dport, proto, service, log-bytes mean, log-bytes sd
    ("dns", "dns", 53, "udp", "dns", 5.0, 0.3),
    ("intranet", "intranet", 443, "tcp", "ssl", 9.9, 1.0),
    ("web", "external", 443, "tcp", "ssl", 10.5, 1.4),
    ("http", "external", 80, "tcp", "http", 9.0, 1.2),
    ("files", "files", 445, "tcp", "smb", 10.8, 1.5),
    ("mail", "mail", 993, "tcp", "ssl", 8.5, 1.0),
    ("db", "db", 5432, "tcp", "-", 8.0, 1.0),
    ("ntp", "external", 123, "udp", "ntp", 4.4, 0.1),
)


def _flows(
    rng: np.random.Generator,
    ts: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    dport: np.ndarray,
    proto: np.ndarray,
    service: np.ndarray,
    logb: np.ndarray,
    sdb: np.ndarray,
    state: np.ndarray | None = None,
    pkts: np.ndarray | None = None,
) -> pd.DataFrame:
    n = len(ts)
    total = np.exp(rng.normal(logb, sdb))
    up = rng.uniform(0.05, 0.4, n)
    if state is None:
        u = rng.random(n)
        state = np.where(u < 0.006, "S0", np.where(u < 0.01, "REJ", "SF")).astype(object)
    ok = state == "SF"
    src_bytes = np.where(ok, np.round(total * up), 0.0)
    dst_bytes = np.where(ok, np.round(total * (1 - up)), 0.0)
    if pkts is None:
        pk = np.maximum(1, np.round(total / rng.uniform(500, 1400, n))) + 2
        src_pkts = np.where(ok, np.ceil(pk * 0.45), 1.0)
        dst_pkts = np.where(ok, np.floor(pk * 0.55), np.where(state == "REJ", 1.0, 0.0))
    else:
        src_pkts = pkts.astype("float64")
        dst_pkts = np.where(ok, pkts, 0).astype("float64")
    hist = np.where(ok, "ShADadFf", np.where(state == "REJ", "Sr", "S"))
    hist = np.where(proto == "tcp", hist, "Dd")
    return pd.DataFrame(
        {
            "ts": ts,
            "src": src,
            "dst": dst,
            "sport": rng.integers(49152, 65535, n).astype("int32"),
            "dport": dport.astype("int32"),
            "proto": proto,
            "service": np.where(ok, service, "-"),
            "duration": np.where(ok, np.exp(rng.normal(0.0, 1.5, n)), np.nan),
            "src_bytes": src_bytes,
            "dst_bytes": dst_bytes,
            "src_pkts": src_pkts,
            "dst_pkts": dst_pkts,
            "conn_state": state,
            "history": hist,
        }
    )


SMALL_SCENARIOS: tuple[str, ...] = ("new_host", "lateral_movement", "beaconing", "new_protocol")


def _small_scenario(
    kind: str,
    seed: int,
    clients: np.ndarray,
    taken: set[int],
    week0: float,
    attackers: dict[str, str],
) -> tuple[pd.DataFrame, list[str], str]:
    """One quiet planted scenario of `synthetic_connections` (its flows, victims, attacker)."""
    rng = np.random.default_rng([seed, 7, SMALL_SCENARIOS.index(kind)])
    used = taken | {
        int(np.flatnonzero(clients == a)[0]) for a in attackers.values() if a in clients
    }
    free = [i for i in range(len(clients)) if i not in used]
    day = int(rng.integers(0, 3))
    t0 = week0 + day * 86400.0 + float(rng.uniform(10.0, 14.0)) * 3600.0

    def flows(
        ts: np.ndarray,
        src: Any,
        dst: Any,
        port: Any,
        proto: Any,
        svc: Any,
        logb: float,
        sd: float = 0.3,
    ) -> pd.DataFrame:
        n = len(ts)
        return _flows(
            rng,
            np.sort(ts),
            np.full(n, src, dtype=object) if isinstance(src, str) else src,
            np.full(n, dst, dtype=object) if isinstance(dst, str) else dst,
            np.full(n, port) if isinstance(port, int) else port,
            np.full(n, proto, dtype=object) if isinstance(proto, str) else proto,
            np.full(n, svc, dtype=object) if isinstance(svc, str) else svc,
            np.full(n, logb),
            np.full(n, sd),
            state=np.full(n, "SF", dtype=object),
        )

    if kind == "new_host":
        who = "10.1.3.77"
        servers = [
            ("10.2.0.53", 53, "udp", "dns", 5.0),
            ("10.2.0.80", 443, "tcp", "ssl", 9.5),
            ("10.2.0.45", 445, "tcp", "smb", 10.0),
            ("10.2.0.25", 993, "tcp", "ssl", 8.5),
            ("10.2.0.54", 5432, "tcp", "-", 8.0),
        ]
        n = int(rng.integers(80, 200))
        k = rng.integers(0, len(servers), n)
        ts = t0 + rng.uniform(0, 6 * 3600.0, n)
        parts = [
            flows(ts[k == j], who, d, port, pr, sv, b)
            for j, (d, port, pr, sv, b) in enumerate(servers)
            if (k == j).any()
        ]
        return pd.concat(parts, ignore_index=True), [s[0] for s in servers], who
    if kind == "lateral_movement":
        a, b = (str(clients[i]) for i in rng.choice(free, 2, replace=False))
        n1, n2 = int(rng.integers(6, 20)), int(rng.integers(6, 20))
        hop1 = flows(t0 + rng.uniform(0, 600.0, n1), a, b, 445, "tcp", "smb", 11.0, 1.0)
        t1 = t0 + float(rng.uniform(120.0, 900.0))
        hop2 = flows(t1 + rng.uniform(0, 1200.0, n2), b, "10.2.0.45", 3389, "tcp", "rdp", 13.0, 1.0)
        return pd.concat([hop1, hop2], ignore_index=True), [b, "10.2.0.45"], a
    if kind == "beaconing":
        a = str(clients[int(rng.choice(free))])
        c2 = "192.0.2.77"
        period = float(rng.uniform(240.0, 600.0))
        k = np.arange(int(3 * 9 * 3600.0 / period))
        ts = t0 + k * period + rng.normal(0, 0.1 * period, len(k))
        ts = ts[((ts - week0) % 86400.0 >= 8 * 3600.0) & ((ts - week0) % 86400.0 < 17 * 3600.0)]
        return flows(ts, a, c2, 443, "tcp", "ssl", 7.0, 0.2), [c2], a
    if kind == "new_protocol":
        a = str(clients[int(rng.choice(free))])
        n = int(rng.integers(15, 50))
        ts = t0 + rng.uniform(0, 2 * 3600.0, n)
        return flows(ts, a, "10.2.0.80", 161, "udp", "snmp", 6.5, 0.5), ["10.2.0.80"], a
    raise ValueError(f"unknown scenario {kind!r}; known: {', '.join(SMALL_SCENARIOS)}")


def synthetic_connections(
    seed: int = 0,
    weeks: int = 5,
    clients: int = 36,
    rate: float = 30.0,
    start: str = "2024-01-01",
    attack_week: int | None = None,
    dos_flows: int = 3000,
    attacks: bool = True,
    small: Sequence[str] = (),
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A seeded enterprise: `clients` workstations with daily habits (their own services, hours
    and rates), servers with nightly jobs, and in `attack_week` (default: the last) one client
    turned attacker: a port scan, a ping scan, an ssh brute force and a SYN flood (DoS).

    `small` adds quiet scenarios in the same week, each from its own client (see
    `SMALL_SCENARIOS`): `new_host` (an unknown address talks to five servers), `lateral_movement`
    (client -> client over smb, then that client -> the file server over rdp minutes later),
    `beaconing` (small ssl connections every ~5 minutes to a new external host) and
    `new_protocol` (snmp to the intranet server a client uses every day).

    Returns the normalised connection table and a truth dict shaped like the generator's
    truth.json (`scenarios`: id, type, window, hosts {attacker, victims}, start, end, uids,
    pairs)."""
    rng = np.random.default_rng(seed)
    t0 = dt.datetime.fromisoformat(start).replace(tzinfo=dt.UTC)
    t0 -= dt.timedelta(days=t0.weekday())  # a Monday
    base = t0.timestamp()
    days = 7 * weeks
    cl = np.array([f"10.1.{i // 200}.{10 + i % 200}" for i in range(clients)], dtype=object)
    pools = {
        "dns": np.array(["10.2.0.53"], dtype=object),
        "intranet": np.array(["10.2.0.80"], dtype=object),
        "files": np.array(["10.2.0.45"], dtype=object),
        "mail": np.array(["10.2.0.25"], dtype=object),
        "db": np.array(["10.2.0.54"], dtype=object),
        "ssh": np.array(["10.2.0.22", "10.2.0.23", "10.2.0.24"], dtype=object),
        "external": np.array(
            [f"198.51.100.{i}" for i in range(1, 40)] + [f"203.0.113.{i}" for i in range(1, 40)],
            dtype=object,
        ),
    }
    admins = set(rng.choice(clients, size=max(2, clients // 10), replace=False).tolist())
    parts = []
    cat_w = rng.dirichlet(np.ones(len(_CATALOG)) * 0.8, size=clients)
    for i in range(clients):  # per host habits (a few dozen hosts), flows vectorised
        start_h = rng.uniform(6.5, 9.5)
        end_h = start_h + rng.uniform(7.0, 10.0)
        lam = rate * rng.uniform(0.5, 1.5)
        per_day = rng.poisson(lam * (end_h - start_h), days)
        weekend = (np.arange(days) % 7) >= 5
        per_day = np.where(
            weekend, rng.poisson(lam * 0.3, days) * (rng.random(days) < 0.2), per_day
        )
        n = int(per_day.sum())
        day = np.repeat(np.arange(days), per_day)
        hours = rng.uniform(start_h, end_h, n)
        ts = base + day * 86400.0 + hours * 3600.0
        w = cat_w[i].copy()
        if i in admins:
            w = np.append(w, 0.15)
        else:
            w = np.append(w, 0.0)
        w /= w.sum()
        k = rng.choice(len(w), size=n, p=w)
        names = [c[0] for c in _CATALOG] + ["ssh"]
        pool_of = [c[1] for c in _CATALOG] + ["ssh"]
        dport = np.array([c[2] for c in _CATALOG] + [22])[k]
        proto = np.array([c[3] for c in _CATALOG] + ["tcp"], dtype=object)[k]
        service = np.array([c[4] for c in _CATALOG] + ["ssh"], dtype=object)[k]
        logb = np.array([c[5] for c in _CATALOG] + [9.0])[k]
        sdb = np.array([c[6] for c in _CATALOG] + [1.2])[k]
        dst = np.empty(n, dtype=object)
        for j, pool in enumerate(pool_of):
            m = k == j
            if m.any():
                p = pools[pool]
                # each client favours a few external sites
                if names[j] in ("web", "http"):
                    fav = rng.choice(len(p), size=min(6, len(p)), replace=False)
                    dst[m] = p[rng.choice(fav, size=int(m.sum()))]
                else:
                    dst[m] = p[rng.integers(0, len(p), int(m.sum()))]
        parts.append(_flows(rng, ts, np.full(n, cl[i]), dst, dport, proto, service, logb, sdb))
        # always-on background: DNS and update checks around the clock
        nb = rng.poisson(2.0 * 24 * days)
        tsb = base + rng.uniform(0, days * 86400.0, nb)
        kb = rng.random(nb) < 0.7
        parts.append(
            _flows(
                rng,
                tsb,
                np.full(nb, cl[i]),
                np.where(kb, "10.2.0.53", "203.0.113.200").astype(object),
                np.where(kb, 53, 443),
                np.where(kb, "udp", "tcp").astype(object),
                np.where(kb, "dns", "ssl").astype(object),
                np.where(kb, 5.0, 8.5),
                np.where(kb, 0.3, 0.5),
            )
        )
    # nightly backup: file server -> backup server, 01:00-01:30
    nd = days * 40
    day = np.repeat(np.arange(days), 40)
    tsn = base + day * 86400.0 + 3600.0 + rng.uniform(0, 1800.0, nd)
    parts.append(
        _flows(
            rng,
            tsn,
            np.full(nd, "10.2.0.45", dtype=object),
            np.full(nd, "10.2.0.90", dtype=object),
            np.full(nd, 873),
            np.full(nd, "tcp", dtype=object),
            np.full(nd, "rsync", dtype=object),
            np.full(nd, 15.0),
            np.full(nd, 0.8),
        )
    )
    frame = pd.concat(parts, ignore_index=True)

    # ---- planted attacks ------------------------------------------------------------------
    aw = weeks - 1 if attack_week is None else attack_week
    regular = [i for i in range(clients) if i not in admins]
    attacker = str(cl[int(rng.choice(regular))])
    week0 = base + aw * 7 * 86400.0
    scenarios = []
    planted: list[tuple[str, pd.DataFrame, list[str]]] = []

    def at(day: int, hour: float) -> float:
        return week0 + day * 86400.0 + hour * 3600.0

    servers = ["10.2.0.80", "10.2.0.45", "10.2.0.25", "10.2.0.54", "10.2.0.53"]
    # port scan of one server: 1..1024 and some high ports, no replies or rejects
    victim = str(rng.choice(servers))
    ports = np.concatenate([np.arange(1, 1025), rng.integers(1025, 65535, 200)])
    t = at(int(rng.integers(0, 5)), float(rng.uniform(1, 22)))
    n = len(ports)
    st = np.where(rng.random(n) < 0.6, "S0", "REJ").astype(object)
    f = _flows(
        rng,
        t + np.sort(rng.uniform(0, 240, n)),
        np.full(n, attacker, dtype=object),
        np.full(n, victim, dtype=object),
        ports,
        np.full(n, "tcp", dtype=object),
        np.full(n, "-", dtype=object),
        np.zeros(n),
        np.zeros(n),
        state=st,
    )
    planted.append(("port_scan", f, [victim]))
    # ping scan of a client subnet
    targets = np.array([f"10.1.0.{i}" for i in range(1, 255)], dtype=object)
    n = len(targets)
    t = at(int(rng.integers(0, 5)), float(rng.uniform(1, 22)))
    f = _flows(
        rng,
        t + np.sort(rng.uniform(0, 120, n)),
        np.full(n, attacker, dtype=object),
        targets,
        np.zeros(n, dtype=int),
        np.full(n, "icmp", dtype=object),
        np.full(n, "-", dtype=object),
        np.full(n, 4.1),
        np.full(n, 0.01),
        state=np.full(n, "OTH", dtype=object),
        pkts=np.ones(n),
    )
    f["sport"] = np.int32(8)
    f["dport"] = np.int32(0)
    f["src_bytes"], f["dst_bytes"] = 64.0, 0.0
    f["history"] = "-"
    planted.append(("ping_scan", f, []))
    # ssh brute force against one ssh server
    victim = str(rng.choice(pools["ssh"]))
    n = 400
    t = at(int(rng.integers(0, 5)), float(rng.uniform(1, 21)))
    f = _flows(
        rng,
        t + np.sort(rng.uniform(0, 1800, n)),
        np.full(n, attacker, dtype=object),
        np.full(n, victim, dtype=object),
        np.full(n, 22),
        np.full(n, "tcp", dtype=object),
        np.full(n, "ssh", dtype=object),
        np.full(n, 8.1),
        np.full(n, 0.15),
        state=np.full(n, "SF", dtype=object),
    )
    planted.append(("brute_force", f, [victim]))
    # SYN flood against the intranet web server
    victim = "10.2.0.80"
    n = dos_flows
    t = at(int(rng.integers(0, 5)), float(rng.uniform(1, 22)))
    f = _flows(
        rng,
        t + np.sort(rng.uniform(0, 600, n)),
        np.full(n, attacker, dtype=object),
        np.full(n, victim, dtype=object),
        np.full(n, 443),
        np.full(n, "tcp", dtype=object),
        np.full(n, "-", dtype=object),
        np.zeros(n),
        np.zeros(n),
        state=np.full(n, "S0", dtype=object),
    )
    planted.append(("dos", f, [victim]))

    attackers = {kind: attacker for kind, _, _ in planted}
    for kind in small:
        f, victims, who = _small_scenario(
            kind, seed, cl, admins | {int(np.flatnonzero(cl == attacker)[0])}, week0, attackers
        )
        planted.append((kind, f, victims))
        attackers[kind] = who
    frames = [frame]
    for j, (kind, f, victims) in enumerate(planted if attacks else planted[4:]):
        f = f.copy()
        f["uid"] = [f"CA{j}{i:015d}" for i in range(len(f))]
        frames.append(f)
        ts = f["ts"].to_numpy()
        pairs = f[["src", "dst"]].drop_duplicates()
        scenarios.append(
            {
                "id": f"s{j + 1}-{kind}",
                "type": kind,
                "window": windows.window_of(float(ts.min())),
                "hosts": {"attacker": attackers[kind], "victims": victims},
                "start": float(ts.min()),
                "end": float(ts.max()),
                "uids": f["uid"].tolist(),
                "pairs": pairs.to_numpy().tolist(),
            }
        )
    frame["uid"] = [f"CN{i:016d}" for i in range(len(frame))]
    out = pd.concat(frames, ignore_index=True).sort_values("ts", kind="stable")
    out = out.reset_index(drop=True)
    out["line"] = np.arange(1, len(out) + 1, dtype=np.int64)
    out["ts"] = out["ts"].astype("float64")
    truth = {"seed": seed, "scenarios": scenarios, "generator": "graphnet.evaluate.synthetic"}
    return out, truth
