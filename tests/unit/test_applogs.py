"""The pure layer of the DNS/proxy suspicious connects and the DNS tunnelling detector:
Spot's name rules, entropy and bins, the words, the tunnelling threshold and scores, on
hand-written values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from graphnet import features
from graphnet.detectors.applogs import names as N
from graphnet.detectors.applogs import tunnel as T
from graphnet.detectors.applogs.model import SpotLogModel
from graphnet.detectors.applogs.words import (
    DnsWords,
    HttpWords,
    frame_length,
    log2_floor_array,
)
from graphnet.detectors.lda.model import LdaSettings


# ----------------------------------------------------------------------------- names
@pytest.mark.parametrize(
    ("name", "domain", "sub"),
    [
        ("www.example.com", "example", "www"),
        ("www.example.com.", "example", "www"),  # Scala's split drops the trailing label
        ("a.b.example.com", "example", "a.b"),
        ("example.com", "example", "None"),
        ("x.example.com.au", "example", "x"),  # country code, then the generic label
        ("x.example.co.uk", "co", "x.example"),  # Spot's rule: co is not a generic label
        ("x.example.de", "example", "x"),
        ("x.example.io", "example", "x"),  # io is a country code
        ("x.example.xyz", "None", "None"),  # neither: no domain
        ("4.3.2.10.in-addr.arpa", "None", "None"),
        ("com", "None", "None"),
        ("", "None", "None"),
    ],
)
def test_spot_domain_rule(name: str, domain: str, sub: str) -> None:
    assert N.spot_domain(name) == (domain, sub)


@pytest.mark.parametrize(
    ("name", "reg", "sub"),
    [
        ("www.example.com", "example.com", "www"),
        ("A.B.Example.COM.", "example.com", "a.b"),
        ("example.com", "example.com", ""),
        ("x.y.example.co.uk", "example.co.uk", "x.y"),
        ("example.co.uk", "example.co.uk", ""),
        ("q.x.example.xyz", "example.xyz", "q.x"),
        ("4.3.2.10.in-addr.arpa", "2.10.in-addr.arpa", "4.3"),
        ("b.a.9.8.ip6.arpa", "9.8.ip6.arpa", "b.a"),
        ("localhost", "localhost", ""),
        # the public suffix list where the earlier heuristic (last two labels, three under a
        # country code's co/com/gov/...) was wrong
        ("a.b.example.com.au", "example.com.au", "a.b"),
        ("www.example.gouv.fr", "example.gouv.fr", "www"),  # heuristic: gouv.fr
        ("a.school.k12.ca.us", "school.k12.ca.us", "a"),  # heuristic: ca.us
        ("www.city.kawasaki.jp", "city.kawasaki.jp", "www"),  # !city.kawasaki.jp
        ("a.b.c.kawasaki.jp", "b.c.kawasaki.jp", "a"),  # *.kawasaki.jp
        ("x.kawasaki.jp", "x.kawasaki.jp", ""),  # a public suffix itself: itself
        ("co.uk", "co.uk", ""),
        ("www.example.xn--p1ai", "example.xn--p1ai", "www"),  # .рф, punycode
        ("www.example.рф", "example.рф", "www"),
        # the ICANN section only: private suffixes (github.io, blogspot.com) are not suffixes
        ("foo.github.io", "github.io", "foo"),
        ("a.b.blogspot.com", "blogspot.com", "a.b"),
        # an unknown last label counts as a public suffix
        ("x.corp.internal", "corp.internal", "x"),
    ],
)
def test_registered_domain(name: str, reg: str, sub: str) -> None:
    assert N.registered_domain(name) == (reg, sub)
    assert N.is_reverse(reg) == reg.endswith(("in-addr.arpa", "ip6.arpa"))


@pytest.mark.parametrize("name", [None, "", ".", "..", "  "])
def test_registered_domain_of_nothing_is_none(name: str | None) -> None:
    assert features.registered_domain(name) is None


_label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=8)
_suffix = st.sampled_from(
    ["com", "co.uk", "com.au", "kawasaki.jp", "github.io", "in-addr.arpa", "xyz", "nosuchtld"]
)


@given(st.lists(_label, min_size=0, max_size=5), _suffix, _label)
def test_registered_domain_properties(labels: list[str], suffix: str, extra: str) -> None:
    """Whatever the name: its registered domain is a trailing run of its labels; it is its
    own registered domain; a name below a registrable domain keeps that domain whatever is
    prepended."""
    name = ".".join([*labels, suffix])
    reg = features.registered_domain(name)
    assert reg is not None
    assert name == reg or name.endswith("." + reg)
    assert features.registered_domain(reg) == reg
    if reg != name:  # the name has a subdomain: more labels in front change nothing
        assert features.registered_domain(f"{extra}.{name}") == reg
        assert features.registered_domain(f"{name.upper()}.") == reg


def test_entropy_and_bins_follow_spot() -> None:
    assert N.entropy("abcdefg") == pytest.approx(2.807354922057604)  # Spot's own unit test
    assert N.entropy("") == 0.0 and N.entropy("aaaa") == 0.0
    assert N.entropy("ab") == pytest.approx(1.0)
    assert len(N.ENTROPY_CUTS) == 20 and N.ENTROPY_CUTS[-2] == 5.4
    assert [N.entropy_bin(x) for x in (0.0, 0.3, 0.31, 1.0, 5.4, 5.41, 9.0)] == [
        0, 1, 2, 4, 18, 19, 19,
    ]  # fmt: skip
    assert [N.log2_floor(x) for x in (0, 0.5, 1, 2, 3, 7, 8, 1023, 1024)] == [
        0, 0, 0, 1, 1, 2, 3, 9, 10,
    ]  # fmt: skip
    assert N.content_top("text/html,image/png") == "text" and N.content_top("-") == "-"


@given(st.lists(st.integers(min_value=0, max_value=2**40), max_size=50))
def test_log2_floor_array_is_exact(xs: list[int]) -> None:
    got = log2_floor_array(np.array(xs, dtype=np.int64))
    assert got.tolist() == [max(x.bit_length() - 1, 0) for x in xs]


def test_name_parts_of_a_tunnel_name() -> None:
    sub = "mfrggzdfmztwq2lknnwg23tpobyxe43uov3ho6dzpjqwe"
    parts = N.dns_name_parts(
        [f"{sub}.t.example.com", "www.example.com", "corp.mine.com"],
        top_domains={"example"},
        user_domain="mine",
    ).set_index("query")
    r = parts.loc[f"{sub}.t.example.com"]
    assert r["top"] == 1 and r["sub_len"] == N.log2_floor(len(sub) + 2)
    assert r["ent_bin"] == N.entropy_bin(N.entropy(sub + ".t"))
    assert r["periods"] == 2  # floor(log2(4 labels))
    assert (r["reg"], r["sub"], r["rev"]) == ("example.com", f"{sub}.t", 0)
    assert parts.loc["corp.mine.com", "top"] == 2
    assert parts.loc["www.example.com", "ent_bin"] == N.entropy_bin(N.entropy("www"))
    graphnet = N.dns_name_parts(["a.b.example.xyz"], variant="graphnet").iloc[0]
    spot = N.dns_name_parts(["a.b.example.xyz"], variant="spot").iloc[0]
    assert graphnet["sub_len"] == 1 and spot["sub_len"] == 0  # Spot knows no xyz


def test_frame_length_estimate() -> None:
    got = frame_length(
        np.array(["example.com", "example.com", "a.example.com"], dtype=object),
        np.array(["-", "1.2.3.4", "1.2.3.4,5.6.7.8"], dtype=object),
    )
    assert got.tolist() == [60 + 11, 60 + 11 + 12 + 7, 60 + 13 + 24 + 14]


# ----------------------------------------------------------------------------- words
def dns_frame(rows: list[tuple[float, str, str, str, str, str]]) -> pd.DataFrame:
    ts, src, query, qtype, rcode, answers = (list(c) for c in zip(*rows, strict=True))
    n = len(rows)
    return pd.DataFrame(
        {"ts": ts, "uid": [f"D{i}" for i in range(n)], "src": src, "sport": 5000,
         "dst": "10.0.0.53", "dport": 53, "proto": "udp", "query": query, "qtype_name": qtype,
         "rcode_name": rcode, "answers": answers, "rejected": False, "sensor": "-",
         "line": range(1, n + 1)}
    )  # fmt: skip


def test_dns_word_parts_in_spot_order() -> None:
    f = dns_frame([(3600.0 * 13 + 5, "10.0.0.9", "www.example.com", "A", "NOERROR", "1.2.3.4")])
    word, coarse = DnsWords().words(f)
    fb = N.log2_floor(60 + 15 + 12 + 7)
    assert word[0] == f"0_{fb}_13_1_{N.entropy_bin(N.entropy('www'))}_1_A_NOERROR"
    assert coarse[0] == "0_A_NOERROR"


def http_frame(rows: list[tuple[float, str, str, str, str, str, int, str]]) -> pd.DataFrame:
    ts, src, method, host, uri, ua, status, mime = (list(c) for c in zip(*rows, strict=True))
    n = len(rows)
    return pd.DataFrame(
        {"ts": ts, "uid": [f"H{i}" for i in range(n)], "src": src, "sport": 5000,
         "dst": "93.184.216.34", "dport": 80, "method": method, "host": host, "uri": uri,
         "referrer": "-", "user_agent": ua, "request_body_len": 0.0,
         "response_body_len": 10.0, "status_code": status, "resp_mime_types": mime,
         "sensor": "-", "line": range(1, n + 1)}
    )  # fmt: skip


def test_http_agent_bins_spot_and_graphnet() -> None:
    train = http_frame(
        [(0.0, "10.0.0.1", "GET", "www.example.com", "/", "A", 200, "text/html")] * 5
    )
    obs = http_frame(
        [(3600.0, "10.0.0.1", "GET", "www.example.com", "/", "A", 200, "text/html,image/png"),
         (3600.0, "10.0.0.2", "POST", "x.example.com", "/g.php?id=1", "Z", 404, "-")]
    )  # fmt: skip
    g = HttpWords()
    g.learn(train)
    w, c = g.scoring(obs)
    ent = N.entropy_bin(N.entropy("/"))
    assert w[0] == f"0_1_GET_{ent}_text_2_0_200"  # "A" five times in training: bin 2
    assert w[1].split("_")[5] == "new" and c[1].endswith("_new")
    s = HttpWords(variant="spot")
    s.learn(train)
    w, c = s.scoring(obs)  # Spot: the scored records' own counts
    assert w[0].split("_")[5] == "0" and w[1].split("_")[5] == "0" and c[1] == "0_POST_-_404"


def test_model_scores_the_odd_record_highest() -> None:
    rng = np.random.default_rng(0)
    normal = [(float(rng.integers(8, 18)) * 3600, f"10.0.0.{i % 5}", f"www.s{i % 7}.com", "A",
               "NOERROR", "1.2.3.4") for i in range(400)]  # fmt: skip
    model = SpotLogModel(DnsWords(), LdaSettings(topics=3, max_iter=10)).fit(dns_frame(normal))
    odd = (3 * 3600.0, "10.0.0.1", "k3j9qv7apd0zmxwq2y8n3b5.x.com", "TXT", "NOERROR", "-")
    obs = dns_frame([*normal[:20], odd])
    out = SpotLogModel.check_scores(model.score(obs), obs)
    assert int(out["score"].to_numpy().argmax()) == 20
    assert "never seen in training" in out["explanation"].iloc[20]


# ----------------------------------------------------------------------------- tunnel
def test_tunnel_threshold_is_learned_with_a_floor() -> None:
    s = T.TunnelSettings(k=3.0, floor=50)
    thr, med, mad = T.threshold(np.array([1, 2, 3, 4, 5, 0]), s)
    assert thr == 50.0 and med == pytest.approx(math.log(3))
    spread = np.exp(np.linspace(0, 6, 101))  # ln values 0..6: median 3, MAD 1.5
    thr, med, mad = T.threshold(spread, s)
    assert med == pytest.approx(3.0) and mad == pytest.approx(1.5)
    assert thr == pytest.approx(math.exp(3.0 + 3.0 * 1.4826 * 1.5))
    assert T.threshold(np.array([]), s)[0] == 50.0


def test_tunnel_domains_and_clients() -> None:
    rows = [(1.0, "10.0.0.7", f"{i:04x}q.t.bad.com", "TXT", "NOERROR", "x") for i in range(150)]
    rows += [(2.0, "10.0.0.8", f"{i}.cdn.good.co.uk", "A", "NOERROR", "-") for i in range(30)]
    rows += [(3.0, "10.0.0.8", f"{i}.1.10.in-addr.arpa", "PTR", "NOERROR", "-") for i in range(200)]
    rows += [(4.0, "10.0.0.9", "bad.com", "A", "NXDOMAIN", "-")]
    rows += [(5.0, "10.0.0.9", f"w{j % 2}.site{j}.org", "A", "NOERROR", "-") for j in range(40)]
    f = dns_frame(rows)
    names = N.dns_name_parts(f["query"])
    d = T.domain_stats(f, names).set_index("domain")
    assert "10.in-addr.arpa" not in d.index  # reverse zones and bare names are left out
    assert len(d) == 42 and d.loc["good.co.uk", "subdomains"] == 30
    assert d.loc["bad.com", "subdomains"] == 150 and d.loc["bad.com", "txt_null"] == 150
    scored, info = T.score_domains(d.reset_index(), T.TunnelSettings(floor=100))
    assert scored["domain"].tolist()[0] == "bad.com" and bool(scored["tunnel"].iloc[0])
    assert not bool(scored["tunnel"].iloc[1]) and info["threshold"] == 100.0
    c = T.client_stats(f, names, ["bad.com"])
    hs = T.client_scores(c, 100.0)
    assert hs.to_dict() == {"10.0.0.7": 1.5}
    text = T.explain(scored.iloc[0], c, info, T.TunnelSettings(floor=100))
    assert text.startswith("10.0.0.7 asked 150 distinct subdomains of bad.com")


def test_the_steps_are_ready_for_the_registry() -> None:
    from graphnet.detectors.applogs import STEPS
    from graphnet.findings import KINDS

    assert [s.name for s in STEPS] == ["suspicious_dns", "suspicious_http", "dns_tunnel"]
    assert all(s.kind == s.name and s.kind in KINDS and s.detector for s in STEPS)
