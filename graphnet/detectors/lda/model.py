"""The topic model: fit from a (host x word) count matrix, score distinct (host, word) pairs.

Both ways in share this core, so they give the same numbers:

- `SuspiciousConnects` (the pure `Model`): frames in, frames out, for tests and small data; it
  counts words in pandas;
- the step (`graphnet.detectors.lda.step`): the archive's engine counts words in SQL, and only
  the count matrix and the window's distinct (host, word) pairs reach Python.

The documents (hosts) are taken in a canonical order — hosts that originate a connection before
those that only answer, then by the time of their first connection, then by name — because
scikit-learn's LDA draws each document's starting topic mix in row order: the model is thus a
function of the connections alone, not of the order in which files or frames hold them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Literal, Self

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.decomposition import LatentDirichletAllocation

from graphnet.detectors.contract import Model
from graphnet.detectors.lda.words import Variant, flow_words

log = logging.getLogger(__name__)

P_FLOOR = 1e-30  # probabilities are clipped here before -log10: scores are at most 30
#: (host, word) pairs whose topic mixes are multiplied out at once (`score_pairs`)
PAIR_CHUNK = 250_000


@dataclass(frozen=True)
class LdaSettings:
    """Settings of the suspicious-connects detector (defaults: Spot's where Spot has one)."""

    variant: Variant = "graphnet"
    topics: int = 20  # Spot: TOPIC_COUNT=20
    max_iter: int = 20
    learning_method: Literal["batch", "online"] = "batch"
    doc_topic_prior: float | None = None  # alpha; None = 1/topics (scikit-learn's default)
    topic_word_prior: float | None = None  # eta;   None = 1/topics
    seed: int = 0
    dupfactor: int = 1000  # Spot: DUPFACTOR=1000
    history_days: float = 28.0  # fit on archive windows starting at most this long before
    state: bool = False  # add the TCP outcome class to words (graphnet option)
    threshold: float = 1e-10  # a connection with P below this is suspicious (an alert)
    max_findings: int = 100  # suspicious (src, dst) pairs saved as findings
    host_top: int = 20  # a host's score: mean of its `host_top` highest connection scores
    max_train_flows: int | None = 2_000_000  # uniform sample of history beyond this (seeded)
    fallback_self: bool = True  # no history: fit on the scored window itself (as Spot does)
    burst_min: int = 10  # graphnet: an (IP, word) repeated this often is tested for a burst
    keep_top: int = 5000  # the step keeps this many highest-scoring connections for its report


@dataclass
class LdaModel:
    vocab: pd.Index  # word text -> column
    docs: pd.Index  # ip -> row
    theta: np.ndarray  # docs x K, P(topic | ip)
    phi: np.ndarray  # K x V, P(word | topic)
    counts: sparse.csr_matrix  # docs x V training counts (with feedback weights)
    coarse_share: pd.Series  # coarse word -> share of training words (back-off)
    phi_min: float
    lda: LatentDirichletAllocation
    train_flows: int
    feedback_flows: int
    seconds: float


def fit_counts(
    counts: sparse.csr_matrix,
    vocab: pd.Index,
    coarse: np.ndarray,
    docs: pd.Index,
    settings: LdaSettings,
    train_flows: int,
    feedback_flows: int,
    t0: float,
) -> LdaModel:
    """Fit LDA on a documents x vocabulary count matrix (canonical CSR: sorted, summed);
    `coarse` is each vocabulary word's coarse form (for the back-off of unseen words)."""
    st = settings
    lda = LatentDirichletAllocation(
        n_components=st.topics,
        max_iter=st.max_iter,
        learning_method=st.learning_method,
        doc_topic_prior=st.doc_topic_prior,
        topic_word_prior=st.topic_word_prior,
        random_state=st.seed,
    )
    theta = lda.fit_transform(counts)
    theta = theta / theta.sum(axis=1, keepdims=True)
    comp = lda.components_
    phi = comp / comp.sum(axis=1, keepdims=True)
    word_tot = np.asarray(counts.sum(axis=0)).ravel()
    coarse_share = pd.Series(word_tot, index=coarse).groupby(level=0).sum()
    coarse_share = coarse_share / max(float(word_tot.sum()), 1.0)
    model = LdaModel(
        vocab=vocab,
        docs=docs,
        theta=theta,
        phi=phi,
        counts=counts,
        coarse_share=coarse_share,
        phi_min=float(phi.min()),
        lda=lda,
        train_flows=train_flows,
        feedback_flows=feedback_flows,
        seconds=time.perf_counter() - t0,
    )
    log.info(
        "LDA fitted: %d flows, %d IPs, %d words, %d topics in %.1fs",
        train_flows,
        len(docs),
        len(vocab),
        st.topics,
        model.seconds,
    )
    return model


def canonical_docs(host: np.ndarray, role: np.ndarray, ts: np.ndarray) -> pd.Index:
    """The documents in canonical order, from every end of the training connections (host,
    role 0 originator / 1 responder, time): by each host's first role, then its first time at
    that role (unknown last), then its name (as `graphnet/sql/lda_fit.sql` orders them)."""
    ends = pd.DataFrame({"host": host, "role": role, "ts": ts})
    first = ends.sort_values(["role", "ts"], kind="stable").drop_duplicates("host")
    first = first.sort_values(["role", "ts", "host"], kind="stable")
    return pd.Index(first["host"].to_numpy(dtype=object))


@dataclass
class PairScores:
    """The probability of each distinct (host, word) pair of a scored window and how it
    stands (the same for every connection end with that host and word)."""

    p: np.ndarray  # probability
    score: np.ndarray  # -log10 max(p, P_FLOOR)
    code: np.ndarray  # 0 rare for the host, 1 new for the host, 2 unseen word, 3 new host, 4 burst
    lam: np.ndarray  # the expected count (bursts)
    cnt: np.ndarray  # how often the host had the word in the window


def _theta_for(
    m: LdaModel,
    variant: Variant,
    host_doc: np.ndarray,
    host_code: np.ndarray,
    col: np.ndarray,
    cnt: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Topic mixes for every host of the pairs (`host_doc`: its training row, -1 if new):
    training mixes, and for new hosts (graphnet variant) mixes inferred from their counts of
    known words in the window; returns (theta, known) per host."""
    k = m.theta.shape[1]
    theta = np.zeros((len(host_doc), k))
    known = host_doc >= 0
    theta[known] = m.theta[host_doc[known]]
    if variant == "graphnet" and (~known).any():
        new = np.flatnonzero(~known)
        row_of = np.full(len(host_doc), -1)
        row_of[new] = np.arange(len(new))
        r = row_of[host_code]
        ok = (r >= 0) & (col >= 0)
        x = sparse.csr_matrix((cnt[ok], (r[ok], col[ok])), shape=(len(new), len(m.vocab)))
        has = np.asarray(x.sum(axis=1)).ravel() > 0
        mix = np.tile(m.theta.mean(axis=0), (len(new), 1))
        if has.any():
            inferred = m.lda.transform(x[np.flatnonzero(has)])
            mix[has] = inferred / inferred.sum(axis=1, keepdims=True)
        theta[new] = mix
    return theta, known


def pair_codes(
    m: LdaModel, host: np.ndarray, word: np.ndarray, coarse: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The numbers `score_pairs` takes, for pairs given as text: (host code, the host's
    training row, the word's vocabulary column, the coarse word's share of training)."""
    host_code, hosts = pd.factorize(pd.Index(np.asarray(host, dtype=object)), sort=False)
    doc = m.docs.get_indexer(pd.Index(hosts))[host_code]
    col = m.vocab.get_indexer(pd.Index(np.asarray(word, dtype=object)))
    return host_code, doc, col, coarse_shares(m, np.asarray(coarse, dtype=object))


def coarse_shares(m: LdaModel, coarse: np.ndarray) -> np.ndarray:
    """Each coarse word's share of the training words (0 if it never occurred)."""
    return m.coarse_share.reindex(pd.Index(coarse)).fillna(0.0).to_numpy(dtype="float64")


def score_pairs(
    m: LdaModel,
    settings: LdaSettings,
    host_code: np.ndarray,
    doc: np.ndarray,
    col: np.ndarray,
    share: np.ndarray,
    cnt: np.ndarray,
) -> PairScores:
    """Score the distinct (host, word) pairs of a window, given as numbers: the host's code
    (0 .. hosts-1), its training row (`doc`, -1: not in training), the word's vocabulary
    column (`col`, -1: never seen in training), the coarse word's share of the training words
    (`share`, the back-off of unseen words) and `cnt`, how often the host had the word there
    (as either end). P = sum_k P(word | topic k) P(topic k | host); the graphnet variant gives
    unseen words a back-off below every seen word and tests repetitions for a burst."""
    st = settings
    cnt = np.asarray(cnt, dtype="float64")
    host_code = np.asarray(host_code, dtype=np.int64)
    u_vocab = np.asarray(col, dtype=np.int64)
    n_hosts = int(host_code.max()) + 1 if len(host_code) else 0
    host_doc = np.full(n_hosts, -1, dtype=np.int64)
    host_doc[host_code] = doc
    theta, ip_known = _theta_for(m, st.variant, host_doc, host_code, u_vocab, cnt)
    n = len(cnt)
    seen_word = u_vocab >= 0
    prob = np.zeros(n)
    # (pairs x topics) at most PAIR_CHUNK pairs at a time: a window has millions of pairs
    sel = np.flatnonzero(seen_word)
    for lo in range(0, sel.size, PAIR_CHUNK):
        part = sel[lo : lo + PAIR_CHUNK]
        prob[part] = np.einsum(
            "ij,ji->i", theta[host_code[part]], m.phi[:, u_vocab[part]], optimize=False
        )
    if st.variant == "spot":
        prob[~ip_known[host_code]] = 0.0  # Spot: an IP without a topic mix scores 0
    else:
        unseen = np.flatnonzero(~seen_word)
        if unseen.size:
            # below every seen word (>= phi_min), ordered by the port/proto's familiarity
            prob[unseen] = m.phi_min * 0.1 * (share[unseen] + 1e-6) / (1.0 + 1e-6)
    # seen for this very IP in training?
    own = np.zeros(n, dtype=bool)
    dp = host_doc[host_code]
    chk = np.flatnonzero((dp >= 0) & seen_word)
    if chk.size:
        own[chk] = np.asarray(m.counts[dp[chk], u_vocab[chk]]).ravel() > 0

    # graphnet: repetition. Spot scores each flow on its own, so 400 repetitions of a
    # plausible word weigh no more than one (a brute force, a flood). For each (IP, word)
    # of the window: its count x against lambda = (the IP's words in the window) x
    # P(word | IP), with an over-dispersed (geometric) tail P(X >= x) = (l / (1 + l))^x
    lam = np.zeros(n)
    burst = np.zeros(n, dtype=bool)
    if st.variant == "graphnet" and st.burst_min > 0:
        n_ip = np.bincount(host_code, weights=cnt, minlength=n_hosts)
        lam = n_ip[host_code] * prob
        log_b = cnt * (np.log(np.maximum(lam, 1e-300)) - np.log1p(lam))
        p_burst = np.exp(np.maximum(log_b, -700.0))
        burst = (cnt >= st.burst_min) & (p_burst < prob)
        prob = np.where(burst, p_burst, prob)

    # how the word stands: 0 rare for this IP, 1 never seen for this IP, 2 never seen in
    # training, 3 the IP was not in training, 4 a burst
    code = np.zeros(n, dtype=np.int8)
    code[~own] = 1
    code[~seen_word] = 2
    code[~ip_known[host_code]] = 3
    code[burst] = 4
    score = -np.log10(np.maximum(prob, P_FLOOR))
    return PairScores(p=prob, score=score, code=code, lam=lam, cnt=cnt)


def explain_rows(frame: pd.DataFrame) -> pd.Series:
    """One sentence per scored connection, built with column operations. `frame` has src,
    dst, dport, hour, bytes_bin, pkts_bin, src_word, dst_word, part_p, part_p_src, part_p_dst,
    novelty, repeats and expected."""
    src = frame["src"].astype(str).to_numpy(dtype=object)
    dst = frame["dst"].astype(str).to_numpy(dtype=object)
    worst_src = frame["part_p_src"].to_numpy() <= frame["part_p_dst"].to_numpy()
    dport = pd.to_numeric(frame["dport"], errors="coerce").fillna(-1).astype(np.int64)
    port = np.where(dport.to_numpy() >= 0, ":" + dport.astype(str).to_numpy(dtype=object), "")
    hours = frame["hour"].to_numpy(dtype=np.int64)
    hour = np.char.zfill(hours.astype(str), 2).astype(object)
    who = np.where(worst_src, src, dst)
    word = np.where(worst_src, frame["src_word"].to_numpy(), frame["dst_word"].to_numpy())
    code = frame["novelty"].to_numpy(dtype=np.int64)
    pre = np.asarray(
        ["is rare for ", "was never seen for ", "of ", "belongs to ", "occurred "],
        dtype=object,
    )[code]
    post = np.asarray(
        ["", "", " was never seen anywhere in training", ", a host absent from training", ""],
        dtype=object,
    )[code]
    burst = code == 4
    if burst.any():
        reps = frame["repeats"].to_numpy()[burst].astype(np.int64).astype(str).astype(object)
        exp_txt = pd.Series(frame["expected"].to_numpy()[burst]).map("{:.2g}".format)
        pre[burst] = "occurred " + reps + " times in this window for "
        post[burst] = ", whose profile expects " + exp_txt.to_numpy(dtype=object)
    p = frame["part_p"].to_numpy()
    ptxt = pd.Series(p).map("{:.1e}".format).to_numpy(dtype=object)
    bbin = frame["bytes_bin"].to_numpy(dtype=np.int64).astype(str).astype(object)
    pbin = frame["pkts_bin"].to_numpy(dtype=np.int64).astype(str).astype(object)
    text = (
        src
        + " → "
        + dst
        + port
        + " at "
        + hour
        + "h, 2^"
        + bbin
        + " bytes, 2^"
        + pbin
        + " packets: word '"
        + word
        + "' "
        + pre
        + who
        + post
        + " (P = "
        + ptxt
        + ")"
    )
    return pd.Series(text, index=frame.index, dtype=object)


class SuspiciousConnects(Model):
    """Spot-style LDA suspicious connects. `fit(history)` takes normalised connections (an
    optional `weight` column repeats a flow, e.g. benign feedback x DUPFACTOR); `score(obs)`
    returns per connection `score` = -log10 P, `part_p` (the raw probability), `part_p_src`,
    `part_p_dst`, the words and an explanation."""

    name = "lda"

    def __init__(self, settings: LdaSettings | None = None) -> None:
        self.settings = settings or LdaSettings()
        self.model: LdaModel | None = None

    # -- fit -----------------------------------------------------------------------------
    def fit(self, history: pd.DataFrame) -> Self:
        st = self.settings
        t0 = time.perf_counter()
        if history.empty:
            raise ValueError("no connections to learn from")
        weight = (
            pd.to_numeric(history["weight"], errors="coerce").fillna(1.0).to_numpy("float64")
            if "weight" in history.columns
            else np.ones(len(history))
        )
        words = flow_words(history, st.variant, st.state)
        n = len(history)
        ips = np.concatenate(
            [history["src"].astype(str).to_numpy(), history["dst"].astype(str).to_numpy()]
        )
        ts = history["ts"].to_numpy(dtype="float64")
        docs = canonical_docs(ips, np.repeat(np.array([0, 1]), n), np.concatenate([ts, ts]))
        doc_codes = docs.get_indexer(pd.Index(ips))
        w_codes = np.concatenate([words.src, words.dst])
        weights = np.concatenate([weight, weight])
        counts = sparse.csr_matrix(
            (weights, (doc_codes, w_codes)), shape=(len(docs), len(words.text))
        )
        counts.sum_duplicates()
        self.model = fit_counts(
            counts,
            pd.Index(words.text),
            words.coarse,
            docs,
            st,
            train_flows=n,
            feedback_flows=int((weight > 1).sum()),
            t0=t0,
        )
        return self

    # -- score ---------------------------------------------------------------------------
    def score(self, observations: pd.DataFrame, explain: bool = True) -> pd.DataFrame:
        m = self.model
        if m is None:
            raise RuntimeError("fit the detector first")
        st = self.settings
        obs = observations
        n = len(obs)
        if n == 0:
            out = pd.DataFrame(index=obs.index)
            for c in ("score", "part_p", "part_p_src", "part_p_dst", "expected"):
                out[c] = pd.Series(dtype="float64")
            for c in ("src_word", "dst_word", "explanation"):
                out[c] = pd.Series(dtype=object)
            return out
        words = flow_words(obs, st.variant, st.state)
        ips = np.concatenate([obs["src"].astype(str).to_numpy(), obs["dst"].astype(str).to_numpy()])
        ip_codes, ip_uniq = pd.factorize(ips, sort=False)
        wcodes = np.concatenate([words.src, words.dst])
        # distinct (ip, word) pairs: every end with the same host and word scores the same
        nw = len(words.text)
        upair, pinv = np.unique(ip_codes.astype(np.int64) * nw + wcodes, return_inverse=True)
        pinv = pinv.reshape(-1)
        u_w = upair % nw
        codes = pair_codes(
            m, np.asarray(ip_uniq, dtype=object)[upair // nw], words.text[u_w], words.coarse[u_w]
        )
        ps = score_pairs(m, st, *codes, np.bincount(pinv, minlength=len(upair)).astype("float64"))
        p_all = ps.p[pinv]
        p_src, p_dst = p_all[:n], p_all[n:]
        worst_is_src = p_src <= p_dst

        def worse(values: np.ndarray) -> np.ndarray:
            v = values[pinv]
            return np.where(worst_is_src, v[:n], v[n:])

        out = pd.DataFrame(
            {
                "score": worse(ps.score),
                "part_p": np.minimum(p_src, p_dst),
                "part_p_src": p_src,
                "part_p_dst": p_dst,
                "src_word": words.text[words.src],
                "dst_word": words.text[words.dst],
            },
            index=obs.index,
        )
        out["novelty"] = worse(ps.code)
        out["repeats"] = worse(ps.cnt).astype(np.int64)
        out["expected"] = worse(ps.lam)
        if explain:
            parts = pd.DataFrame(
                {
                    "src": obs["src"].to_numpy(),
                    "dst": obs["dst"].to_numpy(),
                    "dport": obs["dport"].to_numpy(),
                    "hour": words.hour,
                    "bytes_bin": words.bytes_bin,
                    "pkts_bin": words.pkts_bin,
                },
                index=obs.index,
            )
            out["explanation"] = explain_rows(pd.concat([parts, out], axis=1))
        else:
            out["explanation"] = ""
        return out


def host_scores(
    scored: pd.DataFrame, conns: pd.DataFrame, top: int = 20, threshold: float = 1e-10
) -> pd.Series:
    """Per host (either endpoint): the mean of its `top` highest connection scores (severity)
    plus log10(1 + distinct peers of its connections with P < threshold) (breadth: a scanner
    outranks each of the hosts it scanned)."""
    if scored.empty:
        return pd.Series(dtype="float64")
    s = scored["score"].to_numpy()
    src = conns["src"].astype(str).to_numpy(dtype=object)
    dst = conns["dst"].astype(str).to_numpy(dtype=object)
    frame = pd.DataFrame(
        {
            "host": np.concatenate([src, dst]),
            "peer": np.concatenate([dst, src]),
            "score": np.concatenate([s, s]),
        }
    )
    low = np.tile(scored["part_p"].to_numpy() < threshold, 2)
    peers = frame[low].drop_duplicates(["host", "peer"]).groupby("host").size()
    return host_scores_from_top(frame[["host", "score"]], peers, top)


def host_scores_from_top(ends: pd.DataFrame, peers: pd.Series, top: int) -> pd.Series:
    """Host scores from connection ends (host, score) — all of them, or at least each host's
    `top` highest — and each host's distinct low-P peers: the sum of the `top` highest scores
    over `top`, plus log10(1 + peers), highest first."""
    frame = ends.sort_values(["host", "score"], ascending=[True, False], kind="stable")
    frame = frame[frame.groupby("host", sort=False).cumcount() < top]
    out = frame.groupby("host")["score"].sum() / top
    out = out + np.log10(1.0 + peers.reindex(out.index).fillna(0.0))
    return out.sort_values(ascending=False)
