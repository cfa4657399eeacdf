"""Spot's words for DNS queries and web requests, in pandas (the pure layer and the oracle of
`graphnet/sql/app_dns_views.sql` / `app_http_views.sql`, which build the same words in SQL).

DNS (Spot's `DNSWordCreation.dnsWord`), one word per query, the document is the client:

    top_frameBin_hour_subLenBin_entropyBin_periodsBin_qtype_rcode

- `top`: Spot's `topDomain` class of the name's domain (2 the user's own, 1 a top domain, 0);
- `frameBin`: floor log2 of the response's frame length. Zeek's dns.log has no frame length,
  so graphnet estimates the response frame from the record: 60 bytes of Ethernet, IP, UDP and
  DNS headers with the question's type and class, the name, and for each answer 12 bytes plus
  its text (`frame_length`);
- `hour`: the hour of day (UTC) of the query;
- `subLenBin`, `entropyBin`, `periodsBin`: from the name (`names.dns_name_parts`);
- `qtype`, `rcode`: Zeek's names of the query type and response code (Spot: their numbers;
  the same categories), `-` when no response was seen.

Web requests (Spot's `ProxyWordCreation.proxyWord`), one word per request, document the client:

    top_hour_method_uriEntropyBin_contentType_agentBin_uriLengthBin_status

- `agentBin`: floor log2 of how often the request's user agent occurs. Spot counts the
  agents of the records at hand: the training records when it fits, the scored ones when it
  scores (`variant="spot"`). graphnet (`variant="graphnet"`) counts them in the training
  records for both, and gives an agent never seen there the bin `new` (Spot's counts put it
  in bin 0 with every agent seen once); the coarse word (the back-off order of unseen
  words) holds the agent bin too, so that requests with a never-seen agent rank below every
  word with a known one;
- `contentType`: the top-level type of the first response MIME type (`-` when none).

graphnet uses floor(log2(x)) exactly where Spot divides two base-10 logarithms (which puts some
exact powers of two one bin lower).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from graphnet.detectors.applogs.names import (
    agent_bins,
    content_top,
    dns_name_parts,
    host_parts,
    uri_parts,
)

#: the normalised dns table's columns (agreed with the readers of dns.log)
DNS_COLUMNS = (
    "ts",
    "uid",
    "src",
    "sport",
    "dst",
    "dport",
    "proto",
    "query",
    "qtype_name",
    "rcode_name",
    "answers",
    "rejected",
    "sensor",
    "line",
)
#: the normalised http table's columns (agreed with the readers of http.log)
HTTP_COLUMNS = (
    "ts",
    "uid",
    "src",
    "sport",
    "dst",
    "dport",
    "method",
    "host",
    "uri",
    "referrer",
    "user_agent",
    "request_body_len",
    "response_body_len",
    "status_code",
    "resp_mime_types",
    "sensor",
    "line",
)
#: the fixed part of a response frame: Ethernet 14, IPv4 20, UDP 8, DNS header 12, the
#: question's length octets, terminator, type and class 6
FRAME_BASE = 60
#: per answer record beyond its text: name pointer, type, class, TTL, length
ANSWER_BASE = 12


def _text(frame: pd.DataFrame, col: str) -> np.ndarray:
    return frame[col].astype(object).where(frame[col].notna(), "-").astype(str).to_numpy(object)


def hours(ts: pd.Series) -> np.ndarray:
    """The hour of day (UTC) of epoch seconds, 0 when unknown."""
    t = np.nan_to_num(pd.to_numeric(ts, errors="coerce").to_numpy("float64"), nan=0.0)
    return (np.floor(t / 3600.0) % 24).astype(np.int64)


def frame_length(query: np.ndarray, answers: np.ndarray) -> np.ndarray:
    """The estimated response frame length of each DNS record (see the module docstring)."""
    q = pd.Series(query, dtype=object).astype(str)
    a = pd.Series(answers, dtype=object).astype(str)
    none = a.isin(["-", "", "(empty)"])
    commas = a.str.count(",")
    n_ans = np.where(none, 0, commas + 1)
    ans_len = np.where(none, 0, a.str.len() - commas)
    return (FRAME_BASE + q.str.len().to_numpy() + ANSWER_BASE * n_ans + ans_len).astype(np.int64)


def log2_floor_array(x: np.ndarray) -> np.ndarray:
    """floor(log2(x)) of non-negative integers, 0 for 0 (exact: the bit length less one)."""
    v = np.maximum(np.asarray(x, dtype=np.int64), 0)
    out = np.zeros(v.shape, dtype=np.int64)
    pos = v >= 1
    out[pos] = np.floor(np.log2(v[pos].astype("float64"))).astype(np.int64)
    # correct floating error at the edges of powers of two
    low = pos & ((np.int64(1) << out) > v)
    out[low] -= 1
    high = pos & ((np.int64(1) << (out + 1)) <= v)
    out[high] += 1
    return out


@dataclass
class DnsWords:
    """Spot's DNS words (`variant` "spot": Spot's domain rule; "graphnet": registered
    domains), with Spot's `top_domains` list (none by default: every domain but the user's is
    class 0) and the user's own domain."""

    variant: str = "spot"
    top_domains: frozenset[str] = frozenset()
    user_domain: str = ""

    def learn(self, history: pd.DataFrame) -> None:
        """Nothing of a DNS word is learned from the training records."""

    def scoring(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The words of scored records (the same as of training records)."""
        return self.words(frame)

    def names(self, queries: Iterable[str]) -> pd.DataFrame:
        return dns_name_parts(
            queries,
            variant=self.variant,
            top_domains=self.top_domains,
            user_domain=self.user_domain,
        )

    def words(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(word, coarse word) per record; the coarse word (top_qtype_rcode) is what the
        back-off of unseen words is ordered by."""
        query = _text(frame, "query")
        parts = self.names(pd.unique(query)).set_index("query")
        p = parts.reindex(query)
        fb = log2_floor_array(frame_length(query, _text(frame, "answers")))
        qt, rc = _text(frame, "qtype_name"), _text(frame, "rcode_name")
        top = p["top"].to_numpy().astype(str).astype(object)
        word = (
            top
            + "_"
            + fb.astype(str).astype(object)
            + "_"
            + hours(frame["ts"]).astype(str).astype(object)
            + "_"
            + p["sub_len"].to_numpy().astype(str).astype(object)
            + "_"
            + p["ent_bin"].to_numpy().astype(str).astype(object)
            + "_"
            + p["periods"].to_numpy().astype(str).astype(object)
            + "_"
            + qt
            + "_"
            + rc
        )
        return np.asarray(word, dtype=object), np.asarray(top + "_" + qt + "_" + rc, dtype=object)


@dataclass
class HttpWords:
    """Spot's proxy words; `learn` counts the user agents of the training requests."""

    variant: str = "graphnet"
    top_domains: frozenset[str] = frozenset()
    user_domain: str = ""
    agents: pd.Series = field(default_factory=lambda: pd.Series(dtype="int64"))

    def learn(self, history: pd.DataFrame) -> None:
        self.agents = pd.Series(_text(history, "user_agent")).value_counts()

    def scoring(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The words of scored records: Spot counts the agents of the scored records."""
        if self.variant != "spot":
            return self.words(frame)
        trained = self.agents
        self.learn(frame)
        try:
            return self.words(frame)
        finally:
            self.agents = trained

    def words(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        uri = _text(frame, "uri")
        host = _text(frame, "host")
        up = uri_parts(pd.unique(uri)).set_index("uri").reindex(uri)
        hp = host_parts(
            pd.unique(host), top_domains=self.top_domains, user_domain=self.user_domain
        ).set_index("host")
        top = hp["top"].reindex(host).to_numpy().astype(str).astype(object)
        ua = _text(frame, "user_agent")
        counts = self.agents.reindex(pd.unique(ua)).fillna(0)
        bins = agent_bins(counts).astype(str)
        if self.variant != "spot":
            bins = bins.where(counts > 0, "new")
        ua_bin = bins.reindex(ua).to_numpy().astype(object)
        method = _text(frame, "method")
        ctype = pd.Series(_text(frame, "resp_mime_types")).map(content_top).to_numpy(object)
        code = pd.to_numeric(frame["status_code"], errors="coerce").to_numpy("float64")
        known = np.isfinite(code)
        status = np.full(len(frame), "-", dtype=object)
        status[known] = code[known].astype(np.int64).astype(str)
        word = (
            top
            + "_"
            + hours(frame["ts"]).astype(str).astype(object)
            + "_"
            + method
            + "_"
            + up["ent_bin"].to_numpy().astype(str).astype(object)
            + "_"
            + ctype
            + "_"
            + ua_bin
            + "_"
            + up["len_bin"].to_numpy().astype(str).astype(object)
            + "_"
            + status
        )
        coarse = top + "_" + method + "_" + ctype + "_" + status
        if self.variant != "spot":
            coarse = coarse + "_" + ua_bin
        return np.asarray(word, dtype=object), np.asarray(coarse, dtype=object)
