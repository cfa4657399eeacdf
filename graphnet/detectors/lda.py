"""Suspicious connects: Apache Spot's netflow topic model, then improved where it is weak.

Spot (spot-ml, `FlowWordCreator` / `FlowSuspiciousConnectsModel` / `FlowScoreFunction`) turns
every flow into two *words*, one for each endpoint,

    portKey_proto_hour_ceil(log2(bytes+1))_ceil(log2(packets+1))

where the port key is `0` when both ports are 0, `111111` when both are <= 1024, `333333` when
both are > 1024, and otherwise the low (or the non-zero) port; the endpoint that owns that port
gets its word prefixed with `-1_`. Every IP is a document made of its words from both roles; LDA
learns topics (profiles of traffic); a flow's probability is, for each endpoint,
`sum_k P(word | topic k) * P(topic k | IP)`, and the flow keeps the smaller of the two. Words never
seen in training have probability 0 (most suspicious). Analyst feedback marks flows benign; Spot
re-injects them `DUPFACTOR` (1000) times into training.

graphnet keeps those words and that score (`variant="spot"` reproduces Spot exactly) and by
default (`variant="graphnet"`) changes what is weak (see docs/methods.md):

- fit on earlier windows and score the new one (Spot fits and scores the same day, so a large
  attack shapes its own topics);
- unseen words get a back-off probability below every seen word, ordered by how familiar the
  word's port and protocol are, instead of a tie at 0;
- a host that was not in training gets a topic mix inferred from its known words in the scored
  window (Spot: probability 0 for all its flows);
- analyst feedback is scoped (pair, source host, destination service, subnet pair) and stored
  in Neo4j; removing it removes its re-injection at the next fit.

Everything is vectorised: words are built as packed integers over columns and turned into text
only for distinct values; scoring works on distinct (IP, word) pairs with matrix products.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Self

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.decomposition import LatentDirichletAllocation

from graphnet import windows
from graphnet.archive import Archive
from graphnet.detectors.contract import Context, DetectorRun, Model
from graphnet.findings import Finding, cypher_literal

log = logging.getLogger(__name__)

#: columns the detectors read from the archive (ground-truth columns are never read by them)
CONN_COLUMNS = (
    "ts",
    "uid",
    "src",
    "dst",
    "sport",
    "dport",
    "proto",
    "service",
    "conn_state",
    "src_bytes",
    "dst_bytes",
    "src_pkts",
    "dst_pkts",
)

LOW_TO_LOW = 111111
HIGH_TO_HIGH = 333333
P_FLOOR = 1e-30  # probabilities are clipped here before -log10: scores are at most 30

Variant = Literal["spot", "graphnet"]


# --------------------------------------------------------------------------------------------
# words
# --------------------------------------------------------------------------------------------
_STATE_CLASS = {
    "SF": "ok",
    "S1": "ok",
    "S2": "ok",
    "S3": "ok",
    "S0": "noreply",
    "REJ": "rej",
    "RSTO": "rst",
    "RSTR": "rst",
    "RSTOS0": "rst",
    "RSTRH": "rst",
    "SH": "half",
    "SHR": "half",
    "OTH": "oth",
}
_STATES = ("-", "ok", "noreply", "rej", "rst", "half", "oth")


def log2_bin(values: np.ndarray) -> np.ndarray:
    """Spot's `ceil(log2(x + 1))` (unknown counts count as 0)."""
    v = np.nan_to_num(np.asarray(values, dtype="float64"), nan=0.0)
    v = np.maximum(v, 0.0)
    return np.ceil(np.log2(v + 1.0)).astype(np.int64)


def _ports(frame: pd.DataFrame, col: str) -> np.ndarray:
    p = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype="float64")
    p = np.where(np.isnan(p) | (p < 0), 0.0, p)  # unknown ports are Spot's "no port" (0)
    return p.astype(np.int64)


def _sum_known(frame: pd.DataFrame, a: str, b: str) -> np.ndarray:
    x = pd.to_numeric(frame[a], errors="coerce").to_numpy(dtype="float64")
    y = pd.to_numeric(frame[b], errors="coerce").to_numpy(dtype="float64")
    return np.nan_to_num(x, nan=0.0) + np.nan_to_num(y, nan=0.0)


@dataclass
class Words:
    """Per-row word codes of one frame and the text of each distinct code."""

    src: np.ndarray  # int64 index into `text`
    dst: np.ndarray
    text: np.ndarray  # object array of distinct words
    coarse: np.ndarray  # object array: the word without hour and bins (for back-off)
    hour: np.ndarray  # per row
    bytes_bin: np.ndarray
    pkts_bin: np.ndarray


def flow_words(frame: pd.DataFrame, variant: Variant = "spot", state: bool = False) -> Words:
    """Spot's two words per flow, vectorised (packed integers; text only for distinct words).

    Bytes and packets are the flow's totals (originator + responder; unknown = 0), as Spot's
    `ibyt`/`ipkt` are for a NetFlow record. With `state` (graphnet option) the TCP outcome class
    (`ok`, `noreply`, `rej`, `rst`, `half`, `oth`) is appended to the word.
    """
    n = len(frame)
    s = _ports(frame, "sport")
    d = _ports(frame, "dport")
    both0 = (s == 0) & (d == 0)
    d0 = (d == 0) & (s > 0)
    s0 = (s == 0) & (d > 0)
    low = (s <= 1024) & (d <= 1024)
    s_low = (s <= 1024) & (d > 1024)
    d_low = (s > 1024) & (d <= 1024)
    conds = [both0, d0, s0, low, s_low, d_low]
    key = np.select(conds, [0, s, d, LOW_TO_LOW, s, d], HIGH_TO_HIGH).astype(np.int64)
    owner = np.select(conds, [0, 1, 2, 0, 1, 2], 0).astype(np.int64)  # 1 src, 2 dst own the port

    proto_codes, proto_index = pd.factorize(
        frame["proto"].astype(object).where(frame["proto"].notna(), "-").astype(str).str.lower(),
        sort=True,
    )
    protos = np.asarray(proto_index, dtype=object)
    n_proto = max(len(protos), 1)
    ts = frame["ts"].to_numpy(dtype="float64")
    hour = (np.floor(np.nan_to_num(ts, nan=0.0) / 3600.0) % 24).astype(np.int64)
    bbin = np.minimum(log2_bin(_sum_known(frame, "src_bytes", "dst_bytes")), 63)
    pbin = np.minimum(log2_bin(_sum_known(frame, "src_pkts", "dst_pkts")), 63)
    if state and "conn_state" in frame.columns:
        cls = frame["conn_state"].astype(object).map(_STATE_CLASS).fillna("-")
        st = pd.Categorical(cls, categories=_STATES).codes.astype(np.int64)
    else:
        st = np.zeros(n, dtype=np.int64)
    n_state = len(_STATES)

    base = ((((key * n_proto + proto_codes) * 24 + hour) * 64 + bbin) * 64 + pbin) * n_state + st
    src_key = base * 2 + (owner == 1)
    dst_key = base * 2 + (owner == 2)
    uniq, inv = np.unique(np.concatenate([src_key, dst_key]), return_inverse=True)
    inv = inv.reshape(-1)

    # decode the distinct keys into text
    pre = uniq % 2
    b = uniq // 2
    st_u = b % n_state
    b //= n_state
    pb_u = b % 64
    b //= 64
    bb_u = b % 64
    b //= 64
    hr_u = b % 24
    b //= 24
    pr_u = b % n_proto
    key_u = b // n_proto
    coarse = (
        np.where(pre == 1, "-1_", "").astype(object)
        + key_u.astype(str).astype(object)
        + "_"
        + (protos[pr_u] if len(protos) else np.full(len(uniq), "-", dtype=object))
    )
    text = coarse + "_" + hr_u.astype(str).astype(object) + "_" + bb_u.astype(str).astype(object)
    text = text + "_" + pb_u.astype(str).astype(object)
    if state:
        text = text + "_" + np.asarray(_STATES, dtype=object)[st_u]
    return Words(
        src=inv[:n],
        dst=inv[n:],
        text=np.asarray(text, dtype=object),
        coarse=np.asarray(coarse, dtype=object),
        hour=hour,
        bytes_bin=bbin,
        pkts_bin=pbin,
    )


def word_text(frame: pd.DataFrame, variant: Variant = "spot", state: bool = False) -> pd.DataFrame:
    """The words as text, one row per flow (columns `src_word`, `dst_word`): for reports/tests."""
    w = flow_words(frame, variant, state)
    return pd.DataFrame({"src_word": w.text[w.src], "dst_word": w.text[w.dst]}, index=frame.index)


# --------------------------------------------------------------------------------------------
# the detector
# --------------------------------------------------------------------------------------------
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
        vocab_codes = words.text
        ips = np.concatenate(
            [history["src"].astype(str).to_numpy(), history["dst"].astype(str).to_numpy()]
        )
        doc_codes, docs = pd.factorize(ips, sort=False)
        w_codes = np.concatenate([words.src, words.dst])
        weights = np.concatenate([weight, weight])
        counts = sparse.csr_matrix(
            (weights, (doc_codes, w_codes)), shape=(len(docs), len(vocab_codes))
        )
        counts.sum_duplicates()
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
        coarse_share = pd.Series(word_tot, index=words.coarse).groupby(level=0).sum()
        coarse_share = coarse_share / max(float(word_tot.sum()), 1.0)
        self.model = LdaModel(
            vocab=pd.Index(vocab_codes),
            docs=pd.Index(docs),
            theta=theta,
            phi=phi,
            counts=counts,
            coarse_share=coarse_share,
            phi_min=float(phi.min()),
            lda=lda,
            train_flows=len(history),
            feedback_flows=int((weight > 1).sum()),
            seconds=time.perf_counter() - t0,
        )
        log.info(
            "LDA fitted: %d flows, %d IPs, %d words, %d topics in %.1fs",
            len(history),
            len(docs),
            len(vocab_codes),
            st.topics,
            self.model.seconds,
        )
        return self

    # -- score ---------------------------------------------------------------------------
    def _theta_for(
        self, obs: pd.DataFrame, ips: np.ndarray, ip_idx: np.ndarray, w_idx: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Topic mixes for every distinct IP of the observations: training mixes, and for new
        IPs (graphnet variant) mixes inferred from their known words; returns (theta, known)."""
        m = self.model
        assert m is not None
        k = m.theta.shape[1]
        uniq_ips = pd.Index(pd.unique(ips))
        pos = m.docs.get_indexer(uniq_ips)
        theta = np.zeros((len(uniq_ips), k))
        known = pos >= 0
        theta[known] = m.theta[pos[known]]
        if self.settings.variant == "graphnet" and (~known).any():
            new = np.flatnonzero(~known)
            row_of = np.full(len(uniq_ips), -1)
            row_of[new] = np.arange(len(new))
            r = row_of[ip_idx]
            ok = (r >= 0) & (w_idx >= 0)
            x = sparse.csr_matrix(
                (np.ones(int(ok.sum())), (r[ok], w_idx[ok])), shape=(len(new), len(m.vocab))
            )
            has = np.asarray(x.sum(axis=1)).ravel() > 0
            mix = np.tile(m.theta.mean(axis=0), (len(new), 1))
            if has.any():
                inferred = m.lda.transform(x[np.flatnonzero(has)])
                mix[has] = inferred / inferred.sum(axis=1, keepdims=True)
            theta[new] = mix
        return theta, known

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
        vocab_pos = m.vocab.get_indexer(pd.Index(words.text))  # -1: never seen in training
        ips = np.concatenate([obs["src"].astype(str).to_numpy(), obs["dst"].astype(str).to_numpy()])
        ip_codes, ip_uniq = pd.factorize(ips, sort=False)
        wcodes = np.concatenate([words.src, words.dst])
        w_idx = vocab_pos[wcodes]
        theta, ip_known = self._theta_for(obs, np.asarray(ip_uniq), ip_codes, w_idx)
        doc_pos = m.docs.get_indexer(pd.Index(ip_uniq))

        # distinct (ip, word) pairs -> probability, by one product per pair
        nw = len(words.text)
        pair = ip_codes.astype(np.int64) * nw + wcodes
        upair, pinv = np.unique(pair, return_inverse=True)
        pinv = pinv.reshape(-1)
        u_ip = upair // nw
        u_w = upair % nw
        u_vocab = vocab_pos[u_w]
        seen_word = u_vocab >= 0
        prob = np.zeros(len(upair))
        sel = np.flatnonzero(seen_word)
        if sel.size:
            prob[sel] = np.einsum(
                "ij,ji->i", theta[u_ip[sel]], m.phi[:, u_vocab[sel]], optimize=False
            )
        if st.variant == "spot":
            prob[~ip_known[u_ip]] = 0.0  # Spot: an IP without a topic mix scores 0
        else:
            unseen = np.flatnonzero(~seen_word)
            if unseen.size:
                share = (
                    m.coarse_share.reindex(pd.Index(words.coarse[u_w[unseen]]))
                    .fillna(0.0)
                    .to_numpy()
                )
                # below every seen word (>= phi_min), ordered by the port/proto's familiarity
                prob[unseen] = m.phi_min * 0.1 * (share + 1e-6) / (1.0 + 1e-6)
        # seen for this very IP in training?
        own = np.zeros(len(upair), dtype=bool)
        dp = doc_pos[u_ip]
        chk = np.flatnonzero((dp >= 0) & seen_word)
        if chk.size:
            own[chk] = np.asarray(m.counts[dp[chk], u_vocab[chk]]).ravel() > 0

        # graphnet: repetition. Spot scores each flow on its own, so 400 repetitions of a
        # plausible word weigh no more than one (a brute force, a flood). For each (IP, word)
        # of the window: its count x against lambda = (the IP's words in the window) x
        # P(word | IP), with an over-dispersed (geometric) tail P(X >= x) = (l / (1 + l))^x
        cnt = np.bincount(pinv, minlength=len(upair)).astype("float64")
        lam = np.zeros(len(upair))
        burst = np.zeros(len(upair), dtype=bool)
        if st.variant == "graphnet" and st.burst_min > 0:
            n_ip = np.bincount(ip_codes, minlength=len(ip_uniq)).astype("float64")
            lam = n_ip[u_ip] * prob
            log_b = cnt * (np.log(np.maximum(lam, 1e-300)) - np.log1p(lam))
            p_burst = np.exp(np.maximum(log_b, -700.0))
            burst = (cnt >= st.burst_min) & (p_burst < prob)
            prob = np.where(burst, p_burst, prob)

        p_all = prob[pinv]
        p_src, p_dst = p_all[:n], p_all[n:]
        p = np.minimum(p_src, p_dst)
        score = -np.log10(np.maximum(p, P_FLOOR))
        worst_is_src = p_src <= p_dst
        out = pd.DataFrame(
            {
                "score": score,
                "part_p": p,
                "part_p_src": p_src,
                "part_p_dst": p_dst,
                "src_word": words.text[words.src],
                "dst_word": words.text[words.dst],
            },
            index=obs.index,
        )
        # how the worse endpoint's word stands: 0 rare for this IP, 1 never seen for this IP,
        # 2 never seen in training, 3 the IP was not in training
        code = np.zeros(len(upair), dtype=np.int8)
        code[~own] = 1
        code[~seen_word] = 2
        code[~ip_known[u_ip]] = 3
        code[burst] = 4
        c_all = code[pinv]
        out["novelty"] = np.where(worst_is_src, c_all[:n], c_all[n:])
        x_all, l_all = cnt[pinv], lam[pinv]
        out["repeats"] = np.where(worst_is_src, x_all[:n], x_all[n:]).astype(np.int64)
        out["expected"] = np.where(worst_is_src, l_all[:n], l_all[n:])
        if explain:
            out["explanation"] = _explain(obs, words, out, worst_is_src)
        else:
            out["explanation"] = ""
        return out


def _explain(obs: pd.DataFrame, words: Words, out: pd.DataFrame, worst_src: np.ndarray) -> Any:
    """One sentence per connection, built with column operations."""
    src = obs["src"].astype(str).to_numpy(dtype=object)
    dst = obs["dst"].astype(str).to_numpy(dtype=object)
    dport = pd.to_numeric(obs["dport"], errors="coerce").fillna(-1).astype(np.int64)
    port = np.where(dport.to_numpy() >= 0, ":" + dport.astype(str).to_numpy(dtype=object), "")
    hour = np.char.zfill(words.hour.astype(str), 2).astype(object)
    who = np.where(worst_src, src, dst)
    word = np.where(worst_src, out["src_word"].to_numpy(), out["dst_word"].to_numpy())
    code = out["novelty"].to_numpy()
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
        reps = out["repeats"].to_numpy()[burst].astype(str).astype(object)
        exp_txt = pd.Series(out["expected"].to_numpy()[burst]).map("{:.2g}".format)
        pre[burst] = "occurred " + reps + " times in this window for "
        post[burst] = ", whose profile expects " + exp_txt.to_numpy(dtype=object)
    p = out["part_p"].to_numpy()
    ptxt = pd.Series(p).map("{:.1e}".format).to_numpy(dtype=object)
    text = (
        src
        + " → "
        + dst
        + port
        + " at "
        + hour
        + "h, 2^"
        + words.bytes_bin.astype(str).astype(object)
        + " bytes, 2^"
        + words.pkts_bin.astype(str).astype(object)
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
    return pd.Series(text, index=obs.index, dtype=object)


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
    frame = frame.sort_values(["host", "score"], ascending=[True, False], kind="stable")
    frame = frame[frame.groupby("host", sort=False).cumcount() < top]
    out = frame.groupby("host")["score"].sum() / top
    out = out + np.log10(1.0 + peers.reindex(out.index).fillna(0.0))
    return out.sort_values(ascending=False)


# --------------------------------------------------------------------------------------------
# analyst feedback (benign verdicts re-injected x DUPFACTOR)
# --------------------------------------------------------------------------------------------
def load_feedback(store: Any) -> list[dict[str, Any]]:
    """Benign `(:Feedback)` verdicts from the store (`graphnet/cypher/lda_feedback.cypher`), as
    dicts of their properties."""
    return [dict(r["feedback"]) for r in store.read("lda_feedback")]


def _ip_int(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Host ids -> (integer address, version) via their distinct values; non-IPs get -1/0."""
    codes, uniq = pd.factorize(values.astype(str), sort=False)
    addr = np.full(len(uniq), -1, dtype=object)
    ver = np.zeros(len(uniq), dtype=np.int64)
    for i, u in enumerate(uniq):  # loop over distinct hosts, not rows
        try:
            ip = ipaddress.ip_address(str(u).split("%", 1)[0])
        except ValueError:
            continue
        addr[i] = int(ip)
        ver[i] = ip.version
    return addr[codes], ver[codes]


def _in_net(addr: np.ndarray, ver: np.ndarray, cidr: str) -> np.ndarray:
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return np.zeros(len(addr), dtype=bool)
    lo, hi = int(net.network_address), int(net.broadcast_address)
    ok = ver == net.version
    out = np.zeros(len(addr), dtype=bool)
    idx = np.flatnonzero(ok)
    if idx.size:
        a = addr[idx].astype(object)
        out[idx] = (a >= lo) & (a <= hi)
    return out


def feedback_mask(frame: pd.DataFrame, fb: dict[str, Any]) -> np.ndarray:
    """Which connections a benign verdict covers, by its scope (the scopes of
    graphnet.feedback): `pair` (src -> dst), `src` (everything src initiates), `dst_service`
    (everything to dst), `subnet_pair` (src and dst are subnets, e.g. 10.0.1.0/24), `path`
    (each hop of `hosts`); each optionally narrowed by `port` and/or `service`. Unknown or
    underspecified scopes match nothing (logged)."""
    scope = str(fb.get("scope") or "pair").lower().replace("-", "_")
    n = len(frame)
    none = np.zeros(n, dtype=bool)
    src = frame["src"].astype(str).to_numpy(dtype=object)
    dst = frame["dst"].astype(str).to_numpy(dtype=object)
    m = np.ones(n, dtype=bool)
    if scope == "path":
        hosts = [str(h) for h in fb.get("hosts") or []]
        hops = list(itertools.pairwise(hosts))
        if not hops:
            return none
        m &= pd.MultiIndex.from_arrays([src, dst]).isin(hops)
    elif scope == "subnet_pair":
        if not fb.get("src") or not fb.get("dst"):
            return none
        a, v = _ip_int(frame["src"])
        b, w = _ip_int(frame["dst"])
        m &= _in_net(a, v, str(fb["src"])) & _in_net(b, w, str(fb["dst"]))
    elif scope in ("pair", "src", "dst_service"):
        need = {"pair": ("src", "dst"), "src": ("src",), "dst_service": ("dst",)}[scope]
        if any(not fb.get(k) for k in need):
            return none
        if fb.get("src"):
            m &= src == str(fb["src"])
        if fb.get("dst"):
            m &= dst == str(fb["dst"])
    else:
        log.warning("feedback %s: unknown scope %r, ignored", fb.get("id"), scope)
        return none
    port = fb.get("port")
    if port is not None and str(port) not in ("", "-"):
        try:
            m &= (pd.to_numeric(frame["dport"], errors="coerce") == int(port)).to_numpy()
        except (TypeError, ValueError):
            return none
    svc = fb.get("service")
    if svc not in (None, "", "-"):
        m &= frame["service"].astype(str).to_numpy(dtype=object) == str(svc)
    return m


def feedback_flows(
    frame: pd.DataFrame, feedback: Sequence[dict[str, Any]], dupfactor: int
) -> pd.DataFrame:
    """The connections covered by benign verdicts, with `weight` = dupfactor (each connection
    once, however many verdicts cover it)."""
    if frame.empty or not feedback:
        return frame.iloc[:0].assign(weight=pd.Series(dtype="float64"))
    m = np.zeros(len(frame), dtype=bool)
    for fb in feedback:  # a loop over verdicts; each is one vectorised mask
        m |= feedback_mask(frame, fb)
    return frame[m].assign(weight=float(dupfactor))


# --------------------------------------------------------------------------------------------
# findings and the library entry point
# --------------------------------------------------------------------------------------------
def _browser_query(src: str, dst: str, window: str) -> str:
    return (
        f"MATCH p = (a:Host {{id: {cypher_literal(src)}}})-[r:TALKED]->"
        f"(b:Host {{id: {cypher_literal(dst)}}}) WHERE r.window = {cypher_literal(window)} RETURN p"
    )


def findings_from_scores(
    scored: pd.DataFrame, conns: pd.DataFrame, window: str, settings: LdaSettings
) -> list[Finding]:
    """Top suspicious (src, dst) pairs -> `suspicious_connect` findings (one per pair)."""
    if scored.empty:
        return []
    frame = pd.DataFrame(
        {
            "src": conns["src"].astype(str).to_numpy(),
            "dst": conns["dst"].astype(str).to_numpy(),
            "uid": conns["uid"].astype(str).to_numpy(),
            "ts": conns["ts"].to_numpy(dtype="float64"),
            "dport": pd.to_numeric(conns["dport"], errors="coerce").fillna(-1).to_numpy(),
            "p": scored["part_p"].to_numpy(),
            "score": scored["score"].to_numpy(),
        }
    )
    frame["row"] = np.arange(len(frame))
    frame = frame[frame["p"] < settings.threshold]
    if frame.empty:
        return []
    frame = frame.sort_values(["score", "ts"], ascending=[False, True], kind="stable")
    g = frame.groupby(["src", "dst"], sort=False)
    agg = g.agg(
        row=("row", "first"),
        score=("score", "first"),
        n=("uid", "size"),
        first=("ts", "min"),
        last=("ts", "max"),
        ports=("dport", "nunique"),
    ).reset_index()
    agg = agg.sort_values(["score", "n"], ascending=[False, False], kind="stable")
    agg = agg.head(settings.max_findings)
    kept = frame.merge(agg[["src", "dst"]], on=["src", "dst"])
    kept = kept.groupby(["src", "dst"], sort=False).head(10)
    uids = {k: list(v) for k, v in kept.groupby(["src", "dst"], sort=False)["uid"]}
    total = pd.DataFrame({"src": conns["src"].astype(str), "dst": conns["dst"].astype(str)})
    pair_total = total.groupby(["src", "dst"]).size()
    out = []
    rows = agg.to_dict("records")
    for r in rows:  # one iteration per finding (<= max_findings)
        src, dst, n = str(r["src"]), str(r["dst"]), int(r["n"])
        ports = int(r["ports"])
        srow = scored.iloc[int(r["row"])]
        n_total = int(pair_total.get((src, dst), n))
        expl = str(srow["explanation"])
        if n > 1:
            expl += (
                f"; {n} of {n_total} connections of this pair are below P = {settings.threshold:g}"
            )
            if ports > 1:
                expl += f" (to {ports} ports)"
        worst_src = float(srow["part_p_src"]) <= float(srow["part_p_dst"])
        out.append(
            Finding(
                kind="suspicious_connect",
                window=window,
                score=float(r["score"]),
                hosts=[src, dst],
                explanation=expl,
                parts={
                    "p": float(srow["part_p"]),
                    "p_src": float(srow["part_p_src"]),
                    "p_dst": float(srow["part_p_dst"]),
                    "word": str(srow["src_word"] if worst_src else srow["dst_word"]),
                    "src_word": str(srow["src_word"]),
                    "dst_word": str(srow["dst_word"]),
                    "suspicious_connections": n,
                },
                evidence={
                    "uids": uids.get((src, dst), []),
                    "connections": n_total,
                    "ports": ports,
                    "first": float(r["first"]),
                    "last": float(r["last"]),
                    "variant": settings.variant,
                },
                cypher=_browser_query(src, dst, window),
                detector="lda",
            )
        )
    return out


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


def _feedback_training(
    archive: Archive,
    window: str,
    history: pd.DataFrame,
    feedback: Sequence[dict[str, Any]],
    dupfactor: int,
) -> pd.DataFrame:
    """The re-injected connections of the benign verdicts that apply to `window`."""
    parts = []
    by_window: dict[str, list[dict[str, Any]]] = {}
    for f in feedback:
        if str(f.get("verdict", "benign")) != "benign":
            continue
        ref = str(f.get("window") or "")
        if ref and ref >= window:
            continue  # feedback changes the windows after the one it was given for
        by_window.setdefault(ref, []).append(f)
    for ref, fbs in sorted(by_window.items()):
        pool = history if not ref else archive.connections([ref], CONN_COLUMNS, complete=True)
        got = feedback_flows(pool, fbs, dupfactor)
        if len(got):
            parts.append(got)
    if not parts:
        return history.iloc[:0].assign(weight=pd.Series(dtype="float64"))
    return pd.concat(parts, ignore_index=True)


def fit_window(
    archive: Archive,
    window: str,
    lda: LdaSettings,
    feedback: Sequence[dict[str, Any]] = (),
) -> tuple[SuspiciousConnects, LdaRun, pd.DataFrame]:
    """Fit the detector on the archive windows before `window` (+ feedback re-injection) and
    return it with the window's connections. Without history, fit on the window itself when
    `lda.fallback_self` (Spot's own practice), else raise ValueError."""
    hist_w = archive.history(window, lda.history_days)
    current = archive.connections([window], CONN_COLUMNS, complete=True)
    history = (
        archive.connections(hist_w, CONN_COLUMNS, complete=True) if hist_w else current.iloc[:0]
    )
    fit_on = "history"
    if history.empty:
        if not lda.fallback_self:
            raise ValueError(f"no archive windows before {window} to learn from")
        log.warning("no history before %s: fitting on the window itself (as Spot does)", window)
        history = current
        fit_on = "self"
    if lda.max_train_flows and len(history) > lda.max_train_flows:
        history = history.sample(n=lda.max_train_flows, random_state=lda.seed)
    # benign feedback (Spot's re-injection): the connections of each verdict's reference
    # window that fall in its scope, x DUPFACTOR; verdicts apply to the windows after their
    # reference window; a verdict without a window applies to the training history itself
    fb = _feedback_training(archive, window, history, feedback, lda.dupfactor)
    train = pd.concat([history.assign(weight=1.0), fb], ignore_index=True) if len(fb) else history
    det = SuspiciousConnects(lda).fit(train)
    assert det.model is not None
    run = LdaRun(
        window=window,
        history=hist_w,
        fit_on=fit_on,
        train_flows=len(history),
        feedback_verdicts=len(feedback),
        feedback_flows=len(fb),
        seconds_fit=det.model.seconds,
    )
    return det, run, current


@dataclass
class LdaResult:
    """The window's scored connections (highest first) and how the model was fitted: what
    `graphnet lda` prints."""

    window: str
    scored: pd.DataFrame  # connection columns + score, part_*, words, explanation
    run: LdaRun
    findings: int
    suspicious: int
    alerts_per_day: float

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
            "connections": len(self.scored),
            "suspicious": self.suspicious,
            "alerts_per_day": self.alerts_per_day,
            "run": asdict(self.run),
            "top": json.loads(head.to_json(orient="records")),
            "findings": self.findings,
        }


def _best_explanations(
    scored: pd.DataFrame, conns: pd.DataFrame, hosts: Sequence[str]
) -> dict[str, str]:
    """Per host (as either endpoint): the explanation of its highest-scoring connection."""
    n = len(conns)
    frame = pd.DataFrame(
        {
            "host": np.concatenate(
                [
                    conns["src"].astype(str).to_numpy(object),
                    conns["dst"].astype(str).to_numpy(object),
                ]
            ),
            "v": np.tile(scored["score"].to_numpy(), 2),
            "row": np.tile(np.arange(n), 2),
        }
    )
    frame = frame[frame["host"].isin(set(hosts))].sort_values("v", ascending=False, kind="stable")
    best = frame.drop_duplicates("host")
    ex = scored["explanation"].to_numpy(dtype=object)
    return {str(h): str(ex[r]) for h, r in zip(best["host"], best["row"], strict=True)}


def run(ctx: Context) -> DetectorRun:
    """Score every connection of the window with a model fitted on the earlier windows (with
    the analysts' benign feedback re-injected): per-connection and per-host scores, and the
    top suspicious pairs as `suspicious_connect` findings."""
    lda = ctx.option(LdaSettings) or LdaSettings()
    window = ctx.archive.require(ctx.window)
    feedback = load_feedback(ctx.store) if ctx.store is not None else []
    det, fitted, conns = fit_window(ctx.archive, window, lda, feedback)
    t0 = time.perf_counter()
    scored = det.score(conns)
    fitted.extra["seconds_score"] = time.perf_counter() - t0
    found = findings_from_scores(scored, conns, window, lda)
    hs = host_scores(scored, conns, lda.host_top, lda.threshold)
    low = scored["part_p"].to_numpy() < lda.threshold
    pairs = pd.DataFrame({"s": conns["src"].to_numpy()[low], "d": conns["dst"].to_numpy()[low]})
    alerts = len(pairs.drop_duplicates())
    cols = ("uid", "ts", "src", "dst", "sport", "dport", "proto", "service")
    keep = [c for c in cols if c in conns]
    out = pd.concat([conns[keep].reset_index(drop=True), scored.reset_index(drop=True)], axis=1)
    out = out.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)
    per_day = alerts / windows.span_days(conns, window)
    result = LdaResult(window, out, fitted, len(found), int(low.sum()), per_day)
    return DetectorRun(
        step="lda",
        window=window,
        summary=f"{len(conns):,} connections scored, {int(low.sum()):,} suspicious, "
        f"{len(found)} findings (fitted on {fitted.fit_on})",
        host_scores=hs,
        conn_scores=pd.Series(
            scored["score"].to_numpy(), index=conns["uid"].astype(str).to_numpy()
        ),
        findings=found,
        alerts=float(alerts),
        evidence=_best_explanations(scored, conns, list(hs.index[:50])),
        info={
            "fit_on": fitted.fit_on,
            "history": fitted.history,
            "train_flows": fitted.train_flows,
            "feedback_flows": fitted.feedback_flows,
            "threshold": lda.threshold,
        },
        detail=result,
    )
