"""The `lda` step: fit on the archive windows before the scored one and score it, out of core.

The archive's engine does everything that grows with connections (`graphnet/sql/lda_*.sql`):
it builds every connection's two words, counts them per (host, word) over the training history
(with the benign feedback re-injected), and joins the window's connections back to the scores
of their (host, word) pairs for the alerts, the host scores, the findings and the top
connections. Python receives only aggregates — the vocabulary, the documents, the sparse count
matrix to fit LDA on, the window's distinct (host, word) pairs to score — and the few
connections the findings and the report show. Every connection's score leaves the engine only
when the caller asks for it (`ConnectionScores`, the evaluation).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import sparse

from graphnet import windows
from graphnet.archive import Archive
from graphnet.detectors.contract import Context, DetectorRun
from graphnet.detectors.lda.feedback import (
    benign_groups,
    load_feedback,
    match_table,
    needs_pairs,
    subnet_groups_table,
)
from graphnet.detectors.lda.findings import suspicious_connect
from graphnet.detectors.lda.model import (
    LdaSettings,
    SuspiciousConnects,
    coarse_shares,
    explain_rows,
    fit_counts,
    host_scores_from_top,
    score_pairs,
)
from graphnet.detectors.lda.words import CONN_COLUMNS
from graphnet.findings import Finding

log = logging.getLogger(__name__)

#: best connections listed per finding
FINDING_UIDS = 10
#: hosts whose best connection explains their score (the evidence)
EVIDENCE_HOSTS = 50
#: rows per streamed batch of the count matrix and of the connection scores
BATCH = 100_000
#: (host, word) pairs of the window scored at a time (whole hosts: a host with more is
#: scored alone)
PAGE_PAIRS = 500_000


class _Session(Protocol):
    """What the step uses of an engine session (`Archive.session`)."""

    def table(self, name: str, params: Mapping[str, Any] | None = None) -> pa.Table: ...

    def batches(
        self, name: str, params: Mapping[str, Any] | None = None, rows: int = ...
    ) -> Iterator[pa.RecordBatch]: ...

    def lookup(self, table: str, data: pa.Table) -> None: ...


@dataclass
class LdaRun:
    """What `fit_window` learned from, for reports."""

    window: str
    history: list[str]
    fit_on: str  # "history" | "self"
    train_flows: int
    feedback_verdicts: int
    feedback_flows: int
    seconds_fit: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class LdaResult:
    """The window's highest-scoring connections (highest first, at most `keep_top`) and how the
    model was fitted: what `graphnet lda` prints."""

    window: str
    scored: pd.DataFrame  # connection columns + score, part_*, words, explanation
    run: LdaRun
    findings: int
    suspicious: int
    alerts_per_day: float
    connections: int | None = None  # connections scored (None: those of `scored`)

    def to_json(self, top: int = 20) -> dict[str, Any]:
        """JSON for `graphnet lda --json`."""
        cols = [
            "uid",
            "ts",
            "src",
            "dst",
            "dport",
            "proto",
            "score",
            "part_p",
            "src_word",
            "dst_word",
            "explanation",
        ]
        head = self.scored[[c for c in cols if c in self.scored.columns]].head(top)
        return {
            "window": self.window,
            "connections": len(self.scored) if self.connections is None else self.connections,
            "suspicious": self.suspicious,
            "alerts_per_day": self.alerts_per_day,
            "run": asdict(self.run),
            "top": json.loads(head.to_json(orient="records")),
            "findings": self.findings,
        }


# --------------------------------------------------------------------------------------------
# the engine session
# --------------------------------------------------------------------------------------------
def _opts(sample_cut: str | None, salt: str, state: bool, dupfactor: int) -> pa.Table:
    """The one-row lookup `lda_opts` the views read their settings from."""
    return pa.table(
        {
            "sample_cut": pa.array([sample_cut], type=pa.string()),
            "sample_salt": pa.array([salt], type=pa.string()),
            "state": pa.array([state], type=pa.bool_()),
            "dupfactor": pa.array([float(dupfactor)], type=pa.float64()),
        }
    )


def sample_cut(keep: int, total: int) -> str | None:
    """The bound a row's `SUBSTR(MD5(uid || salt), 1, 8)` stays below to be sampled, so that
    about `keep` of `total` rows are (None: keep every row)."""
    if total <= keep:
        return None
    return f"{min(-(-keep * 16**8 // total), 16**8 - 1):08x}"


def _column(table: pa.Table, name: str) -> np.ndarray:
    """A column of a result as a numpy array."""
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False))


@dataclass
class _Plan:
    """What a prepared session holds: where the model learns from and how much."""

    fit_on: str  # "history" | "self"
    n_now: int
    n_train: int
    first_ts: float | None
    last_ts: float | None


@contextlib.contextmanager
def _bound(
    archive: Archive, window: str, past: Sequence[str], refs: Sequence[str], lda: LdaSettings
) -> Iterator[tuple[_Session, dict[str, dict[str, Any]]]]:
    """An engine session over the window (`conns`), the training windows (`past`) and the
    reference windows of the verdicts (`refs`), with the step's views prepared; and how many
    connections the window and the training windows hold."""
    lookups = {
        "lda_opts": _opts(None, "", lda.state, lda.dupfactor),
        "lda_fb_match": match_table({}),
    }
    tables = {"conns": [window], "past": list(past), "refs": list(refs)}
    with archive.session(tables, lookups=lookups) as s:
        sizes = {str(r["part"]): r for r in s.table("lda_views").to_pylist()}
        yield s, sizes


@contextlib.contextmanager
def _prepared(
    archive: Archive,
    window: str,
    history: Sequence[str],
    refs: Sequence[str],
    lda: LdaSettings,
) -> Iterator[tuple[_Session, _Plan]]:
    """A prepared session that learns from the history windows, or — when they hold nothing
    and `lda.fallback_self` — from the window itself (Spot's own practice); else ValueError."""

    def plan(fit_on: str, sizes: dict[str, dict[str, Any]]) -> _Plan:
        now = sizes["now"]
        return _Plan(
            fit_on, int(now["n"]), int(sizes["past"]["n"]), now["first_ts"], now["last_ts"]
        )

    if history:
        with _bound(archive, window, history, refs, lda) as (s, sizes):
            if int(sizes["past"]["n"]) > 0:
                yield s, plan("history", sizes)
                return
    if not lda.fallback_self:
        raise ValueError(f"no archive windows before {window} to learn from")
    log.warning("no history before %s: fitting on the window itself (as Spot does)", window)
    with _bound(archive, window, [window], refs, lda) as (s, sizes):
        yield s, plan("self", sizes)


def _fit(
    s: _Session,
    plan: _Plan,
    window: str,
    history: list[str],
    lda: LdaSettings,
    feedback: Sequence[dict[str, Any]],
    groups: Mapping[str, Sequence[dict[str, Any]]],
) -> tuple[SuspiciousConnects, LdaRun]:
    """Fit the model in a prepared session: counts in SQL, LDA in Python."""
    t0 = time.perf_counter()
    if plan.n_train == 0:
        raise ValueError("no connections to learn from")
    cut = sample_cut(lda.max_train_flows, plan.n_train) if lda.max_train_flows else None
    s.lookup("lda_opts", _opts(cut, f":{lda.seed}", lda.state, lda.dupfactor))
    # benign feedback (Spot's re-injection): the connections of each verdict's reference
    # window that fall in its scope, x DUPFACTOR; verdicts apply to the windows after their
    # reference window; a verdict without a window applies to the training history itself
    if groups:
        subnet = needs_pairs(groups)
        pool_pairs = pd.DataFrame({"grp": [], "src": [], "dst": []})
        if subnet:
            s.lookup("lda_fb_match", subnet_groups_table(subnet))
            pool_pairs = s.table("lda_fb_pairs").to_pandas()
        s.lookup(
            "lda_fb_match",
            match_table(
                groups, lambda g: pool_pairs[pool_pairs["grp"] == g].reset_index(drop=True)
            ),
        )
        s.table("lda_feedback")
    fitted = s.table("lda_fit").to_pylist()[0]
    vocab = s.table("lda_vocab")
    docs = pd.Index(_column(s.table("lda_docs"), "host").astype(object))
    rows, cols, vals = [], [], []
    for b in s.batches("lda_counts", rows=BATCH):
        rows.append(b.column("doc").to_numpy())
        cols.append(b.column("word").to_numpy())
        vals.append(b.column("n").to_numpy())
    counts = sparse.csr_matrix(
        (
            np.concatenate(vals).astype("float64"),
            (np.concatenate(rows).astype(np.int64), np.concatenate(cols).astype(np.int64)),
        ),
        shape=(len(docs), vocab.num_rows),
    )
    counts.sum_duplicates()
    n_hist, n_fb = int(fitted["history_rows"]), int(fitted["feedback_rows"])
    det = SuspiciousConnects(lda)
    det.model = fit_counts(
        counts,
        pd.Index(_column(vocab, "word").astype(object)),
        _column(vocab, "coarse").astype(object),
        docs,
        lda,
        train_flows=n_hist + n_fb,
        feedback_flows=n_fb if lda.dupfactor > 1 else 0,
        t0=t0,
    )
    run = LdaRun(
        window=window,
        history=history,
        fit_on=plan.fit_on,
        train_flows=n_hist,
        feedback_verdicts=len(feedback),
        feedback_flows=n_fb,
        seconds_fit=time.perf_counter() - t0,
    )
    return det, run


def fit_window(
    archive: Archive,
    window: str,
    lda: LdaSettings,
    feedback: Sequence[dict[str, Any]] = (),
) -> tuple[SuspiciousConnects, LdaRun, pd.DataFrame]:
    """Fit the detector on the archive windows before `window` (+ feedback re-injection) and
    return it with the window's connections (a frame: for tests and small windows; the step
    itself never loads the window). Without history, fit on the window itself when
    `lda.fallback_self` (Spot's own practice), else raise ValueError."""
    hist_w = archive.history(window, lda.history_days)
    groups = benign_groups(feedback, window)
    with _prepared(archive, window, hist_w, [g for g in groups if g], lda) as (s, plan):
        det, fitted = _fit(s, plan, window, hist_w, lda, feedback, groups)
    current = archive.connections([window], CONN_COLUMNS, complete=True)
    return det, fitted, current


# --------------------------------------------------------------------------------------------
# scoring in the engine
# --------------------------------------------------------------------------------------------
def pages(counts: np.ndarray, rows: int) -> list[tuple[int, int]]:
    """Ranges [lo, hi) of host codes, each of about `rows` pairs (at least one host), from
    how many pairs each host code has: a page holds each of its hosts whole."""
    out: list[tuple[int, int]] = []
    ends = np.cumsum(np.asarray(counts, dtype=np.int64))
    lo, done = 0, 0
    while lo < len(ends):
        hi = max(int(np.searchsorted(ends, done + max(rows, 1), side="right")), lo + 1)
        out.append((lo, hi))
        done = int(ends[hi - 1])
        lo = hi
    return out


def _score_pairs(s: _Session, det: SuspiciousConnects, rows: int) -> int:
    """Score the window's distinct (host, word) pairs, which the engine gives as numbers, a
    page of whole hosts at a time (what a pair's score depends on beyond itself is its
    host's: its topic mix and its words in the window), and keep the scores in the engine
    (`lda_pair_scores`, by pair id); returns how many pairs."""
    m = det.model
    assert m is not None
    per_host = _column(s.table("lda_window_pairs"), "n")
    share = coarse_shares(m, _column(s.table("lda_pair_coarse"), "coarse").astype(object))
    n = 0
    for lo, hi in pages(per_host, rows):
        page = s.table("lda_pair_page", {"lo": lo, "hi": hi})
        ps = score_pairs(
            m,
            det.settings,
            _column(page, "host_code").astype(np.int64) - lo,
            _column(page, "doc").astype(np.int64),
            _column(page, "col").astype(np.int64),
            share[_column(page, "coarse_code").astype(np.int64)],
            _column(page, "cnt").astype("float64"),
        )
        batch = pa.table(
            {
                "id": page.column("id").cast(pa.int64()),
                "p": pa.array(ps.p, type=pa.float64()),
                "s": pa.array(ps.score, type=pa.float64()),
                "code": pa.array(ps.code, type=pa.int8()),
                "lam": pa.array(ps.lam, type=pa.float64()),
                "cnt": pa.array(ps.cnt, type=pa.float64()),
            }
        )
        del page, ps
        s.lookup("lda_pair_batch", batch)
        n += int(s.table("lda_pair_keep").column("n")[0].as_py())
    return n


_SCORED = {"p": "part_p", "p_src": "part_p_src", "p_dst": "part_p_dst"}


def _explained(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows of scored connections (as the statements give them) with the model's column names,
    the integer columns as such, and their sentences."""
    out = rows.rename(columns=_SCORED)
    if out.empty:
        out["explanation"] = pd.Series(dtype=object)
        return out
    out["novelty"] = out["novelty"].astype(np.int8)
    out["repeats"] = out["repeats"].astype(np.int64)
    out["explanation"] = explain_rows(out).to_numpy(dtype=object)
    return out


def _findings(s: _Session, window: str, lda: LdaSettings) -> list[Finding]:
    """The top suspicious pairs as findings, from the rows of their best connections."""
    rows = s.table(
        "lda_findings",
        {"threshold": lda.threshold, "max_findings": lda.max_findings, "uids": FINDING_UIDS},
    ).to_pandas()
    if rows.empty:
        return []
    rows = _explained(rows)
    out = []
    for _pos, g in rows.groupby("pos", sort=True):  # one group per finding
        best = g.iloc[0]
        out.append(
            suspicious_connect(
                {str(k): v for k, v in best.items()},
                n=int(best["n"]),
                n_total=int(best["n_total"]),
                ports=int(best["ports"]),
                first=float(best["first_ts"]),
                last=float(best["last_ts"]),
                uids=[str(u) for u in g["uid"]],
                window=window,
                settings=lda,
            )
        )
    return out


def _host_scores(s: _Session, lda: LdaSettings) -> pd.Series:
    """Host scores from each host's `host_top` highest connection scores and its peers."""
    rows = s.table("lda_hosts", {"threshold": lda.threshold, "top": lda.host_top}).to_pandas()
    if rows.empty:
        return pd.Series(dtype="float64")
    rows["host"] = rows["host"].astype(str)
    peers = rows.drop_duplicates("host").set_index("host")["peers"]
    return host_scores_from_top(rows[["host", "score"]], peers, lda.host_top)


def _evidence(s: _Session, hosts: Sequence[str]) -> dict[str, str]:
    """Per host: the sentence of its highest-scoring connection."""
    if not hosts:
        return {}
    s.lookup("lda_evidence_hosts", pa.table({"host": pa.array(list(hosts), type=pa.string())}))
    rows = _explained(s.table("lda_evidence").to_pandas())
    return {str(h): str(e) for h, e in zip(rows["host"], rows["explanation"], strict=True)}


def _top(s: _Session, n: int) -> pd.DataFrame:
    """The `n` highest-scoring connections with the columns of the report."""
    cols = ["uid", "ts", "src", "dst", "sport", "dport", "proto", "service", "score"]
    cols += ["part_p", "part_p_src", "part_p_dst", "src_word", "dst_word", "novelty"]
    cols += ["repeats", "expected", "explanation"]
    rows = _explained(s.table("lda_top", {"n": n}).to_pandas())
    return rows[[c for c in cols if c in rows.columns]]


def _conn_scores(s: _Session) -> pd.Series:
    """Every connection's score by uid, streamed in batches (for the evaluation only)."""
    uids: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    for b in s.batches("lda_conn_scores", rows=BATCH):
        uids.append(np.asarray(b.column("uid").to_numpy(zero_copy_only=False), dtype=object))
        scores.append(b.column("score").to_numpy())
    if not uids:
        return pd.Series(dtype="float64")
    return pd.Series(np.concatenate(scores), index=np.concatenate(uids).astype(str))


def run(ctx: Context) -> DetectorRun:
    """Score every connection of the window with a model fitted on the earlier windows (with
    the analysts' benign feedback re-injected): per-host scores, the top suspicious pairs as
    `suspicious_connect` findings, and every connection's score when the caller asks for it."""
    lda = ctx.option(LdaSettings) or LdaSettings()
    window = ctx.archive.require(ctx.window)
    feedback = load_feedback(ctx.store) if ctx.store is not None else []
    hist_w = ctx.archive.history(window, lda.history_days)
    groups = benign_groups(feedback, window)
    refs = [g for g in groups if g]
    with _prepared(ctx.archive, window, hist_w, refs, lda) as (s, plan):
        det, fitted = _fit(s, plan, window, hist_w, lda, feedback, groups)
        t0 = time.perf_counter()
        n_pairs = _score_pairs(s, det, PAGE_PAIRS)
        summary = s.table("lda_summary", {"threshold": lda.threshold}).to_pylist()[0]
        alerts, suspicious = int(summary["alerts"]), int(summary["suspicious"])
        hs = _host_scores(s, lda)
        found = _findings(s, window, lda)
        evidence = _evidence(s, [str(h) for h in hs.index[:EVIDENCE_HOSTS]])
        top = _top(s, lda.keep_top)
        conn_scores = _conn_scores(s) if ctx.per_connection else None
        fitted.extra["seconds_score"] = time.perf_counter() - t0
    n = plan.n_now
    span = pd.DataFrame({"ts": [plan.first_ts, plan.last_ts] if n else []}, dtype="float64")
    per_day = alerts / windows.span_days(span, window)
    result = LdaResult(window, top, fitted, len(found), suspicious, per_day, connections=n)
    log.info("lda %s: %d connections, %d (host, word) pairs scored", window, n, n_pairs)
    return DetectorRun(
        step="lda",
        window=window,
        summary=f"{n:,} connections scored, {suspicious:,} suspicious, "
        f"{len(found)} findings (fitted on {fitted.fit_on})",
        host_scores=hs,
        conn_scores=conn_scores,
        findings=found,
        alerts=float(alerts),
        evidence=evidence,
        info={
            "fit_on": fitted.fit_on,
            "history": fitted.history,
            "train_flows": fitted.train_flows,
            "feedback_flows": fitted.feedback_flows,
            "threshold": lda.threshold,
        },
        detail=result,
    )
