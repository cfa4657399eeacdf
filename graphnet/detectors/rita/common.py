"""What the three RITA-class steps share: their settings from the context, the session over
the window with its pairs bound, the saved Browser query of a pair finding, and the host and
pair scores of scored pairs."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd

from graphnet import ingest
from graphnet.detectors.contract import Context, DetectorRun
from graphnet.detectors.rita import aggregates
from graphnet.detectors.rita.aggregates import Session, WindowPairs
from graphnet.detectors.rita.model import RitaSettings
from graphnet.findings import Finding, cypher_literal

_PARAM = re.compile(r"\$([A-Za-z_]\w*)")
#: what every finding of these steps says it was judged against
JUDGED_AGAINST = "this window's pairs (no history needed)"


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
) -> DetectorRun:
    """The run of a RITA-class step from its scored `pairs`: host scores (from `ranked`, by
    default every pair), pair scores, findings, alerts, and what it was judged against."""
    hosts, evidence = host_scores(pairs if ranked is None else ranked)
    return DetectorRun(
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
