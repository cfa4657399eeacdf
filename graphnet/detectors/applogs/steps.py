"""The steps: `suspicious_dns` (Spot's DNS suspicious connects), `suspicious_http` (Spot's
proxy suspicious connects over http.log) and `dns_tunnel` (RITA-class), out of core.

Each step gets its records through the seam (`source.app_session`, `logs_of`); the engine
counts the records per client and word key in one pass, builds each distinct key's word once
(`graphnet/sql/app_*_views.sql`) and gives the counts per (client, word); Python fits the flow
detector's topic model on the counts (`lda.model.fit_counts`, through `model.fit_from_counts`)
and scores the window's distinct (client, word) pairs (`lda.model.score_pairs`, Arrow in and
out: `pair_scores`), and the engine joins the scores back to the records by client and word
number for the host scores, the findings and (for the evaluation) every record's score.
Benign verdicts are the flow detector's (`lda.feedback`: same scopes, same re-injection x
DUPFACTOR of the covered records of the verdict's window, for the windows after it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from graphnet.detectors.applogs import names as N
from graphnet.detectors.applogs import tunnel as T
from graphnet.detectors.applogs.model import NOVELTY, fit_from_counts, score_distinct
from graphnet.detectors.applogs.source import AppLogs, ArchiveLogs, Kind, app_session, history
from graphnet.detectors.contract import Context, DetectorRun
from graphnet.detectors.lda.feedback import benign_groups, load_feedback, match_table
from graphnet.detectors.lda.model import (
    P_FLOOR,
    LdaModel,
    LdaSettings,
    canonical_docs,
    host_scores_from_top,
)
from graphnet.errors import NotEnoughHistory
from graphnet.findings import Finding, cypher_literal

log = logging.getLogger(__name__)

#: best records listed per finding
FINDING_UIDS = 10


@dataclass(frozen=True)
class AppLogsSource:
    """Option: where the steps read dns/http records from (`ctx.option(AppLogsSource)`).
    Until the archive holds them, a caller that has them (the tests, the evaluation of
    generated logs) passes them this way."""

    logs: AppLogs


def logs_of(ctx: Context) -> AppLogs:
    """THE SEAM's step side: the application logs of the context: what the caller passes
    (`AppLogsSource`), else the archive's dns/http records."""
    opt = ctx.option(AppLogsSource)
    if opt is None:
        return ArchiveLogs(ctx.archive)
    return opt.logs


@dataclass(frozen=True)
class SuspiciousDnsSettings:
    """`suspicious_dns`: the flow detector's settings (topics, variant, threshold, history,
    feedback, findings), Spot's top-domain list and the user's own domain."""

    lda: LdaSettings = field(default_factory=LdaSettings)
    top_domains: frozenset[str] = frozenset()
    user_domain: str = ""


@dataclass(frozen=True)
class SuspiciousHttpSettings:
    """`suspicious_http`: as `SuspiciousDnsSettings`, for web requests."""

    lda: LdaSettings = field(default_factory=LdaSettings)
    top_domains: frozenset[str] = frozenset()
    user_domain: str = ""


def _arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def _lookups(s: Any, kind: Kind, st: SuspiciousDnsSettings | SuspiciousHttpSettings) -> None:
    """Give the engine the parts of the words that need string maths, computed in Python once
    per distinct query name (DNS) or URI, host and user agent (HTTP), as lookup tables."""
    if kind == "dns":
        queries = s.table("app_dns_names").column("query").to_pylist()
        parts = N.dns_name_parts(
            queries,
            variant=st.lda.variant,
            top_domains=st.top_domains,
            user_domain=st.user_domain,
        )
        s.lookup("dns_names", _arrow(parts))
        return
    distinct = s.table("app_http_distinct").to_pandas()
    uris = distinct.loc[distinct["kind"] == "uri", "value"]
    hosts = distinct.loc[distinct["kind"] == "host", "value"]
    s.lookup("http_uris", _arrow(N.uri_parts(uris)))
    s.lookup(
        "http_hosts",
        _arrow(N.host_parts(hosts, top_domains=st.top_domains, user_domain=st.user_domain)),
    )
    agents = s.table("app_http_agents").to_pandas()
    s.lookup("http_agents", _arrow(_agent_bins(agents, st.lda.variant)))
    s.lookup("app_opts", pa.table({"graphnet": pa.array([st.lda.variant != "spot"])}))


def _prepare(
    s: Any, kind: Kind, st: SuspiciousDnsSettings | SuspiciousHttpSettings
) -> dict[str, dict[str, Any]]:
    """The lookups (`_lookups`), then the words: `app_*_views` counts the records per part,
    client and word key in one pass and builds the words of the distinct keys (`app_words`,
    `app_word_groups`); returns the records per part."""
    _lookups(s, kind, st)
    sizes = s.table(f"app_{kind}_views").to_pylist()
    return {str(r["part"]): r for r in sizes}


def _agent_bins(agents: pd.DataFrame, variant: str) -> pd.DataFrame:
    """Spot's agent bins (`words.HttpWords`): 'past' from the training counts; 'now' from the
    scored window's own counts (Spot) or from the training counts, `new` for an agent never
    seen there (graphnet)."""
    past = agents[agents["part"] == "past"].set_index("user_agent")["n"]
    now = agents[agents["part"] == "now"].set_index("user_agent")["n"]
    rows = [
        pd.DataFrame(
            {
                "part": "past",
                "user_agent": past.index,
                "ua_bin": N.agent_bins(past).astype(str).to_numpy(),
            }
        )
    ]
    if variant == "spot":
        bins = N.agent_bins(now).astype(str)
    else:
        c = past.reindex(now.index).fillna(0)
        bins = N.agent_bins(c).astype(str).where(c > 0, "new")
    rows.append(pd.DataFrame({"part": "now", "user_agent": now.index, "ua_bin": bins.to_numpy()}))
    return pd.concat(rows, ignore_index=True)


def _fit(
    s: Any, st: LdaSettings, groups: Mapping[str, Sequence[dict[str, Any]]]
) -> tuple[Any, int, int]:
    """Fit the topic model on the engine's (client, word) counts plus the re-injected
    feedback; returns (model, training records, feedback records)."""
    counts = s.table("app_counts").to_pandas()
    n_train = int(counts["n"].sum()) if len(counts) else 0
    n_fb = 0
    if groups:
        s.lookup("lda_fb_match", match_table(groups))
        fb = s.table("app_feedback").to_pandas()
        if len(fb):
            n_fb = int(fb["n"].sum())
            counts = pd.concat([counts, fb.assign(n=fb["n"] * float(st.dupfactor))])
    if counts.empty:
        raise NotEnoughHistory("no records to learn from")
    docs = s.table("app_docs").to_pandas()
    order = canonical_docs(
        docs["host"].to_numpy(object),
        np.zeros(len(docs), np.int64),
        docs["first_ts"].to_numpy(dtype="float64"),
    )
    model = fit_from_counts(
        counts["host"].to_numpy(object),
        counts["word"].to_numpy(object),
        counts["coarse"].to_numpy(object),
        counts["n"].to_numpy(),
        order,
        st,
        n_train,
        n_fb,
    )
    return model, n_train, n_fb


def pair_scores(model: LdaModel, st: LdaSettings, pairs: pa.Table) -> pa.Table:
    """The scores of the scored window's distinct (client, word) pairs (`app_pairs`: host,
    wid, word, coarse, cnt) as the lookup `app_pair_scores` (host, wid, cnt, p, score,
    novelty, expected): the texts go to Python once, the client and word number back to the
    engine as they came (no frame conversions)."""

    def text(name: str) -> np.ndarray:
        return np.asarray(pairs.column(name).to_numpy(zero_copy_only=False), dtype=object)

    sc = score_distinct(
        model, st, text("host"), text("word"), text("coarse"), pairs.column("cnt").to_numpy()
    )
    return pa.table(
        {
            "host": pairs.column("host"),
            "wid": pairs.column("wid"),
            "cnt": pairs.column("cnt"),
            **{c: pa.array(sc[c].to_numpy()) for c in ("p", "score", "novelty", "expected")},
        }
    )


def _sentence(r: Mapping[str, Any], kind: Kind) -> str:
    what = (
        f"asked {r['dst']} for {r['item']} ({r['detail']})"
        if kind == "dns"
        else f"requested http://{r['item']} from {r['dst']} ({r['detail']})"
    )
    p = max(float(r["p"]), P_FLOOR)
    return (
        f"{r['src']} {what}: word '{r['word']}' {NOVELTY[int(r['novelty'])]} {r['src']} "
        f"(P = {p:.1e})"
    )


def _example_evidence(g: pd.DataFrame, kind: Kind) -> dict[str, list[str]]:
    """What else a finding keeps of each of its example records, in the order of `examples`:
    dns: the registered domain of the name and `qtype rcode`; http: the Host header,
    `method status` and the user agent (`examples` is the host and URI joined)."""
    details = [str(x) for x in g["detail"]]
    if kind == "dns":
        return {"example_domains": [str(x) for x in g["domain"]], "example_details": details}
    agents = g["agent"] if "agent" in g.columns else pd.Series("-", index=g.index)
    return {
        "example_hosts": [str(x) for x in g["domain"]],
        "example_details": details,
        "example_agents": [str(x) for x in agents],
    }


def _with_agents(s: Any, rows: pd.DataFrame) -> pd.DataFrame:
    """The findings' example requests with their user agents (`app_http_example_agents`)."""
    if rows.empty:
        return rows.assign(agent=pd.Series(dtype=object))
    s.lookup("app_examples", _arrow(rows[["uid", "ts", "item"]]))
    agents = s.table("app_http_example_agents").to_pandas()
    got = rows.merge(agents, on=["uid", "ts", "item"], how="left", sort=False)
    return got.assign(agent=got["user_agent"].fillna("-")).drop(columns=["user_agent"])


def _findings(
    rows: pd.DataFrame, kind: Kind, window: str, st: LdaSettings, fit_on: str
) -> list[Finding]:
    out = []
    what = "queries" if kind == "dns" else "requests"
    for _pos, g in rows.groupby("pos", sort=True):  # one group per finding
        best = {str(k): v for k, v in g.iloc[0].items()}
        src = str(best["src"])
        expl = _sentence(best, kind)
        n, n_total = int(best["n"]), int(best["n_total"])
        expl += (
            f"; {n:,} of its {n_total:,} {what} in this window are below P = {st.threshold:g}"
            f" (to {int(best['domains']):,} "
            f"{'registered domains' if kind == 'dns' else 'hosts'})"
        )
        out.append(
            Finding(
                kind=f"suspicious_{kind}",
                window=window,
                score=float(best["score"]),
                hosts=[src, str(best["dst"])],
                explanation=expl,
                parts={
                    "p": float(best["p"]),
                    "word": str(best["word"]),
                    "novelty": int(best["novelty"]),
                    f"suspicious_{what}": n,
                },
                evidence={
                    "uids": [str(u) for u in g["uid"]],
                    "examples": [str(x) for x in g["item"]],
                    **_example_evidence(g, kind),
                    what: n_total,
                    "domains": int(best["domains"]),
                    "servers": int(best["servers"]),
                    "first": float(best["first_ts"]),
                    "last": float(best["last_ts"]),
                    "variant": st.variant,
                    "fit_on": fit_on,
                },
                cypher=(
                    f"MATCH (h:Host {{id: {cypher_literal(src)}}})"
                    f"-[r:{'RESOLVED' if kind == 'dns' else 'REQUESTED'} "
                    f"{{window: {cypher_literal(window)}}}]->(x) RETURN h, r, x"
                ),
                detector=f"suspicious_{kind}",
            )
        )
    return out


def run_spot(ctx: Context, kind: Kind) -> DetectorRun:
    """Spot's suspicious connects over the window's `kind` records, fitted on the earlier
    windows (or on the window itself without history, as Spot does, when
    `lda.fallback_self`)."""
    t0 = time.perf_counter()
    st: SuspiciousDnsSettings | SuspiciousHttpSettings
    if kind == "dns":
        st = ctx.option(SuspiciousDnsSettings) or SuspiciousDnsSettings()
    else:
        st = ctx.option(SuspiciousHttpSettings) or SuspiciousHttpSettings()
    lda = st.lda
    step = f"suspicious_{kind}"
    logs = logs_of(ctx)
    window = ctx.window
    if window not in logs.windows(kind, _kind_of(window)):
        return DetectorRun(
            step, window, f"no {kind} records", skipped=f"no {kind} records in {window}"
        )
    hist = history(logs, kind, window, lda.history_days)
    fit_on = "history"
    if not hist:
        if not lda.fallback_self:
            raise NotEnoughHistory(f"no {kind} records before {window} to learn from")
        hist, fit_on = [window], "self"
    feedback = load_feedback(ctx.store) if ctx.store is not None else []
    groups = benign_groups(feedback, window)
    bind = {kind: [window], f"past_{kind}": hist, f"refs_{kind}": [g for g in groups if g]}
    lookups = {"lda_fb_match": match_table({})}
    with app_session(ctx.archive, logs, kind, bind, lookups) as s:
        sizes = _prepare(s, kind, st)
        model, n_train, n_fb = _fit(s, lda, groups)
        pairs = s.table("app_pairs")
        s.lookup("app_pair_scores", pair_scores(model, lda, pairs))
        summary = s.table("app_scored", {"threshold": lda.threshold}).to_pylist()[0]
        hosts = s.table("app_hosts", {"threshold": lda.threshold, "top": lda.host_top})
        rows = s.table(
            "app_findings",
            {"threshold": lda.threshold, "max_findings": lda.max_findings, "uids": FINDING_UIDS},
        ).to_pandas()
        if kind == "http":
            rows = _with_agents(s, rows)
        conn_scores = None
        if ctx.per_connection:
            cs = s.table("app_conn_scores").to_pandas()
            conn_scores = pd.Series(cs["score"].to_numpy(), index=cs["uid"].astype(str))
    h = hosts.to_pandas()
    h["host"] = h["host"].astype(str)
    peers = h.drop_duplicates("host").set_index("host")["peers"]
    hs = host_scores_from_top(h[["host", "score"]], peers, lda.host_top)
    found = _findings(rows, kind, window, lda, fit_on)
    evidence = {str(f.hosts[0]): f.explanation for f in found}
    n = int(summary["records"])
    alerts, suspicious = int(summary["alerts"] or 0), int(summary["suspicious"] or 0)
    log.info("%s %s: %d records, %d distinct (client, word) pairs", step, window, n, pairs.num_rows)
    return DetectorRun(
        step=step,
        window=window,
        summary=f"{n:,} {kind} records scored, {alerts:,} below P = {lda.threshold:g} from "
        f"{suspicious:,} clients, {len(found)} findings (fitted on {fit_on})",
        host_scores=hs,
        conn_scores=conn_scores,
        findings=found,
        alerts=float(alerts),
        evidence=evidence,
        info={
            "fit_on": fit_on,
            "history": hist,
            "train_records": n_train,
            "feedback_records": n_fb,
            "threshold": lda.threshold,
            "variant": lda.variant,
            "records": {k: int(v["n"]) for k, v in sizes.items()},
        },
        seconds=time.perf_counter() - t0,
    )


def _kind_of(window: str) -> str:
    from graphnet import windows

    return windows.kind_of(window)


def run_dns(ctx: Context) -> DetectorRun:
    """`suspicious_dns`: Spot's DNS suspicious connects."""
    return run_spot(ctx, "dns")


def run_http(ctx: Context) -> DetectorRun:
    """`suspicious_http`: Spot's proxy suspicious connects over http.log."""
    return run_spot(ctx, "http")


def run_tunnel(ctx: Context) -> DetectorRun:
    """`dns_tunnel`: registered domains with far more distinct subdomains in the window than
    the network's other domains, and the clients asking for them (judged against the window
    alone)."""
    t0 = time.perf_counter()
    st = ctx.option(T.TunnelSettings) or T.TunnelSettings()
    logs = logs_of(ctx)
    window = ctx.window
    if window not in logs.windows("dns", _kind_of(window)):
        return DetectorRun(
            "dns_tunnel", window, "no dns records", skipped=f"no dns records in {window}"
        )
    bind: dict[str, list[str]] = {"dns": [window], "past_dns": [], "refs_dns": []}
    with app_session(ctx.archive, logs, "dns", bind) as s:
        queries = s.table("app_dns_names").column("query").to_pylist()
        s.lookup("dns_names", _arrow(N.dns_name_parts(queries)))
        domains = s.table("app_tunnel_domains").to_pandas()
        scored, info = T.score_domains(domains, st)
        top = scored[scored["tunnel"]].head(st.max_findings)
        s.lookup(
            "tunnel_domains",
            pa.table({"domain": pa.array(top["domain"].astype(str).tolist(), type=pa.string())}),
        )
        rows = s.table("app_tunnel_clients", {"examples": st.examples}).to_pandas()
    clients = rows.drop_duplicates(["domain", "src"]).reset_index(drop=True)
    thr = float(info["threshold"] or st.floor)
    hs = T.client_scores(clients, thr)
    found = []
    for d in top.to_dict("records"):
        cl = clients[clients["domain"] == d["domain"]].sort_values(
            ["subdomains", "src"], ascending=[False, True], kind="stable"
        )
        ex = rows[
            (rows["domain"] == d["domain"])
            & (rows["src"] == (cl["src"].iloc[0] if len(cl) else None))
        ]
        text = T.explain(pd.Series(d), cl, info, st)
        found.append(
            Finding(
                kind="dns_tunnel",
                window=window,
                score=float(d["ratio"]),
                hosts=[str(x) for x in cl["src"]],
                explanation=text,
                parts={
                    "subdomains": int(d["subdomains"]),
                    "ratio": float(d["ratio"]),
                    "threshold": thr,
                },
                evidence={
                    "domain": str(d["domain"]),
                    "queries": int(d["queries"]),
                    "clients": int(d["clients"]),
                    "txt_null": int(d["txt_null"]),
                    "nxdomain": int(d["nxdomain"]),
                    "first": float(d["first_ts"]),
                    "last": float(d["last_ts"]),
                    "uids": [str(u) for u in ex["uid"]],
                    "examples": [str(q) for q in ex["query"]],
                    "per_client": {
                        str(c["src"]): int(c["subdomains"]) for c in cl.to_dict("records")
                    },
                    "alert": bool(d["alert"]),
                },
                cypher=(
                    "MATCH (h:Host)-[r:RESOLVED {window: "
                    f"{cypher_literal(window)}}}]->(d:Domain {{name: "
                    f"{cypher_literal(str(d['domain']))}}}) RETURN h, r, d"
                ),
                detector="dns_tunnel",
            )
        )
    evidence: dict[str, str] = {}
    for f in found:
        for hst in f.hosts:
            evidence.setdefault(hst, f.explanation)
    alerts = int(scored["alert"].sum())
    return DetectorRun(
        step="dns_tunnel",
        window=window,
        summary=f"{len(found)} registered domains with {thr:.0f} or more distinct subdomains "
        f"({alerts} at {st.alert_ratio:g} x that) of {len(scored):,}, judged against this "
        "window alone",
        host_scores=hs,
        pair_scores=None,
        findings=found,
        alerts=float(alerts),
        evidence=evidence,
        info={k: v for k, v in info.items()} | {"k": st.k, "floor": st.floor},
        seconds=time.perf_counter() - t0,
    )
