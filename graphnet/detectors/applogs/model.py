"""Spot's DNS and proxy suspicious connects: the topic model of the flow detector
(`graphnet.detectors.lda.model`: `fit_counts`, `score_pairs`, `host_scores_from_top`) over
per-client documents of DNS or web-request words (`words.py`).

Spot scores DNS and proxy records as it scores flows, with one difference: a record has one
word and one document, the client's (the flow detector has two ends). A record's probability
is `sum_k P(word | topic k) P(topic k | client)`, its score `-log10 P`; graphnet's variant
(`LdaSettings.variant`) fits on earlier windows, gives unseen words a back-off below every seen
word, infers a topic mix for a client absent from training and tests repetitions for bursts,
exactly as for flows.
"""

from __future__ import annotations

import time
from typing import Protocol, Self

import numpy as np
import pandas as pd
from scipy import sparse

from graphnet.detectors.contract import Model
from graphnet.detectors.lda.model import (
    P_FLOOR,
    LdaModel,
    LdaSettings,
    canonical_docs,
    fit_counts,
    pair_codes,
    score_pairs,
)

#: how a word stands for its client (lda's codes): the phrase of the explanation
NOVELTY = (
    "is rare for",
    "was never seen for",
    "was never seen in training, asked by",
    "belongs to a client absent from training,",
    "repeats far more often than expected for",
)


class WordMaker(Protocol):
    """What turns records into words (`DnsWords`, `HttpWords`)."""

    def learn(self, history: pd.DataFrame) -> None: ...

    def words(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]: ...

    def scoring(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]: ...


def docs_of(src: np.ndarray, ts: np.ndarray) -> pd.Index:
    """The documents (clients) in canonical order: by first time, then name (lda's order for
    documents of one role)."""
    return canonical_docs(np.asarray(src, dtype=object), np.zeros(len(src), np.int64), ts)


def fit_words(
    src: np.ndarray,
    word: np.ndarray,
    coarse: np.ndarray,
    ts: np.ndarray,
    settings: LdaSettings,
    weight: np.ndarray | None = None,
) -> LdaModel:
    """Fit the topic model on per-record (client, word) with optional weights (benign
    feedback x DUPFACTOR)."""
    t0 = time.perf_counter()
    n = len(src)
    if n == 0:
        raise ValueError("no records to learn from")
    w = np.ones(n) if weight is None else np.asarray(weight, dtype="float64")
    docs = docs_of(src, ts)
    codes, vocab = pd.factorize(pd.Index(np.asarray(word, dtype=object)), sort=True)
    first_coarse = (
        pd.Series(np.asarray(coarse, dtype=object)).groupby(codes).first().to_numpy(object)
    )
    counts = sparse.csr_matrix(
        (w, (docs.get_indexer(pd.Index(np.asarray(src, dtype=object))), codes)),
        shape=(len(docs), len(vocab)),
    )
    counts.sum_duplicates()
    return fit_counts(
        counts,
        pd.Index(vocab),
        first_coarse,
        docs,
        settings,
        train_flows=n,
        feedback_flows=int((w > 1).sum()),
        t0=t0,
    )


def fit_from_counts(
    host: np.ndarray,
    word: np.ndarray,
    coarse: np.ndarray,
    n: np.ndarray,
    docs: pd.Index,
    settings: LdaSettings,
    train_records: int,
    feedback_records: int,
) -> LdaModel:
    """Fit from (client, word, count) rows (the engine's counts) and the documents in
    canonical order: the same model as `fit_words` on the records they count."""
    t0 = time.perf_counter()
    codes, vocab = pd.factorize(pd.Index(np.asarray(word, dtype=object)), sort=True)
    first_coarse = (
        pd.Series(np.asarray(coarse, dtype=object)).groupby(codes).first().to_numpy(object)
    )
    counts = sparse.csr_matrix(
        (
            np.asarray(n, dtype="float64"),
            (docs.get_indexer(pd.Index(np.asarray(host, dtype=object))), codes),
        ),
        shape=(len(docs), len(vocab)),
    )
    counts.sum_duplicates()
    return fit_counts(
        counts,
        pd.Index(vocab),
        first_coarse,
        docs,
        settings,
        train_flows=train_records,
        feedback_flows=feedback_records,
        t0=t0,
    )


def score_distinct(
    m: LdaModel,
    settings: LdaSettings,
    host: np.ndarray,
    word: np.ndarray,
    coarse: np.ndarray,
    cnt: np.ndarray,
) -> pd.DataFrame:
    """Score distinct (client, word) pairs with how often each occurs in the scored window:
    columns p, score, novelty, expected (lda's `score_pairs`)."""
    codes = pair_codes(m, host, word, coarse)
    ps = score_pairs(m, settings, *codes, np.asarray(cnt, dtype="float64"))
    return pd.DataFrame({"p": ps.p, "score": ps.score, "novelty": ps.code, "expected": ps.lam})


class SpotLogModel(Model):
    """Spot's suspicious connects over DNS or web-request records (frames in, frames out).

    `fit(history)` learns the word maker's training state (user-agent counts) and the topic
    model; `score(obs)` returns per record `score` (-log10 P), `part_p`, `word`, `novelty`,
    `repeats` and `explanation`. An optional `weight` column of the history repeats a record
    (benign feedback x DUPFACTOR)."""

    def __init__(self, words: WordMaker, settings: LdaSettings | None = None) -> None:
        self.maker = words
        self.settings = settings or LdaSettings()
        self.model: LdaModel | None = None

    def fit(self, history: pd.DataFrame) -> Self:
        if history.empty:
            raise ValueError("no records to learn from")
        self.maker.learn(history)
        word, coarse = self.maker.words(history)
        weight = (
            pd.to_numeric(history["weight"], errors="coerce").fillna(1.0).to_numpy("float64")
            if "weight" in history.columns
            else None
        )
        self.model = fit_words(
            history["src"].astype(str).to_numpy(object),
            word,
            coarse,
            history["ts"].to_numpy(dtype="float64"),
            self.settings,
            weight,
        )
        return self

    def score(self, observations: pd.DataFrame) -> pd.DataFrame:
        m = self.model
        if m is None:
            raise RuntimeError("fit the detector first")
        obs = observations
        if obs.empty:
            return pd.DataFrame(
                {c: pd.Series(dtype="float64") for c in ("score", "part_p")}, index=obs.index
            ).assign(word=pd.Series(dtype=object), explanation=pd.Series(dtype=object))
        word, coarse = self.maker.scoring(obs)
        src = obs["src"].astype(str).to_numpy(object)
        pairs = pd.DataFrame({"host": src, "word": word, "coarse": coarse})
        g = pairs.groupby(["host", "word"], sort=True)
        distinct = g.agg(coarse=("coarse", "first"), cnt=("coarse", "size")).reset_index()
        s = score_distinct(
            m,
            self.settings,
            distinct["host"].to_numpy(object),
            distinct["word"].to_numpy(object),
            distinct["coarse"].to_numpy(object),
            distinct["cnt"].to_numpy(),
        )
        scored = pd.concat([distinct, s], axis=1).set_index(["host", "word"])
        at = scored.reindex(pd.MultiIndex.from_arrays([src, word]))
        out = pd.DataFrame(
            {
                "score": at["score"].to_numpy(),
                "part_p": at["p"].to_numpy(),
                "word": word,
                "novelty": at["novelty"].to_numpy().astype(np.int8),
                "repeats": at["cnt"].to_numpy().astype(np.int64),
            },
            index=obs.index,
        )
        out["explanation"] = explain(obs, out)
        return out


def explain(obs: pd.DataFrame, scored: pd.DataFrame) -> np.ndarray:
    """One sentence per scored record (column operations): what was asked (a DNS query or a
    web request), its word and how the word stands for the client."""

    def col(name: str) -> np.ndarray:
        v = obs[name]
        return v.astype(object).where(v.notna(), "-").astype(str).to_numpy(object)

    src = col("src")
    if "query" in obs.columns:
        what = (
            "asked " + col("dst") + " for " + col("query") + " (" + col("qtype_name") + ", "
            + col("rcode_name") + ")"
        )  # fmt: skip
    else:
        what = (
            col("method") + " http://" + col("host") + col("uri") + " (" + col("status_code")
            + ")"
        )  # fmt: skip
    novelty = np.asarray(NOVELTY, dtype=object)[scored["novelty"].to_numpy(dtype=np.int64)]
    p = np.maximum(scored["part_p"].to_numpy(dtype="float64"), P_FLOOR)
    ptxt = pd.Series(p).map("{:.1e}".format).to_numpy(object)
    word = scored["word"].to_numpy(object)
    out = src + " " + what + ": word '" + word + "' " + novelty + " " + src + " (P = " + ptxt + ")"
    return np.asarray(out, dtype=object)
