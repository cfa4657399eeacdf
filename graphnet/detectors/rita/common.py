"""What the three RITA-class steps share: their settings from the context, the session over
the window with its pairs bound, the saved Browser query of a pair finding, the host and pair
scores of scored pairs, and the comparison with the pairs' earlier windows.

Each step scores a window on its own (`Scorer`: no history needed, so a lone capture gets its
beacons, long connections and strobes). In a window with earlier windows (`HISTORY_DAYS`),
`against_history` asks what changed: a pair that already scored about as high in an earlier
window (a host polling its gateway like clockwork every week) keeps its finding, which says
where, but does not count in the combined ranking (`evidence["ranked"] = False`); pairs new or
much stronger rank their hosts by their rise. Long connections rank only in a window without
earlier windows (`RitaSettings.history_ranked`). Every pair a step scored in a window is
stored with the window's results (`rita_<step>_pairs`), so each earlier window is scored
once."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from graphnet import ingest
from graphnet.detectors.contract import Context, DetectorRun
from graphnet.detectors.rita import aggregates
from graphnet.detectors.rita.aggregates import Session, WindowPairs
from graphnet.detectors.rita.model import RitaSettings
from graphnet.findings import Finding, cypher_literal

log = logging.getLogger(__name__)

_PARAM = re.compile(r"\$([A-Za-z_]\w*)")
#: what the findings of these steps say they were judged against, in a window without earlier
#: windows
JUDGED_AGAINST = "this window's pairs (no history needed)"
#: how far back an earlier window counts (the other detectors' default history)
HISTORY_DAYS = 28.0
#: columns of the stored ranked pairs of a step and window
PAIR_COLUMNS = ("s", "d", "score")


def settings_of(ctx: Context) -> RitaSettings:
    return ctx.option(RitaSettings) or RitaSettings()


@contextlib.contextmanager
def window_session(ctx: Context, step: str) -> Iterator[tuple[str, Session, WindowPairs]]:
    """(window, a session whose `conns` is the window with its pairs bound, the pairs'
    statistics). Raises ValueError when the archive does not hold the window."""
    window = ctx.archive.require(ctx.window)
    with ctx.archive.session({"conns": [window]}) as s:
        both = step in settings_of(ctx).internal_pairs
        yield window, s, aggregates.window_pairs(s, internal_of(ctx), both)


def internal_of(ctx: Context) -> aggregates.Internal:
    """Per host id: internal? (graphnet's `internal_cidrs`, else RFC 1918/4193)."""
    return ingest.internal_hosts(ctx.settings.internal_cidrs)


def browser_query(query: str, host: str, peer: str, window: str) -> str:
    """The saved Browser query `graphnet/cypher/browser/<query>.cypher` with `$host`, `$peer`
    and `$window` rendered as Cypher string literals (`graphnet.findings.cypher_literal`: host
    ids come from logs and are attacker-controlled). Shown to people, never executed."""
    from graphnet.store import cypher as cypher_text

    params = {"host": host, "peer": peer, "window": window}
    return _PARAM.sub(lambda m: cypher_literal(params[m.group(1)]), cypher_text(f"browser/{query}"))


def pair_series(pairs: pd.DataFrame, column: str = "score") -> pd.Series:
    """(src, dst) -> `column` of scored pairs (frames with `s`, `d`)."""
    idx = pd.MultiIndex.from_arrays(
        [pairs["s"].astype(str).to_numpy(), pairs["d"].astype(str).to_numpy()],
        names=["src", "dst"],
    )
    return pd.Series(pairs[column].to_numpy(dtype="float64"), index=idx, name=column)


def host_scores(pairs: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """Per host, from the pairs it is an end of (both ends, as the stored findings are about
    both): (max, sum) of the pair scores, highest first, and the explanation of its best
    pair (`pairs` has s, d, score, explanation)."""
    if not len(pairs):
        return pd.DataFrame(
            {"max": pd.Series(dtype="float64"), "sum": pd.Series(dtype="float64")}
        ), {}
    both = pd.concat(
        [
            pd.DataFrame(
                {
                    "host": pairs["s"],
                    "score": pairs["score"],
                    "text": pairs["explanation"],
                    "peer": pairs["d"],
                }
            ),
            pd.DataFrame(
                {
                    "host": pairs["d"],
                    "score": pairs["score"],
                    "text": pairs["explanation"],
                    "peer": pairs["s"],
                }
            ),
        ],
        ignore_index=True,
    )
    both["host"] = both["host"].astype(str)
    both = both.sort_values("score", ascending=False, kind="stable")
    agg = both.groupby("host", sort=False).agg(max=("score", "max"), sum=("score", "sum"))
    agg = agg.sort_values(["max", "sum"], ascending=False, kind="stable")
    best = both.drop_duplicates("host")
    evidence = {
        str(h): f"with {p}: {t}"[:240]
        for h, p, t in zip(best["host"], best["peer"], best["text"], strict=True)
    }
    return agg, evidence


def example_evidence(ex: dict[str, Any] | None) -> dict[str, Any]:
    ex = ex or {}
    return {"uids": ex.get("uids", []), "port": ex.get("port"), "ports": ex.get("ports")}


def pair_finding(
    kind: str,
    window: str,
    r: Mapping[Any, Any],
    says: str,
    parts: dict[str, float],
    evidence: dict[str, Any],
    example: dict[str, Any] | None,
) -> Finding:
    """The finding of one scored pair `r` (`s`, `d`, `score`) of a RITA-class step: both ends
    as its hosts, "src -> dst<says>" as its explanation, what it was judged against and its
    example uids in the evidence, the saved Browser query of the kind."""
    src, dst = str(r["s"]), str(r["d"])
    return Finding(
        kind=kind,
        window=window,
        score=float(r["score"]),
        hosts=[src, dst],
        explanation=f"{src} -> {dst}{says}",
        parts=parts,
        evidence={**evidence, "judged_against": JUDGED_AGAINST, **example_evidence(example)},
        cypher=browser_query(kind, src, dst, window),
        detector=kind,
    )


@dataclass
class Scored:
    """A step's run over one window on its own, and the pairs that score its hosts (`s`, `d`,
    `score`, `explanation`)."""

    run: DetectorRun
    ranked: pd.DataFrame


#: a step's scoring of one window on its own
Scorer = Callable[[Context], Scored]


def pair_run(
    step: str,
    window: str,
    summary: str,
    pairs: pd.DataFrame,
    found: list[Finding],
    alerts: int,
    info: dict[str, Any],
    t0: float,
    ranked: pd.DataFrame | None = None,
) -> Scored:
    """The run of a RITA-class step from its scored `pairs`: host scores (from `ranked`, by
    default every pair), pair scores, findings, alerts, and what it was judged against."""
    ranked = pairs if ranked is None else ranked
    hosts, evidence = host_scores(ranked)
    run = DetectorRun(
        step=step,
        window=window,
        summary=summary,
        host_scores=hosts,
        pair_scores=pair_series(pairs) if len(pairs) else None,
        findings=found,
        alerts=float(alerts),
        evidence=evidence,
        info={**info, "judged_against": JUDGED_AGAINST},
        seconds=time.perf_counter() - t0,
    )
    return Scored(run, ranked)


def _result_name(step: str) -> str:
    return f"rita_{step}_pairs"


def _scoring_key(ctx: Context) -> str:
    """What a stored result of the steps depends on besides the window's files: the steps'
    settings and which hosts are internal."""
    st = dataclasses.asdict(settings_of(ctx))
    return json.dumps([st, list(ctx.settings.internal_cidrs or [])], sort_keys=True, default=str)


def _scored_pairs(scored: Scored) -> pd.DataFrame:
    """Every pair the run scored (`s`, `d`, `score`): what a later window compares with."""
    ps = scored.run.pair_scores
    if ps is None or not len(ps):
        return pd.DataFrame(
            {
                "s": pd.Series(dtype=object),
                "d": pd.Series(dtype=object),
                "score": pd.Series(dtype="float64"),
            }
        )
    return pd.DataFrame(
        {
            "s": ps.index.get_level_values(0).astype(str),
            "d": ps.index.get_level_values(1).astype(str),
            "score": ps.to_numpy(dtype="float64"),
        }
    )


def _store_pairs(ctx: Context, step: str, window: str, pairs: pd.DataFrame) -> None:
    if ctx.save:
        meta = {"stamp": ctx.archive.stamp(window), "key": _scoring_key(ctx)}
        ctx.archive.write_result(window, _result_name(step), pairs, meta)


def scored_in(ctx: Context, step: str, score: Scorer, window: str) -> pd.DataFrame:
    """The pairs `step` scored in `window` on its own (`s`, `d`, `score`): stored ones while
    the window's files and the settings are the same, else scored now (and stored when the
    context saves)."""
    name = _result_name(step)
    meta = ctx.archive.result_meta(window, name)
    if (
        meta is not None
        and meta.get("stamp") == ctx.archive.stamp(window)
        and meta.get("key") == _scoring_key(ctx)
    ):
        got = ctx.archive.read_result(window, name, columns=PAIR_COLUMNS)
        if got is not None:
            return got.frame
    log.info("%s: scoring earlier window %s", step, window)
    pairs = _scored_pairs(score(dataclasses.replace(ctx, window=window, earlier={})))
    _store_pairs(ctx, step, window, pairs)
    return pairs


def earlier_pairs(ctx: Context, step: str, score: Scorer, earlier: Sequence[str]) -> pd.DataFrame:
    """Per (s, d) that `step` scored in any of the `earlier` windows: its best score there
    (`best`) and the window of that score (`at`), indexed by (s, d)."""
    frames = [scored_in(ctx, step, score, w).assign(w=str(w)) for w in earlier]
    both = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if not len(both):
        idx = pd.MultiIndex.from_arrays([[], []], names=["s", "d"])
        return pd.DataFrame({"best": pd.Series(dtype="float64"), "at": []}, index=idx)
    both = both.sort_values(["score", "w"], ascending=[False, False], kind="stable")
    best = both.drop_duplicates(["s", "d"]).set_index(["s", "d"])
    return pd.DataFrame({"best": best["score"].astype("float64"), "at": best["w"]})


def _listed(windows: Sequence[str]) -> str:
    return ", ".join(windows if len(windows) <= 4 else [windows[0], "…", windows[-1]])


def _outside_ranking(run: DetectorRun, earlier: Sequence[str]) -> DetectorRun:
    """A run of a step that does not rank in a window with earlier windows: its findings stay,
    out of the ranking."""
    run.host_scores, run.evidence = None, {}
    for f in run.findings:
        f.evidence["ranked"] = False
    run.summary += "; not counted in the ranking in a window with earlier windows"
    run.info["judged_against"] = (
        f"this window's pairs (not ranked: the window has earlier windows {_listed(earlier)})"
    )
    return run


def against_history(ctx: Context, step: str, score: Scorer, floor: float) -> DetectorRun:
    """Run `step` on the window (`score`), then, when the window has earlier windows within
    `HISTORY_DAYS`, rank what changed: a pair counts for its hosts by its rise, its score now
    less its best score in the earlier windows, and only when that best was at most
    `RitaSettings.known_share` of its score now and the rise is at least `floor` (the score a
    pair needs to rank its hosts at all): new, or much stronger. The findings of the
    other pairs stay, say where the pair scored as much before, and carry
    `evidence["ranked"] = False`. A step not in `RitaSettings.history_ranked` does not rank
    at all in such a window (its findings stay, all marked so)."""
    scored = score(ctx)
    run = scored.run
    _store_pairs(ctx, step, ctx.window, _scored_pairs(scored))
    earlier = [str(w) for w in ctx.archive.history(ctx.window, HISTORY_DAYS)]
    run.info["earlier_windows"] = earlier
    if not earlier:
        return run
    st = settings_of(ctx)
    if step not in st.history_ranked:
        return _outside_ranking(run, earlier)
    share = st.known_share
    past = earlier_pairs(ctx, step, score, earlier)
    best = {
        (str(s), str(d)): (float(b), str(w))
        for (s, d), b, w in zip(past.index, past["best"], past["at"], strict=True)
    }
    ranked = scored.ranked.copy()
    before = np.array(
        [
            best.get((str(s), str(d)), (0.0, ""))[0]
            for s, d in zip(ranked["s"], ranked["d"], strict=True)
        ],
        dtype="float64",
    )
    now = ranked["score"].to_numpy(dtype="float64")
    changed = (before <= share * now) & (now - before >= floor)
    ranked["score"] = now - before
    run.host_scores, run.evidence = host_scores(ranked[changed])
    of = len(earlier)
    plural = "s" if of > 1 else ""
    for f in run.findings:
        was, at = best.get((f.hosts[0], f.hosts[1]), (0.0, ""))
        f.evidence["earlier"] = {"windows": of, "best_score": round(was, 4), "at": at or None}
        if not at:
            f.explanation += f" (new: not scored in the {of} earlier window{plural})"
        elif was <= share * f.score and f.score - was >= floor:
            f.explanation += f" (up from {was:.2f} in {at})"
        elif was <= share * f.score:
            f.evidence["ranked"] = False
            f.explanation += f" (up only from {was:.2f} in {at}: not counted in the ranking)"
        else:
            f.evidence["ranked"] = False
            f.explanation += f" (as in {at}, {was:.2f} there: not counted in the ranking)"
    n_changed = int(changed.sum())
    run.summary += (
        f"; {n_changed} of {len(ranked)} ranked pairs new or much stronger than in the "
        f"earlier window{plural}"
    )
    run.info.update(
        {
            "judged_against": f"this window's pairs, ranked by their rise since the earlier "
            f"window{plural} {_listed(earlier)}",
            "changed_pairs": n_changed,
            "known_pairs": len(ranked) - n_changed,
        }
    )
    return run
