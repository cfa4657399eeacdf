"""The pure model of the behaviour detector: its settings, the aggregates a window's first
times are built from (`Firsts`), the five parts per originating host (`parts_of`), the host
scores (`host_frame`) and the weights learned from the history (`learned_bits`).

Whoever computes the `Firsts` — the analytical engine over the archive (`aggregates`) or
pandas over frames (`frames`, the `Model` and the oracle) — the parts, texts and scores come
from here, so that both give the same findings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from graphnet import ingest

log = logging.getLogger(__name__)

#: remote administration / remote execution services (the usual lateral movement ports)
ADMIN_PORTS: frozenset[int] = frozenset({22, 23, 135, 139, 445, 3389, 5985, 5986, 5900})
#: Zeek states where the responder answered
ANSWERED_STATES: frozenset[str] = frozenset({"SF", "S1", "S2", "S3", "RSTO", "RSTR", "-"})
#: states of probes that were never a conversation, whatever packets came back
FAILED_STATES: frozenset[str] = frozenset({"S0", "REJ", "RSTOS0", "SH"})
CHAIN_TEXT = ", and the peer then opened one of its own"
PARTS = ("new_host", "new_admin", "new_service", "new_periodic", "failed_to_answered")
#: the columns of `Firsts.services` and `Firsts.periodic`
SERVICE_COLUMNS = (
    "s",
    "d",
    "p",
    "port",
    "first",
    "users",
    "new_host",
    "new_admin",
    "new_service",
    "failed",
)
PERIODIC_COLUMNS = ("s", "d", "port", "n", "period", "med", "mad")


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


def internal_of(settings: BehaviourSettings) -> Callable[[np.ndarray], np.ndarray]:
    """Per host id: internal (graphnet's `internal_cidrs`, else RFC 1918/4193)?
    (`ingest.internal_hosts`: batches keep no more than a batch cached)."""
    return ingest.internal_hosts(settings.internal_cidrs)


@dataclass(frozen=True)
class Firsts:
    """What a window did that its history never did, as aggregates (their size grows with the
    distinct services and pairs, never with the connections).

    - `services`: per answered (originator `s`, peer `d`, proto `p`, `port`) of the window that
      is a first time of some part: its `first` answered time, `users` (how many internal
      clients of the history the internal service (d, p, port) answered) and a flag per part
      (`new_host`, `new_admin`, `new_service`, `failed`, see the package docstring);
    - `periodic`: per (s, d) with at least `min_periodic` answered connections to an external
      host nobody contacted in the history, and at least five gaps: one row per port used,
      with its `n` connections, the median gap `period`, and `med` / `mad`, the median gap and
      the median absolute deviation of the gaps without the pauses (over 4 x `period`); pairs
      with fewer than five such gaps have `med` and `mad` NaN;
    - `internal_clients`: the internal originators of the history, `history_rows` its
      connections, and `originators` the window's originating hosts per zone (internal?)."""

    services: pd.DataFrame
    periodic: pd.DataFrame
    internal_clients: int
    history_rows: int
    originators: Mapping[bool, int]


def rarity(users: np.ndarray, internal_clients: int) -> np.ndarray:
    """Per internal service: how unusual it is for an internal client to use it, in (0, 1]: the
    surprise -log2((k + 0.5) / (m + 1)) of a service that k of the m internal clients of the
    history used, over that of one nobody used (1). A first conversation with the domain
    controller's smb that most clients use weighs little; one with a workstation's WinRM,
    which nobody ever used, weighs 1."""
    m = internal_clients
    k = np.minimum(np.asarray(users, dtype="float64"), m)
    return np.asarray(np.log2((m + 1) / (k + 0.5)) / np.log2((m + 1) / 0.5), dtype="float64")


def users_note(users: int, internal_clients: int) -> str:
    if users == 0:
        return "no internal client used it before"
    return f"{users} of {internal_clients} internal clients used it"


def regularity(med: float, mad: float, max_jitter: float) -> float:
    """1 for a metronome, 0 at MAD/median of the gaps >= max_jitter (NaN: too few gaps)."""
    if not np.isfinite(med) or not np.isfinite(mad):
        return 0.0
    jitter = mad / med if med > 0 else np.inf
    return float(max(0.0, 1.0 - jitter / max_jitter))


class _Groups:
    """The rows of a frame by originator (`s`), each host's rows in the frame's order: what
    a groupby's groups hold, without building a frame per group (a window has thousands)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.hosts = sorted(frame.groupby("s", sort=False).indices.items())

    def column(self, name: str) -> list[Any]:
        return list(self.frame[name].to_numpy())

    def series(self, values: list[Any]) -> pd.Series:
        return pd.Series(values, index=pd.Index([h for h, _ in self.hosts]), dtype=object)

    def pairs(self) -> pd.Series:
        """Per host: its distinct (peer, port) pairs in order (the services of a first time,
        for the finding's evidence)."""
        d, port = self.column("d"), self.column("port")
        return self.series(
            [list(dict.fromkeys((d[i], int(port[i])) for i in rows)) for _, rows in self.hosts]
        )


def parts_of(firsts: Firsts, settings: BehaviourSettings) -> dict[str, pd.DataFrame]:
    """Per part that some host showed: a frame indexed by originating host with `n`, `text`,
    `keys` (its (peer, port) services) and, per part, `rare`, `chain` / `reg`, `period`.
    Services are listed in the order the host first used them (time, then peer, proto, port)."""
    st = settings
    out: dict[str, pd.DataFrame] = {}
    if firsts.history_rows == 0:
        return out
    m = firsts.internal_clients
    svc = firsts.services.sort_values(["first", "d", "p", "port"], kind="stable")
    svc = svc.reset_index(drop=True)
    # new host
    nh = svc[svc["new_host"].to_numpy(dtype=bool)].reset_index(drop=True)
    if len(nh):
        g = _Groups(nh)
        named = [f"{d}:{port}" for d, port in zip(g.column("d"), g.column("port"), strict=True)]
        out["new_host"] = pd.DataFrame(
            {
                "n": nh.groupby("s")["d"].nunique(),
                "keys": g.pairs(),
                "text": g.series(
                    [
                        f"never seen before, talks to {len(rows)} internal services "
                        f"({', '.join(sorted({named[i] for i in rows})[:4])})"
                        for _, rows in g.hosts
                    ]
                ),
            }
        )
    # first admin conversation with an internal peer
    adm = svc[svc["new_admin"].to_numpy(dtype=bool)]
    if len(adm):
        first = adm.sort_values(["s", "d", "p", "port"], kind="stable").reset_index(drop=True)
        first = first[["s", "d", "p", "port", "first", "users"]].rename(columns={"first": "ts"})
        first["rare"] = rarity(first["users"].to_numpy(), m)
        ts = first["ts"].to_numpy(dtype="float64")
        # a hop after a hop: the peer's own first admin conversations, by start
        starts = {h: np.sort(ts[rows]) for h, rows in first.groupby("s").indices.items()}
        chained = []
        for d, t in zip(first["d"].to_numpy(dtype=object), ts, strict=True):
            later = starts.get(d)
            chained.append(
                later is not None and bool(((later > t) & (later <= t + st.chain_seconds)).any())
            )
        first["chain"] = chained
        g = _Groups(first)
        svc_text = [
            f"{d}:{port} ({users_note(int(k), m)})"
            for d, port, k in zip(g.column("d"), g.column("port"), g.column("users"), strict=True)
        ]
        rare, chain = g.column("rare"), g.column("chain")
        by = first.groupby("s")
        out["new_admin"] = pd.DataFrame(
            {
                "n": by["d"].nunique(),
                "rare": by["rare"].sum(),
                "chain": by["chain"].any(),
                "keys": g.pairs(),
                "text": g.series(
                    [
                        "first remote-admin service with "
                        + ", ".join([svc_text[i] for i in sorted(rows, key=lambda i: -rare[i])][:3])
                        + (CHAIN_TEXT if any(chain[i] for i in rows) else "")
                        for _, rows in g.hosts
                    ]
                ),
            }
        )
    # a new service on a known pair, new for the peer or for the client
    ns = svc[svc["new_service"].to_numpy(dtype=bool)].reset_index(drop=True)
    if len(ns):
        ns["rare"] = rarity(ns["users"].to_numpy(), m)
        g = _Groups(ns)
        named = [
            f"{p}/{port} to {d} ({users_note(int(k), m)})"
            for d, p, port, k in zip(
                g.column("d"), g.column("p"), g.column("port"), g.column("users"), strict=True
            )
        ]
        by = ns.groupby("s")
        out["new_service"] = pd.DataFrame(
            {
                "n": by.size(),
                "rare": by["rare"].sum(),
                "keys": g.pairs(),
                "text": g.series(
                    [
                        "a new service with an internal peer it knows (new for the peer or for "
                        "itself): " + ", ".join(named[i] for i in rows)[:200]
                        for _, rows in g.hosts
                    ]
                ),
            }
        )
    # regular connections to an external host nobody contacted before
    per = _periodic(firsts.periodic, st)
    if len(per):
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
    hit = svc[svc["failed"].to_numpy(dtype=bool)].reset_index(drop=True)
    if len(hit):
        g = _Groups(hit)
        named = [f"{d}:{p}" for d, p in zip(g.column("d"), g.column("port"), strict=True)]
        out["failed_to_answered"] = pd.DataFrame(
            {
                "n": hit.groupby("s").size(),
                "keys": g.pairs(),
                "text": g.series(
                    [
                        "now answered by "
                        + ", ".join(named[i] for i in rows)[:120]
                        + ", which never answered it before"
                        for _, rows in g.hosts
                    ]
                ),
            }
        )
    return out


def _regular(periodic: pd.DataFrame, st: BehaviourSettings) -> pd.DataFrame:
    """The rows of `Firsts.periodic` whose pair is regular (regularity > 0, in `reg`)."""
    med = periodic["med"].to_numpy(dtype="float64")
    mad = periodic["mad"].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        reg = np.maximum(0.0, 1.0 - (mad / med) / st.max_jitter)
    reg = np.where(np.isfinite(med) & np.isfinite(mad) & (med > 0), reg, 0.0)
    return periodic.assign(reg=reg)[reg > 0]


def _periodic(periodic: pd.DataFrame, st: BehaviourSettings) -> pd.DataFrame:
    """The most regular new external pair of each originator (regularity > 0), indexed by
    originator: d, n, reg, period and keys (its (peer, port) services, ports sorted)."""
    rows = []
    regular = _regular(periodic, st).sort_values(["s", "d", "port"], kind="stable")
    for (s, d), pair in regular.groupby(["s", "d"], sort=False):
        first = pair.iloc[0]
        keys = [(str(d), int(x)) for x in sorted(set(pair["port"].tolist()))]
        rows.append((s, d, int(first["n"]), float(first["reg"]), float(first["period"]), keys))
    per = pd.DataFrame(rows, columns=["s", "d", "n", "reg", "period", "keys"])
    per = per.sort_values("reg", ascending=False, kind="stable").drop_duplicates("s")
    return per.set_index("s")


def shown_by(firsts: Firsts, settings: BehaviourSettings) -> dict[str, np.ndarray]:
    """Per part: the originating hosts that showed it (the index of `parts_of`'s frames,
    without their texts: what the learned weights count)."""
    if firsts.history_rows == 0:
        return {}
    svc = firsts.services
    out = {}
    for name, flag in (
        ("new_host", "new_host"),
        ("new_admin", "new_admin"),
        ("new_service", "new_service"),
        ("failed_to_answered", "failed"),
    ):
        out[name] = pd.unique(svc.loc[svc[flag].to_numpy(dtype=bool), "s"].to_numpy())
    out["new_periodic"] = pd.unique(_regular(firsts.periodic, settings)["s"].to_numpy())
    return {k: v for k, v in out.items() if len(v)}


def host_frame(
    parts: Mapping[str, pd.DataFrame],
    settings: BehaviourSettings,
    bits: Mapping[tuple[str, bool], float],
    internal: Callable[[np.ndarray], np.ndarray],
) -> pd.DataFrame:
    """Per originating host with a first time: `score`, `part_<name>`, `explanation`, sorted by
    score (hosts without any first time are absent). Each part weighs `bits` of the host's
    zone (`learned_bits`; empty: the settings' weights)."""
    hosts = sorted({h for p in parts.values() for h in p.index})
    out = pd.DataFrame(index=pd.Index(hosts, dtype=object))
    zone = internal(out.index.to_numpy())
    out["score"] = 0.0
    texts = pd.DataFrame(index=out.index)
    for name in PARTS:
        col = np.zeros(len(out))
        if name in parts:
            p = parts[name].reindex(out.index)
            n = p["n"].fillna(0).to_numpy(dtype="float64")
            w = np.full(len(out), settings.weight(name))
            if bits:
                w = np.where(zone, bits[(name, True)], bits[(name, False)])
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


def learned_bits(
    shown: Mapping[str, np.ndarray],
    originators: Mapping[bool, int],
    internal: Callable[[np.ndarray], np.ndarray],
) -> dict[tuple[str, bool], float]:
    """Per (part, originator internal?): -log2((k + 0.5) / (m + 1)), where k of the m
    originators of that zone in the scored part of the history showed the part (`shown_by`
    of the latest history scored against the earlier)."""
    out = {}
    for name in PARTS:
        flagged = np.asarray(shown.get(name, []), dtype=object)
        zone = internal(flagged)
        for z in (True, False):
            k = int((zone == z).sum())
            out[(name, z)] = float(-np.log2((k + 0.5) / (originators.get(z, 0) + 1)))
    return out


def rates_of(bits: Mapping[tuple[str, bool], float]) -> dict[str, float]:
    """The learned weights by name, `<part>/internal` and `<part>/external`."""
    return {f"{n}/{'internal' if z else 'external'}": b for (n, z), b in bits.items()}
