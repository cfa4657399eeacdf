"""DNS tunnelling, RITA-class (pure maths: frames in, frames out).

Data sent over DNS has to be written into query names, each query a new name under a domain
the sender controls: per registered domain (`names.registered_domain`: the public suffix by the
public suffix list's ICANN section and one label more, e.g. example.co.uk), the number of
**distinct subdomains** queried in the window is what gives it away (RITA's "DNS tunnelling" /
unique subdomains).
A normal network has domains with many subdomains too (CDNs, cloud services), so the
threshold is learned from the network itself, as graphnet's RITA-class steps learn theirs:
median + k x 1.4826 MAD of ln(distinct subdomains) over the window's domains with a
subdomain (`rita.model.learned_threshold`), never below `floor`. A domain at or above it is a
`dns_tunnel` finding naming the clients that asked for its subdomains (most first); a
client's host score is its own distinct subdomains of such a domain over the threshold.
Reverse-lookup zones are not scored (their "subdomains" are addresses).

`domain_stats` / `client_stats` are the pandas oracles of `graphnet/sql/app_tunnel_*.sql`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from graphnet.detectors.rita.model import learned_threshold


@dataclass(frozen=True)
class TunnelSettings:
    """The knobs of the `dns_tunnel` step (`ctx.option(TunnelSettings)`)."""

    #: ln(distinct subdomains) above median + k x 1.4826 MAD of the window's domains
    k: float = 3.5
    #: and at least this many distinct subdomains of one registered domain in the window
    floor: int = 100
    #: domains reported at most (most distinct subdomains first)
    max_findings: int = 50
    #: a domain this many times over the threshold raises an alert
    alert_ratio: float = 2.0
    #: example query names per (domain, client)
    examples: int = 5


#: the per-domain statistics (`app_tunnel_domains.sql`)
DOMAIN_COLUMNS = (
    "domain",
    "subdomains",
    "queries",
    "clients",
    "txt_null",
    "nxdomain",
    "first_ts",
    "last_ts",
)


def threshold(
    subdomains: np.ndarray, st: TunnelSettings
) -> tuple[float, float | None, float | None]:
    """(threshold, median of ln, MAD of ln) of the window's per-domain distinct subdomains."""
    v = np.asarray(subdomains, dtype="float64")
    v = v[v > 0]
    if v.size == 0:
        return float(st.floor), None, None
    ln = np.log(v)
    med = float(np.median(ln))
    mad = float(np.median(np.abs(ln - med)))
    return learned_threshold(med, mad, st.k, st.floor), med, mad


def score_domains(
    domains: pd.DataFrame, st: TunnelSettings
) -> tuple[pd.DataFrame, dict[str, float | None]]:
    """Each domain's `ratio` (distinct subdomains / the window's threshold), `tunnel` (ratio
    >= 1) and `alert` (ratio >= alert_ratio), most subdomains first; and how the threshold
    was learned."""
    thr, med, mad = threshold(domains["subdomains"].to_numpy(), st)
    out = domains.copy()
    out["ratio"] = out["subdomains"].to_numpy(dtype="float64") / thr
    out["tunnel"] = out["ratio"] >= 1.0
    out["alert"] = out["ratio"] >= st.alert_ratio
    out = out.sort_values(
        ["subdomains", "queries", "domain"], ascending=[False, False, True], kind="stable"
    ).reset_index(drop=True)
    info = {"threshold": thr, "median_ln": med, "mad_ln": mad, "domains": float(len(domains))}
    return out, info


def client_scores(clients: pd.DataFrame, thr: float) -> pd.Series:
    """Per client: its most distinct subdomains of one tunnelling domain over the threshold,
    highest first (rows: domain, src, subdomains)."""
    if clients.empty:
        return pd.Series(dtype="float64")
    ratio = clients["subdomains"].to_numpy(dtype="float64") / max(thr, 1e-9)
    s = pd.Series(ratio, index=clients["src"].astype(str).to_numpy()).groupby(level=0).max()
    return s.sort_values(ascending=False, kind="stable")


def explain(
    domain: pd.Series, clients: pd.DataFrame, info: dict[str, float | None], st: TunnelSettings
) -> str:
    """'10.0.0.5 asked 812 distinct subdomains of example.com (903 queries, 74 % TXT or NULL),
    2 clients in all; the window's threshold is 140 (...)'."""
    top = clients.iloc[0] if len(clients) else None
    who = (
        f"{top['src']} asked {int(top['subdomains']):,} distinct subdomains of {domain['domain']} "
        f"({int(top['queries']):,} queries, "
        f"{100.0 * float(top['txt_null']) / max(float(top['queries']), 1.0):.0f} % TXT or NULL)"
        if top is not None
        else f"{int(domain['subdomains']):,} distinct subdomains of {domain['domain']}"
    )
    return (
        f"{who}; {int(domain['subdomains']):,} distinct subdomains from "
        f"{int(domain['clients']):,} client(s) in all, {float(domain['ratio']):.1f} x the "
        f"window's threshold of {float(info['threshold'] or st.floor):.0f} (median + "
        f"{st.k:g} x 1.4826 MAD of ln(distinct subdomains) over its "
        f"{int(info['domains'] or 0):,} domains with subdomains, at least {st.floor})"
    )


# ------------------------------------------------------------------------- pandas oracles
def _joined(dns: pd.DataFrame, names: pd.DataFrame) -> pd.DataFrame:
    q = dns["query"].astype(object).where(dns["query"].notna(), "-").astype(str)
    p = names.set_index("query").reindex(q.to_numpy())
    f = pd.DataFrame(
        {
            "domain": p["reg"].to_numpy(),
            "sub": p["sub"].to_numpy(),
            "rev": p["rev"].to_numpy(),
            "src": dns["src"].astype(str).to_numpy(),
            "dst": dns["dst"].astype(str).to_numpy(),
            "ts": dns["ts"].to_numpy(dtype="float64"),
            "tn": dns["qtype_name"].isin(["TXT", "NULL"]).to_numpy().astype(np.int64),
            "nx": (dns["rcode_name"] == "NXDOMAIN").to_numpy().astype(np.int64),
        }
    )
    return f[(f["sub"] != "") & (f["rev"] == 0)]


def domain_stats(dns: pd.DataFrame, names: pd.DataFrame) -> pd.DataFrame:
    """`app_tunnel_domains.sql` in pandas: per registered domain (names: `dns_name_parts`)."""
    f = _joined(dns, names)
    g = f.groupby("domain")
    out = pd.DataFrame(
        {
            "subdomains": g["sub"].nunique(),
            "queries": g.size(),
            "clients": g["src"].nunique(),
            "txt_null": g["tn"].sum(),
            "nxdomain": g["nx"].sum(),
            "first_ts": g["ts"].min(),
            "last_ts": g["ts"].max(),
        }
    ).reset_index()
    return out[list(DOMAIN_COLUMNS)]


def client_stats(dns: pd.DataFrame, names: pd.DataFrame, domains: list[str]) -> pd.DataFrame:
    """`app_tunnel_clients.sql` in pandas, without the examples: per (domain, client)."""
    f = _joined(dns, names)
    f = f[f["domain"].isin(domains)]
    g = f.groupby(["domain", "src"])
    return pd.DataFrame(
        {
            "subdomains": g["sub"].nunique(),
            "queries": g.size(),
            "txt_null": g["tn"].sum(),
            "servers": g["dst"].nunique(),
            "first_ts": g["ts"].min(),
            "last_ts": g["ts"].max(),
        }
    ).reset_index()
