"""The "Who to look at" section: the window's hosts in the order of the combined risk ranking
(`graphnet.risk.risk_window`, from the stored findings of every detector), each with the
reason every contributing detector gives (the explanation of its best finding about the host).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from graphnet.config import Settings
from graphnet.reports.links import browser_link, host_query
from graphnet.reports.types import RankedHost, Ranking, Reason

log = logging.getLogger(__name__)

RANKING_TOP = 10  # hosts listed in "Who to look at"
REASON_CHARS = 240  # a reason is one sentence: longer explanations are cut


def _finite(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _sentence(text: str | None) -> str:
    """A finding's explanation as one line of at most `REASON_CHARS` characters."""
    s = " ".join(str(text or "").split())
    return s if len(s) <= REASON_CHARS else s[: REASON_CHARS - 1].rstrip() + "…"


def best_findings(found: Iterable[Any], of_kind: Mapping[str, str]) -> dict[tuple[str, str], Any]:
    """(detector, host) -> the detector's highest-scoring finding about the host, of the
    findings the ranking counts (not marked benign), as `graphnet.risk` attributes them."""
    best: dict[tuple[str, str], Any] = {}
    for f in found:
        if f.status == "benign":
            continue
        d = of_kind.get(f.kind, f.detector or f.kind)
        for h in f.hosts:
            key = (d, str(h))
            cur = best.get(key)
            if cur is None or float(f.score) > float(cur.score):
                best[key] = f
    return best


def ranking_from(
    result: Any,
    found: Sequence[Any],
    window: str,
    browser: str | None,
    of_kind: Mapping[str, str],
    *,
    top: int = RANKING_TOP,
    alpha: float = 0.001,
) -> Ranking:
    """The "Who to look at" section from a `graphnet.risk.RiskResult`: its first `top` hosts
    with any risk, each with the detectors that contribute to it (most first), their rank, and
    the explanation of their best finding about the host (from `found`, the window's
    findings)."""
    table = result.table
    ranking = Ranking(
        method=str(result.method),
        hosts=int(result.hosts),
        alerts=int(result.alerts),
        alpha=float(alpha),
        detectors=[str(d) for d in result.detectors],
    )
    risky = table[table["risk"] > 0] if len(table) and "risk" in table.columns else table.iloc[:0]
    ranking.ranked = len(risky)
    best = best_findings(found, of_kind)
    head = risky.head(max(0, top))
    for host, row in zip(head.index, head.to_dict("records"), strict=True):
        reasons = []
        for d in ranking.detectors:
            contribution = _finite(row.get(f"contribution_{d}"))
            if contribution is None or contribution <= 0:
                continue
            f = best.get((d, str(host)))
            reasons.append(
                Reason(
                    detector=d,
                    rank=_finite(row.get(f"rank_{d}")) or math.nan,
                    score=_finite(row.get(f"score_{d}")),
                    contribution=contribution,
                    explanation=_sentence(f.explanation) if f is not None else "",
                    kind=f.kind if f is not None else "",
                    finding_id=f.id if f is not None else "",
                )
            )
        reasons.sort(key=lambda r: -r.contribution)
        q = host_query(str(host), window)
        ranking.top.append(
            RankedHost(
                rank=int(row["rank"]),
                host=str(host),
                risk=float(row["risk"]),
                p=_finite(row.get("p")),
                reasons=reasons,
                cypher=q,
                link=browser_link(browser, q),
            )
        )
    if not ranking.ranked:
        ranking.note = (
            "no host has any risk: the findings the ranking counts (those not marked benign) "
            "put no host among a detector's top ranks"
        )
    return ranking


def collect_ranking(
    store: Any,
    window: str,
    settings: Settings,
    found: Sequence[Any],
    browser: str | None,
    *,
    top: int = RANKING_TOP,
    analysed: bool = False,
) -> Ranking:
    """The "Who to look at" section: the window's hosts ranked by `graphnet.risk.risk_window`
    from the stored findings of every detector (it reads them, it never runs a detector).
    Nothing stored or any failure leaves a note instead of a ranking, never breaks the report."""
    if not found:
        if analysed:
            return Ranking(
                note=f"The analysis of {window} stored no findings, so no host stands out. "
                f"Run `graphnet analyse --window {window}` to analyse it again."
            )
        return Ranking(
            note=f"No findings are stored for {window}: it has not been analysed yet. Run "
            f"`graphnet analyse --window {window}` to rank its hosts."
        )
    try:
        from graphnet.detectors.registry import detector_of_kind
        from graphnet.risk import RiskSettings, risk_window

        risk = RiskSettings()
        result = risk_window(store, window, settings, risk)
        ranking = ranking_from(
            result, found, window, browser, detector_of_kind(), top=top, alpha=risk.alpha
        )
        hosts = [h.host for h in ranking.top]
        if hosts:
            internal = {
                str(r["host"]): r.get("internal") for r in store.read("report_hosts", hosts=hosts)
            }
            for h in ranking.top:
                h.internal = internal.get(h.host)
    except Exception as exc:  # the ranking is the first section, not a condition of the rest
        log.warning("no combined ranking for %s: %s", window, exc, exc_info=True)
        return Ranking(
            note=f"The combined ranking could not be computed ({type(exc).__name__}: {exc}). "
            f"The sections below list the findings of {window} by kind."
        )
    return ranking
