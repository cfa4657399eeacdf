"""First-time behaviour of a host: what it does in the window that it (or its peers) never did.

The LDA, volume and fingerprint detectors look at connections, buckets and pairs; a small
intrusion step is a handful of connections that look ordinary one by one. What gives it away is
that the *originator* does something for the first time. Learned from the archive windows
before the scored one (`history_days`, default 28), every connection the host originated in
the window is checked for five kinds of first time (an **answered** connection: its responder
replied — Zeek states SF, S1-S3, RSTO, RSTR, the unknown state `-` of flow records, or a
reply packet; failed probes (S0, REJ, RSTOS0, SH) never do):

- `new_host` (weight 2): the host was never seen in the history (as either end) and talks to
  internal hosts; n = distinct internal peers that answered.
- `new_admin` (2): it uses a remote-administration service (ssh, telnet, rpc, smb, rdp, winrm,
  vnc: `admin_ports`) of an internal host, a (peer, port) it never used before; n = the
  services' summed rarity (below; the evidence's `n` counts the distinct peers). The same
  weight again when, within `chain_seconds` after, that peer itself opens a first admin
  conversation with a third host (a hop after a hop).
- `new_service` (1.5): it talks to an internal peer it already talked to, over a (proto, port)
  the pair never used and that either the peer never answered on (for anyone) or the host, a
  client with at least `min_client` history connections, never used with anyone (external
  peers' services churn: not counted); n = summed rarity of the (peer, proto, port).
- `new_periodic` (2): it repeats answered connections to an external host nobody contacted in
  the history, at regular intervals (robust spread of the gaps, MAD / median, below
  `max_jitter`; gaps over 4 x the median are pauses); n = its connections to that host.
- `failed_to_answered` (2): it gets answers from a (dst, proto, port) whose every history
  connection (at least `min_failed`) went unanswered; n = distinct such services.

**Weights learned from the history.** With two or more history windows, the last one is
scored against the earlier ones and each part's weight becomes its surprise in bits,
-log2((k + 0.5) / (m + 1)), where k of the m originators of the same zone (internal /
external) showed it: a kind of first time that half the external clients show every week (a
new visitor of the public web server) weighs 1 bit, one that no internal host showed weighs
about 7. With a single history window, its last 30 % of time (`holdout`) is scored against the
first 70 % instead; without history, the default weights above hold.

Each part scores `weight · log2(1 + n)`; `new_periodic` scores
`weight · regularity · log2(1 + n / 10)` (regularity = 1 - jitter / max_jitter). In
`new_admin` and `new_service`, n is the sum of the services' **rarity** instead of their count:
how unusual it is for an internal client to use that (peer, proto, port), the surprise
-log2((k + 0.5) / (m + 1)) of a service k of the history's m internal clients used, over that
of a service nobody used (so in (0, 1]). A client's first smb session with the domain
controller most clients use adds little; a first WinRM session with a workstation that never
served anyone counts in full (lateral movement goes where nobody goes). The host's score is the
sum of its parts. Only originators are scored: the host that does something new,
not the server it does it to. Nothing here reads labels; a host without any first time is not scored
(no evidence, see `graphnet.risk`).

`behaviour_window(store, window, settings)` (the scheduler's `behaviour` step, `graphnet
behaviour`) saves one `first_behaviour` finding per originating host with a first time (the
`max_findings` highest), which `graphnet risk` fuses as the detector `behaviour`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pandas as pd

from graphnet import ingest, windows
from graphnet.archive import Archive
from graphnet.detectors.contract import Context, DetectorRun, Model
from graphnet.errors import NotEnoughHistory
from graphnet.findings import Finding, cypher_literal

log = logging.getLogger(__name__)

#: remote administration / remote execution services (the usual lateral movement ports)
ADMIN_PORTS: frozenset[int] = frozenset({22, 23, 135, 139, 445, 3389, 5985, 5986, 5900})
#: Zeek states where the responder answered
ANSWERED_STATES: frozenset[str] = frozenset({"SF", "S1", "S2", "S3", "RSTO", "RSTR", "-"})
COLUMNS = ("ts", "src", "dst", "dport", "proto", "conn_state", "dst_pkts", "dst_bytes")
CHAIN_TEXT = ", and the peer then opened one of its own"
PARTS = ("new_host", "new_admin", "new_service", "new_periodic", "failed_to_answered")


@dataclass(frozen=True)
class BehaviourSettings:
    history_days: float = 28.0
    weights: tuple[tuple[str, float], ...] = (
        ("new_host", 2.0),
        ("new_admin", 2.0),
        ("new_service", 1.5),
        ("new_periodic", 2.0),
        ("failed_to_answered", 2.0),
    )
    admin_ports: frozenset[int] = ADMIN_PORTS
    chain_seconds: float = 3600.0  # a second admin hop from the peer within this time
    min_periodic: int = 20  # answered connections to the new external host
    max_jitter: float = 0.5  # MAD / median of the gaps (gaps over 4 x median are pauses)
    min_failed: int = 5  # unanswered history connections of a (src, dst, proto, port)
    min_client: int = 100  # history connections before a host's own client habits count
    alert_score: float = 6.0  # a host at or above this score counts as an alert
    internal_cidrs: tuple[Any, ...] = ()
    window_kind: str = "week"  # how the history is cut to learn the parts' rates
    holdout: float = 0.3  # with one history window: its last 30 % of time gives the rates
    max_findings: int = 100  # first_behaviour findings saved per window, highest scores first

    def weight(self, part: str) -> float:
        return dict(self.weights).get(part, 1.0)


def answered(conns: pd.DataFrame) -> np.ndarray:
    """Did the responder answer (state SF/S1-S3/RSTO/RSTR, unknown '-', or reply packets)?"""
    state = conns["conn_state"].astype(str).to_numpy(dtype=object)
    ok = pd.Index(state).isin(list(ANSWERED_STATES))
    if "dst_pkts" in conns:
        ok |= np.nan_to_num(conns["dst_pkts"].to_numpy(dtype="float64"), nan=0.0) > 0
    # a scan probe that the target reset (REJ) or never answered (S0) is not a conversation
    return np.asarray(ok, dtype=bool) & ~pd.Index(state).isin(["S0", "REJ", "RSTOS0", "SH"])


def _keys(*cols: Any) -> pd.Index:
    return pd.MultiIndex.from_arrays([np.asarray(c, dtype=object) for c in cols])


def _texts(g: Any, fn: Callable[[pd.DataFrame], str]) -> pd.Series:
    """One sentence per group of a DataFrameGroupBy."""
    return pd.Series({key: fn(part) for key, part in g}, dtype=object)


def _pairs(g: Any) -> pd.Series:
    """Per group of a DataFrameGroupBy with columns `d`, `port`: its distinct (peer, port)
    pairs, in order of appearance (the services of a first time, for the finding's evidence)."""
    return pd.Series(
        {
            key: list(dict.fromkeys(zip(part["d"], part["port"].astype(int), strict=True)))
            for key, part in g
        },
        dtype=object,
    )


def _regularity(ts: np.ndarray, max_jitter: float) -> float:
    """1 for a metronome, 0 at MAD/median of the gaps >= max_jitter (pauses left out)."""
    gaps = np.diff(np.sort(ts))
    gaps = gaps[gaps > 0]
    if len(gaps) < 5:
        return 0.0
    med = float(np.median(gaps))
    gaps = gaps[gaps <= 4.0 * med]
    if len(gaps) < 5:
        return 0.0
    med = float(np.median(gaps))
    mad = float(np.median(np.abs(gaps - med)))
    jitter = mad / med if med > 0 else np.inf
    return float(max(0.0, 1.0 - jitter / max_jitter))


class FirstBehaviour(Model):
    """Host-level first-time behaviour (the module docstring); `fit(history)` on earlier
    windows' connections, `host_scores(window)` per originating host."""

    name = "behaviour"

    def __init__(self, settings: BehaviourSettings | None = None) -> None:
        self.settings = settings or BehaviourSettings()
        self._classify = ingest.host_classifier(self.settings.internal_cidrs)
        self.fitted = False
        self.bits: dict[tuple[str, bool], float] = {}
        self.rates: dict[str, float] = {}

    def internal(self, hosts: np.ndarray) -> np.ndarray:
        return np.array([bool(self._classify(str(h))["internal"]) for h in hosts], dtype=bool)

    def fit(self, history: pd.DataFrame) -> Self:
        """Learn what the hosts did in `history`; with two or more windows of history, also
        how often each part happens per originator in its last window (see `rates`)."""
        self._learn(history)
        self.bits = self._calibrate(history)
        return self

    def _calibrate(self, history: pd.DataFrame) -> dict[tuple[str, bool], float]:
        """Per (part, originator internal?): -log2 of the share of that zone's originators of
        the last history window that showed the part, learned on the earlier windows
        ((k + 0.5) / (m + 1)). With a single history window, its last `holdout` share of time
        is scored against the rest instead; empty without history (default weights)."""
        if history.empty:
            return {}
        ts = history["ts"].to_numpy(dtype="float64")
        wid = windows.window_ids(ts, self.settings.window_kind).to_numpy()
        later = wid == max(wid)
        if not (~later).any():
            if self.settings.holdout <= 0:
                return {}
            lo, hi = float(np.nanmin(ts)), float(np.nanmax(ts))
            later = ts >= lo + (1.0 - self.settings.holdout) * (hi - lo)
            if not later.any() or later.all():
                return {}
        cur = history[later]
        sub = FirstBehaviour(self.settings)._learn(history[~later])
        parts = sub._parts(cur)
        src = cur["src"].astype(str).unique()
        zone = pd.Series(self.internal(src), index=src)
        m = {z: int((zone == z).sum()) for z in (True, False)}
        out = {}
        for name in PARTS:
            flagged = parts[name].index if name in parts else pd.Index([])
            for z in (True, False):
                k = int(zone.reindex(flagged).eq(z).sum())
                out[(name, z)] = float(-np.log2((k + 0.5) / (m[z] + 1)))
        self.rates = {f"{n}/{'internal' if z else 'external'}": b for (n, z), b in out.items()}
        return out

    def _learn(self, history: pd.DataFrame) -> Self:
        h = history
        src = h["src"].astype(str).to_numpy(dtype=object)
        dst = h["dst"].astype(str).to_numpy(dtype=object)
        port = h["dport"].to_numpy(dtype="int64")
        proto = h["proto"].astype(str).to_numpy(dtype=object)
        ok = answered(h) if len(h) else np.zeros(0, dtype=bool)
        self.hosts = pd.Index(np.unique(np.concatenate([src, dst])))
        self.pairs = _keys(np.concatenate([src, dst]), np.concatenate([dst, src])).unique()
        self.pair_services = _keys(src, dst, proto, port).unique()
        self.server_services = _keys(dst[ok], proto[ok], port[ok]).unique()
        self.client_services = _keys(src, proto, port).unique()
        self.client_conns = pd.Series(src).value_counts()
        # how many internal clients each internal (dst, proto, port) answered
        zone = pd.Series(self.internal(self.hosts.to_numpy()), index=self.hosts, dtype=bool)
        si = zone.reindex(src).to_numpy(dtype=bool)
        inner = ok & si & zone.reindex(dst).to_numpy(dtype=bool)
        users = pd.DataFrame(
            {"d": dst[inner], "p": proto[inner], "port": port[inner], "s": src[inner]}
        )
        self.service_users = users.groupby(["d", "p", "port"])["s"].nunique()
        self.internal_clients = int(pd.unique(src[si]).size) if len(src) else 0
        seen = pd.DataFrame({"s": src, "d": dst, "p": proto, "port": port, "ok": ok})
        agg = seen.groupby(["s", "d", "p", "port"], sort=False)["ok"].agg(["sum", "size"])
        failed = agg[(agg["sum"] == 0) & (agg["size"] >= self.settings.min_failed)]
        self.failed = failed["size"]
        self.empty = len(h) == 0
        self.fitted = True
        self.bits = {}
        self.rates = {}
        return self

    def rarity(self, d: pd.Series, p: pd.Series, port: pd.Series) -> np.ndarray:
        """Per internal service (d, p, port): how unusual it is for an internal client to use
        it, in (0, 1]: the surprise -log2((k + 0.5) / (m + 1)) of a service that k of the m
        internal clients of the history used, over that of one nobody used (1). A first
        conversation with the domain controller's smb that most clients use weighs little; one
        with a workstation's WinRM, which nobody ever used, weighs 1."""
        m = self.internal_clients
        k = self.service_users.reindex(_keys(d, p, port)).fillna(0).to_numpy(dtype="float64")
        k = np.minimum(k, m)
        return np.asarray(np.log2((m + 1) / (k + 0.5)) / np.log2((m + 1) / 0.5), dtype="float64")

    def users_note(self, d: str, p: str, port: int) -> str:
        k = int(self.service_users.get((d, p, port), 0))
        if k == 0:
            return "no internal client used it before"
        return f"{k} of {self.internal_clients} internal clients used it"

    # ---- the five parts, each a frame (host, n, text)
    def _parts(self, c: pd.DataFrame) -> dict[str, pd.DataFrame]:
        st = self.settings
        src = c["src"].astype(str).to_numpy(dtype=object)
        dst = c["dst"].astype(str).to_numpy(dtype=object)
        port = c["dport"].to_numpy(dtype="int64")
        proto = c["proto"].astype(str).to_numpy(dtype=object)
        ts = c["ts"].to_numpy(dtype="float64")
        ok = answered(c)
        hosts = pd.Index(np.unique(np.concatenate([src, dst])))
        internal = pd.Series(self.internal(hosts.to_numpy()), index=hosts)
        dst_int = internal.reindex(dst).to_numpy(dtype=bool)
        frame = pd.DataFrame(
            {"s": src, "d": dst, "p": proto, "port": port, "ts": ts, "ok": ok, "di": dst_int}
        )
        out: dict[str, pd.DataFrame] = {}
        a = frame[frame["ok"]]
        if self.empty:
            return out
        # new host
        new_src = ~a["s"].isin(self.hosts)
        nh = a[new_src & a["di"]].drop_duplicates(["s", "d", "p", "port"])
        if len(nh):
            g = nh.groupby("s")
            out["new_host"] = pd.DataFrame(
                {
                    "n": g["d"].nunique(),
                    "keys": _pairs(g),
                    "text": _texts(
                        g,
                        lambda x: (
                            f"never seen before, talks to {len(x)} internal services "
                            f"({', '.join(sorted(set(x['d'] + ':' + x['port'].astype(str)))[:4])})"
                        ),
                    ),
                }
            )
        # first admin conversation with an internal peer
        si = internal.reindex(a["s"].to_numpy()).to_numpy(dtype=bool)
        adm = a[
            a["di"].to_numpy()
            & si
            & a["port"].isin(list(st.admin_ports)).to_numpy()
            & ~_keys(a["s"], a["d"], a["p"], a["port"]).isin(self.pair_services)
        ]
        if len(adm):
            first = adm.groupby(["s", "d", "p", "port"], as_index=False)["ts"].min()
            first["rare"] = self.rarity(first["d"], first["p"], first["port"])
            first["svc"] = [
                f"{d}:{port} ({self.users_note(d, p, port)})"
                for d, p, port in zip(first["d"], first["p"], first["port"], strict=True)
            ]
            starts = first.groupby("s")["ts"].apply(np.sort)
            chained = []
            for r in first.itertuples(index=False):
                later = starts.get(r.d)
                hop = later is not None and bool(
                    ((later > r.ts) & (later <= r.ts + st.chain_seconds)).any()
                )
                chained.append(hop)
            first["chain"] = chained
            g = first.groupby("s")
            out["new_admin"] = pd.DataFrame(
                {
                    "n": g["d"].nunique(),
                    "rare": g["rare"].sum(),
                    "chain": g["chain"].any(),
                    "keys": _pairs(g),
                    "text": _texts(
                        g,
                        lambda x: (
                            "first remote-admin service with "
                            + ", ".join(list(x.sort_values("rare", ascending=False)["svc"])[:3])
                            + (CHAIN_TEXT if x["chain"].any() else "")
                        ),
                    ),
                }
            )
        # a new service on a known pair, new for the client too
        known_pair = _keys(a["s"], a["d"]).isin(self.pairs)
        ns = a[known_pair & a["di"].to_numpy()]
        ns = ns[~_keys(ns["s"], ns["d"], ns["p"], ns["port"]).isin(self.pair_services)]
        ns = ns[
            ~_keys(ns["d"], ns["p"], ns["port"]).isin(self.server_services)
            | (
                ~_keys(ns["s"], ns["p"], ns["port"]).isin(self.client_services)
                & (self.client_conns.reindex(ns["s"]).fillna(0).to_numpy() >= st.min_client)
            )
        ]
        ns = ns.drop_duplicates(["s", "d", "p", "port"]).copy()
        if len(ns):
            ns["rare"] = self.rarity(ns["d"], ns["p"], ns["port"])
            g = ns.groupby("s")
            out["new_service"] = pd.DataFrame(
                {
                    "n": g.size(),
                    "rare": g["rare"].sum(),
                    "keys": _pairs(g),
                    "text": _texts(
                        g,
                        lambda x: (
                            "a new service with an internal peer it knows (new for the "
                            "peer or for itself): "
                            + ", ".join(
                                f"{p}/{port} to {d} ({self.users_note(d, p, port)})"
                                for d, p, port in zip(x["d"], x["p"], x["port"], strict=True)
                            )[:200]
                        ),
                    ),
                }
            )
        # regular connections to an external host nobody contacted before
        ext = a[~a["di"].to_numpy() & ~a["d"].isin(self.hosts).to_numpy()]
        counts = ext.groupby(["s", "d"]).size()
        cand = counts[counts >= st.min_periodic]
        rows = []
        ext = ext[_keys(ext["s"], ext["d"]).isin(cand.index)]  # one pass over the candidates
        for (s, d), pair in ext.groupby(["s", "d"]):
            t = pair["ts"].to_numpy()
            reg = _regularity(t, st.max_jitter)
            if reg > 0:
                gaps = np.diff(np.sort(t))
                keys = [(str(d), int(x)) for x in sorted(set(pair["port"].tolist()))]
                rows.append((s, d, len(pair), reg, float(np.median(gaps[gaps > 0])), keys))
        if rows:
            per = pd.DataFrame(rows, columns=["s", "d", "n", "reg", "period", "keys"])
            per = per.sort_values("reg", ascending=False).drop_duplicates("s").set_index("s")
            out["new_periodic"] = pd.DataFrame(
                {
                    "n": per["n"],
                    "reg": per["reg"],
                    "period": per["period"],
                    "keys": per["keys"],
                    "text": [
                        f"{n} regular connections (every {p:.0f} s) to {d}, a host nobody "
                        f"contacted before"
                        for d, n, p in zip(per["d"], per["n"], per["period"], strict=True)
                    ],
                },
                index=per.index,
            )
        # answers where there never were any
        if len(self.failed):
            key = _keys(a["s"], a["d"], a["p"], a["port"])
            hit = a[key.isin(self.failed.index)].drop_duplicates(["s", "d", "p", "port"])
            if len(hit):
                g = hit.groupby("s")
                out["failed_to_answered"] = pd.DataFrame(
                    {
                        "n": g.size(),
                        "keys": _pairs(g),
                        "text": _texts(
                            g,
                            lambda x: (
                                "now answered by "
                                + ", ".join(
                                    f"{d}:{p}" for d, p in zip(x["d"], x["port"], strict=True)
                                )[:120]
                                + ", which never answered it before"
                            ),
                        ),
                    }
                )
        return out

    def parts(self, observations: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """Per part that some host showed: a frame indexed by originating host with `n`, `text`,
        `keys` (its (peer, port) services) and, per part, `chain` / `reg`, `period`."""
        if not self.fitted:
            raise ValueError("fit the detector first")
        return self._parts(observations)

    def host_frame(
        self, observations: pd.DataFrame, parts: dict[str, pd.DataFrame] | None = None
    ) -> pd.DataFrame:
        """Per originating host with a first time: `score`, `part_<name>`, `explanation`,
        sorted by score (hosts without any first time are absent). `parts`: the result of
        `parts(observations)` when already computed."""
        if not self.fitted:
            raise ValueError("fit the detector first")
        if parts is None:
            parts = self._parts(observations)
        hosts = sorted({h for p in parts.values() for h in p.index})
        out = pd.DataFrame(index=pd.Index(hosts, dtype=object))
        zone = self.internal(out.index.to_numpy())
        out["score"] = 0.0
        texts = pd.DataFrame(index=out.index)
        for name in PARTS:
            col = np.zeros(len(out))
            if name in parts:
                p = parts[name].reindex(out.index)
                n = p["n"].fillna(0).to_numpy(dtype="float64")
                w = np.full(len(out), self.settings.weight(name))
                if self.bits:
                    w = np.where(zone, self.bits[(name, True)], self.bits[(name, False)])
                if name == "new_periodic":
                    col = w * p["reg"].fillna(0).to_numpy() * np.log2(1 + n / 10.0)
                elif name in ("new_admin", "new_service"):
                    # each service counts by how unusual it is for a client (rarity)
                    col = w * np.log2(1 + p["rare"].fillna(0).to_numpy(dtype="float64"))
                else:
                    col = w * np.log2(1 + n)
                if name == "new_admin":
                    col += w * p["chain"].fillna(False).to_numpy(dtype=bool)
                texts[name] = p["text"]
            out[f"part_{name}"] = col
            out["score"] += col
        expl = []
        for h, r in zip(out.index, out.to_dict("records"), strict=True):
            named = [n for n in PARTS if r[f"part_{n}"] > 0]
            named.sort(key=lambda n: -r[f"part_{n}"])
            expl.append(f"{h}: " + "; ".join(str(texts.at[h, n]) for n in named))
        out["explanation"] = expl
        return out.sort_values("score", ascending=False, kind="stable")

    def score(self, observations: pd.DataFrame) -> pd.DataFrame:
        """Per connection (the Model contract): its originator's host score."""
        hf = self.host_frame(observations)
        src = observations["src"].astype(str)
        out = pd.DataFrame(index=observations.index)
        out["score"] = hf["score"].reindex(src.to_numpy()).fillna(0.0).to_numpy()
        for n in PARTS:
            out[f"part_{n}"] = hf[f"part_{n}"].reindex(src.to_numpy()).fillna(0.0).to_numpy()
        out["explanation"] = hf["explanation"].reindex(src.to_numpy()).fillna("").to_numpy()
        return out


def fit_window(
    archive: Archive,
    window: str,
    behaviour: BehaviourSettings | None = None,
    columns: Sequence[str] = COLUMNS,
) -> tuple[FirstBehaviour, list[str], pd.DataFrame]:
    """The detector fitted on the archive windows before `window` (`behaviour=None`: the
    defaults with graphnet's `internal_cidrs` and window kind), the history windows, and the
    window's connections (its archive `columns`). Raises NotEnoughHistory
    without an earlier window within `history_days` (everything would be a first time)."""
    settings = archive.settings
    st = behaviour or BehaviourSettings(
        internal_cidrs=tuple(settings.internal_cidrs), window_kind=settings.window
    )
    hist_w = archive.history(window, st.history_days)
    if not hist_w:
        raise NotEnoughHistory(
            f"no archive window before {window} within {st.history_days:g} days: "
            "without history everything would be a first time",
            hint="ingest the logs of an earlier window first",
        )
    current = archive.connections([window], columns, complete=True)
    det = FirstBehaviour(st).fit(archive.connections(hist_w, COLUMNS, complete=True))
    return det, hist_w, current


# --------------------------------------------------------------------------------------------
# findings and the library entry point
# --------------------------------------------------------------------------------------------
BROWSER_QUERY = "browser/first_behaviour"  # graphnet/cypher/browser/first_behaviour.cypher
_PARAM = re.compile(r"\$([A-Za-z_]\w*)")


def browser_query(host: str, window: str) -> str:
    """The saved Browser query `graphnet/cypher/browser/first_behaviour.cypher` with its `$host` and
    `$window` rendered as Cypher string literals (`graphnet.findings.cypher_literal`): host ids
    come from logs and are attacker-controlled. Shown to people, never executed by graphnet."""
    from graphnet.store import cypher as cypher_text

    params = {"host": host, "window": window}
    return _PARAM.sub(lambda m: cypher_literal(params[m.group(1)]), cypher_text(BROWSER_QUERY))


def _example_uids(
    conns: pd.DataFrame, keys: dict[str, list[tuple[str, int]]], limit: int = 10
) -> dict[str, dict[str, Any]]:
    """Per host: up to `limit` uids (earliest first), the count and the first/last time of its
    answered connections to the (peer, port) services of its first times."""
    rows = [(h, d, int(port)) for h, ks in keys.items() for d, port in ks]
    if not rows or "uid" not in conns or conns.empty:
        return {}
    want = pd.DataFrame(rows, columns=["s", "d", "port"]).drop_duplicates()
    c = pd.DataFrame(
        {
            "s": conns["src"].astype(str).to_numpy(dtype=object),
            "d": conns["dst"].astype(str).to_numpy(dtype=object),
            "port": conns["dport"].to_numpy(dtype="int64"),
            "ts": conns["ts"].to_numpy(dtype="float64"),
            "uid": conns["uid"].astype(str).to_numpy(dtype=object),
        }
    )[answered(conns)]
    hit = c.merge(want, on=["s", "d", "port"]).sort_values(["s", "ts"], kind="stable")
    out: dict[str, dict[str, Any]] = {}
    for h, g in hit.groupby("s", sort=False):
        out[str(h)] = {
            "uids": [str(u) for u in g["uid"].head(limit)],
            "connections": len(g),
            "first": float(g["ts"].min()),
            "last": float(g["ts"].max()),
        }
    return out


def findings_from_hosts(
    hosts: pd.DataFrame,
    parts: dict[str, pd.DataFrame],
    conns: pd.DataFrame,
    window: str,
    settings: BehaviourSettings,
    history: Sequence[str] = (),
) -> list[Finding]:
    """One `first_behaviour` finding per originating host of `hosts` (`FirstBehaviour.
    host_frame`, highest score first; at most `max_findings`): its score, the part scores
    that contributed (`parts`), the explanation naming each first time, and as evidence per
    part its count, the (peer, port) services and the details (hop chain, period), example
    uids of those connections and the history windows. Only the originator is a host of
    the finding (its peers did nothing new themselves)."""
    top = hosts[hosts["score"] > 0].head(settings.max_findings)
    keys: dict[str, list[tuple[str, int]]] = {}
    detail: dict[str, dict[str, dict[str, Any]]] = {}
    for h, row in zip(top.index, top.to_dict("records"), strict=True):
        h = str(h)
        for name in PARTS:
            score = float(row.get(f"part_{name}", 0.0))
            if score <= 0 or name not in parts or h not in parts[name].index:
                continue
            p: dict[Any, Any] = parts[name].loc[h].to_dict()
            services = [(str(d), int(port)) for d, port in p["keys"]]
            keys.setdefault(h, []).extend(services)
            item: dict[str, Any] = {
                "score": score,
                "n": int(p["n"]),
                "what": str(p["text"]),
                "services": [f"{d}:{port}" for d, port in services[:10]],
            }
            if name in ("new_admin", "new_service"):
                item["rarity"] = round(float(p["rare"]), 4)
            if name == "new_admin":
                item["chain"] = bool(p["chain"])
            if name == "new_periodic":
                item["regularity"] = float(p["reg"])
                item["period_seconds"] = float(p["period"])
            detail.setdefault(h, {})[name] = item
    examples = _example_uids(conns, keys)
    out = []
    for h, row in zip(top.index, top.to_dict("records"), strict=True):
        h = str(h)
        score = float(row["score"])
        ex = examples.get(h, {})
        out.append(
            Finding(
                kind="first_behaviour",
                window=window,
                score=score,
                hosts=[h],
                explanation=str(row["explanation"]),
                parts={
                    n: float(row[f"part_{n}"])
                    for n in PARTS
                    if float(row.get(f"part_{n}", 0.0)) > 0
                },
                evidence={
                    "first_times": detail.get(h, {}),
                    "uids": ex.get("uids", []),
                    "connections": ex.get("connections", 0),
                    "first": ex.get("first"),
                    "last": ex.get("last"),
                    "alert": score >= settings.alert_score,
                    "history": list(history),
                },
                cypher=browser_query(h, window),
                detector="behaviour",
            )
        )
    return out


@dataclass
class BehaviourResult:
    """What `behaviour_window` found: the saved findings and every scored host."""

    window: str
    history: list[str]
    findings: list[Finding]
    hosts: pd.DataFrame  # FirstBehaviour.host_frame of the window
    bits: dict[str, float]  # learned weight per part and originator zone (empty: defaults)
    alert_score: float
    seconds: float

    @property
    def alerts(self) -> int:
        return int((self.hosts["score"] >= self.alert_score).sum()) if len(self.hosts) else 0

    def to_json(self, top: int = 20) -> dict[str, Any]:
        """A summary (what the scheduler logs); `graphnet behaviour --json` prints the
        findings themselves, `[f.to_json() for f in findings[:top]]`."""
        return {
            "window": self.window,
            "history": len(self.history),
            "hosts": len(self.hosts),
            "alerts": self.alerts,
            "findings": len(self.findings),
            "seconds": round(self.seconds, 3),
            "top": [f.to_json() for f in self.findings[:top]],
        }


def run(ctx: Context) -> DetectorRun:
    """Fit the detector on the archive windows before the window, score the hosts that
    originated connections in it, and return one `first_behaviour` finding per host that did
    something for the first time (the `max_findings` highest).

    Options: a `BehaviourSettings` (default: the defaults with graphnet's `internal_cidrs` and
    window kind). Raises ValueError when the archive does not hold the window and
    NotEnoughHistory without an earlier window (everything would be a first time)."""
    t0 = time.perf_counter()
    window = ctx.archive.require(ctx.window)
    det, hist_w, conns = fit_window(
        ctx.archive, window, ctx.option(BehaviourSettings), columns=(*COLUMNS, "uid")
    )
    st = det.settings
    parts = det.parts(conns)
    hosts = det.host_frame(conns, parts=parts)
    found = findings_from_hosts(hosts, parts, conns, window, st, hist_w)
    result = BehaviourResult(
        window=window,
        history=hist_w,
        findings=found,
        hosts=hosts,
        bits=dict(det.rates),
        alert_score=st.alert_score,
        seconds=time.perf_counter() - t0,
    )
    return DetectorRun(
        step="behaviour",
        window=window,
        summary=f"{len(found)} hosts did something for the first time ({result.alerts} "
        f"scoring {st.alert_score:g} or more), learned from {len(hist_w)} earlier windows",
        host_scores=hosts["score"],
        findings=found,
        alerts=float(result.alerts),
        evidence={str(h): str(e)[:240] for h, e in hosts["explanation"].head(50).items()},
        info={"history": hist_w, "bits": det.rates, "hosts": len(hosts)},
        detail=result,
    )
