"""Query names, URIs and user agents taken apart (pure: strings in, arrays out).

Everything here works on *distinct* values (a window holds far fewer distinct query names,
URIs and user agents than records); the steps compute these parts once per distinct value in
Python and hand them to the engine as lookup tables, which joins them to the records
(`graphnet/sql/app_*.sql`).

- `spot_domain`: Apache Spot's `DomainProcessor.extractDomainSubdomain`, exactly: a name whose
  last label is a country code or one of com, org, net, int, edu, gov, mil (and that is not
  under in-addr.arpa) loses its country code, then its generic top-level label; the last label
  left is the domain, the labels before it the subdomain. Other names have neither ("None").
- `registered_domain`: the registered domain (`features.registered_domain`, the graph's
  `Domain` names: the public suffix by the public suffix list's ICANN section and one label
  more, e.g. example.co.uk) and the subdomain before it; what the tunnelling detector and
  graphnet's variant of the DNS words use (Spot's rule leaves `*.io`, `*.xyz`, ... without a
  subdomain, and takes `co` for the domain of `x.example.co.uk`).
- `entropy`: Shannon entropy in bits of a string's characters (Spot's `Entropy.stringEntropy`).
- `log2_floor` / `entropy_bin`: Spot's `MathUtils.logBaseXInt(x, 2)` and
  `MathUtils.bin(x, EntropyCuts)`.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from graphnet import features

#: Spot's country codes (DomainProcessor.CountryCodes, as published)
COUNTRY_CODES = frozenset(
    """ac ad ae af ag ai al am an ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bm bn bo
    bq br bs bt bv bw by bz ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj dk dm
    do dz ec ee eg eh er es et eu fi fj fk fm fo fr ga gb gd ge gf gg gh gi gl gm gn gp gq gr gs
    gt gu gw gy hk hm hn hr ht hu id ie il im in io iq ir is it je jm jo jp ke kg kh ki km kn kp
    kr krd kw ky kz la lb lc li lk lr ls lt lu lv ly ma mc md me mg mh mk ml mm mn mo mp mq mr ms
    mt mu mv mw mx my mz na nc ne nf ng ni nl no np nr nu nz om pa pe pf pg ph pk pl pm pn pr ps
    pt pw py qa re ro rs ru rw sa sb sc sd se sg sh si sj sk sl sm sn so sr ss st su sv sx sy sz
    tc td tf tg th tj tk tl tm tn to tp tr tt tv tw tz ua ug uk us uy uz va vc ve vg vi vn vu wf
    ws ye yt za zm zw""".split()
)
#: Spot's generic top-level names (DomainProcessor.TopLevelDomainNames)
GENERIC_TLDS = frozenset({"com", "org", "net", "int", "edu", "gov", "mil"})
#: Spot's entropy cut points (ProxySuspiciousConnectsModel.EntropyCuts): 0.0, 0.3, ... 5.4, +inf
ENTROPY_CUTS = (*(round(0.3 * i, 1) for i in range(19)), math.inf)
#: reverse-lookup zones: their names are addresses, not subdomains anyone chose
REVERSE_ZONES = ("in-addr.arpa", "ip6.arpa")
NONE = "None"  # Spot's value for a missing domain or subdomain
#: the columns of `dns_name_parts`
DNS_NAME_COLUMNS = ("query", "top", "sub_len", "ent_bin", "periods", "reg", "sub", "rev")


def _labels(name: str) -> list[str]:
    n = str(name).strip().lower().rstrip(".")
    return n.split(".") if n else [""]


def spot_split(name: str) -> list[str]:
    """The labels of a name as Spot's Scala `url.split('.')` gives them: trailing empty
    labels dropped (a trailing dot does not count), an empty name one empty label."""
    parts = str(name).split(".")
    while len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if parts == [""] * len(parts):
        return [""]
    return parts


def spot_domain(name: str) -> tuple[str, str]:
    """(domain, subdomain) by Spot's rule; "None" for what is missing."""
    parts = spot_split(name)  # Spot splits the name as logged
    n = len(parts)
    domain, sub = NONE, NONE
    if (
        n >= 2
        and not (n > 2 and parts[-1] == "arpa" and parts[-2] == "in-addr")
        and (parts[-1] in COUNTRY_CODES or parts[-1] in GENERIC_TLDS)
    ):
        rest = parts[:-1] if parts[-1] in COUNTRY_CODES else parts
        if rest and rest[-1] in GENERIC_TLDS:
            rest = rest[:-1]
        if rest:
            domain = rest[-1]
            if len(rest) > 1:
                sub = ".".join(rest[:-1])
    return domain, sub


def registered_domain(name: str) -> tuple[str, str]:
    """(registered domain, subdomain before it; "" when none), lower case, trailing dot
    dropped: the registered domain is `features.registered_domain`'s, the one the graph's
    `Domain` nodes are named by (the public suffix list's ICANN section and one label more,
    such as example.co.uk; reverse lookups: the zone with two address labels)."""
    labels = _labels(name)
    reg = features.registered_domain(".".join(labels)) or ""
    k = reg.count(".") + 1 if reg else 0
    return reg, ".".join(labels[:-k]) if len(labels) > k else ""


def is_reverse(domain: str) -> bool:
    return any(domain == z or domain.endswith("." + z) for z in REVERSE_ZONES)


def entropy(text: str) -> float:
    """Shannon entropy (bits) of the characters of `text`; 0 for an empty string."""
    n = len(text)
    if n == 0:
        return 0.0
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def log2_floor(x: float) -> int:
    """Spot's `logBaseXInt(x, 2)`: floor(log2(x)) for x >= 1, 0 for x = 0 (and below 1)."""
    if not x or x < 1 or not math.isfinite(x):
        return 0
    return int(x).bit_length() - 1 if float(x).is_integer() else int(math.log2(x))


def entropy_bin(h: float) -> int:
    """Spot's `MathUtils.bin(h, EntropyCuts)`: the index of the first cut >= h (-1 for none:
    NaN)."""
    i = bisect.bisect_left(ENTROPY_CUTS, h)
    return i if i < len(ENTROPY_CUTS) and h <= ENTROPY_CUTS[i] else -1


def dns_name_parts(
    names: Iterable[str],
    *,
    variant: str = "spot",
    top_domains: Sequence[str] | frozenset[str] = frozenset(),
    user_domain: str = "",
) -> pd.DataFrame:
    """Per distinct query name, the parts of Spot's DNS word that come from the name, and its
    registered domain (for the tunnelling detector):

    `query`, `top` (2 the user's own domain, 1 one of `top_domains`, 0 else: Spot's
    `topDomain` class), `sub_len` (floor log2 of the subdomain's length), `ent_bin` (the
    subdomain's entropy binned at `ENTROPY_CUTS`), `periods` (floor log2 of the number of
    labels of the whole name, Spot's `numPeriods`), `reg` and `sub` (`registered_domain`) and
    `rev` (1 for a name in a reverse-lookup zone).

    With `variant="spot"` the domain and subdomain are Spot's (`spot_domain`); with
    "graphnet" they are the registered domain's (first label of the registered domain, the
    subdomain before it)."""
    tops = frozenset(top_domains)
    bins: dict[str, int] = {NONE: entropy_bin(0.0)}  # entropy bin per distinct subdomain
    cols: dict[str, list[object]] = {c: [] for c in DNS_NAME_COLUMNS}
    for q in dict.fromkeys(str(x) for x in names):
        reg, rsub = registered_domain(q)
        if variant == "spot":
            domain, sub = spot_domain(q)
        else:
            domain, sub = reg.split(".")[0], (rsub or NONE)
        ent = bins.get(sub)
        if ent is None:
            ent = bins[sub] = entropy_bin(entropy(sub))
        cols["query"].append(q)
        cols["top"].append(
            2 if user_domain and domain == user_domain else 1 if domain in tops else 0
        )
        cols["sub_len"].append(log2_floor(len(sub)) if sub != NONE else 0)
        cols["ent_bin"].append(ent)
        cols["periods"].append(log2_floor(len(spot_split(q))))
        cols["reg"].append(reg)
        cols["sub"].append(rsub)
        cols["rev"].append(int(is_reverse(reg)))
    out = pd.DataFrame(cols, columns=list(DNS_NAME_COLUMNS))
    for c in ("top", "sub_len", "ent_bin", "periods", "rev"):
        out[c] = out[c].astype(np.int64)
    return out


def uri_parts(uris: Iterable[str]) -> pd.DataFrame:
    """Per distinct URI: `ent_bin` (Spot's entropy bin of the whole URI) and `len_bin` (floor
    log2 of its length, Spot's `logBaseXInt(uri.length, 2)`)."""
    rows = [(u, entropy_bin(entropy(u)), log2_floor(len(u))) for u in dict.fromkeys(map(str, uris))]
    out = pd.DataFrame(rows, columns=["uri", "ent_bin", "len_bin"])
    return out.astype({"ent_bin": np.int64, "len_bin": np.int64})


def host_parts(
    hosts: Iterable[str],
    *,
    top_domains: Sequence[str] | frozenset[str] = frozenset(),
    user_domain: str = "",
) -> pd.DataFrame:
    """Per distinct requested host: Spot's `topDomain` class of its domain (2 the user's own,
    1 a top domain, 0 else; the domain by Spot's rule)."""
    tops = frozenset(top_domains)
    rows = []
    for h in dict.fromkeys(map(str, hosts)):
        d = spot_domain(h.split(":")[0])[0]
        rows.append((h, 2 if user_domain and d == user_domain else 1 if d in tops else 0))
    return pd.DataFrame(rows, columns=["host", "top"]).astype({"top": np.int64})


def agent_bins(counts: pd.Series) -> pd.Series:
    """Spot's user-agent frequency bin: floor log2 of how often the agent occurs (in
    training); 0 for an agent never seen."""
    return counts.map(lambda c: log2_floor(float(c))).astype(np.int64)


def content_top(mime: str) -> str:
    """The top-level content type of the first of Zeek's `resp_mime_types` ("text/html" ->
    "text"; "-" stays "-"), Spot's `contentType.split('/')(0)`."""
    first = str(mime).split(",")[0]
    return first.split("/")[0]
