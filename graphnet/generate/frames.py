"""Small in-memory networks as DataFrames, for tests and benchmarks.

`synthetic_connections(seed, ...)` builds a seeded enterprise (workstations with daily habits,
servers with nightly jobs, one client turned attacker in the attack week, and optionally the
quiet `SMALL_SCENARIOS`) directly as a normalised connection table plus a truth dict shaped
like the generator's truth.json. Independent of the log-writing generator of this package.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from graphnet import windows

_CATALOG = (
    # name, dst pool, dport, proto, service, log-bytes mean, log-bytes sd
    ("dns", "dns", 53, "udp", "dns", 5.0, 0.3),
    ("intranet", "intranet", 443, "tcp", "ssl", 9.9, 1.0),
    ("web", "external", 443, "tcp", "ssl", 10.5, 1.4),
    ("http", "external", 80, "tcp", "http", 9.0, 1.2),
    ("files", "files", 445, "tcp", "smb", 10.8, 1.5),
    ("mail", "mail", 993, "tcp", "ssl", 8.5, 1.0),
    ("db", "db", 5432, "tcp", "-", 8.0, 1.0),
    ("ntp", "external", 123, "udp", "ntp", 4.4, 0.1),
)


def _flows(
    rng: np.random.Generator,
    ts: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    dport: np.ndarray,
    proto: np.ndarray,
    service: np.ndarray,
    logb: np.ndarray,
    sdb: np.ndarray,
    state: np.ndarray | None = None,
    pkts: np.ndarray | None = None,
) -> pd.DataFrame:
    n = len(ts)
    total = np.exp(rng.normal(logb, sdb))
    up = rng.uniform(0.05, 0.4, n)
    if state is None:
        u = rng.random(n)
        state = np.where(u < 0.006, "S0", np.where(u < 0.01, "REJ", "SF")).astype(object)
    ok = state == "SF"
    src_bytes = np.where(ok, np.round(total * up), 0.0)
    dst_bytes = np.where(ok, np.round(total * (1 - up)), 0.0)
    if pkts is None:
        pk = np.maximum(1, np.round(total / rng.uniform(500, 1400, n))) + 2
        src_pkts = np.where(ok, np.ceil(pk * 0.45), 1.0)
        dst_pkts = np.where(ok, np.floor(pk * 0.55), np.where(state == "REJ", 1.0, 0.0))
    else:
        src_pkts = pkts.astype("float64")
        dst_pkts = np.where(ok, pkts, 0).astype("float64")
    hist = np.where(ok, "ShADadFf", np.where(state == "REJ", "Sr", "S"))
    hist = np.where(proto == "tcp", hist, "Dd")
    return pd.DataFrame(
        {
            "ts": ts,
            "src": src,
            "dst": dst,
            "sport": rng.integers(49152, 65535, n).astype("int32"),
            "dport": dport.astype("int32"),
            "proto": proto,
            "service": np.where(ok, service, "-"),
            "duration": np.where(ok, np.exp(rng.normal(0.0, 1.5, n)), np.nan),
            "src_bytes": src_bytes,
            "dst_bytes": dst_bytes,
            "src_pkts": src_pkts,
            "dst_pkts": dst_pkts,
            "conn_state": state,
            "history": hist,
        }
    )


SMALL_SCENARIOS: tuple[str, ...] = ("new_host", "lateral_movement", "beaconing", "new_protocol")


def _small_scenario(
    kind: str,
    seed: int,
    clients: np.ndarray,
    taken: set[int],
    week0: float,
    attackers: dict[str, str],
) -> tuple[pd.DataFrame, list[str], str]:
    """One quiet planted scenario of `synthetic_connections` (its flows, victims, attacker)."""
    rng = np.random.default_rng([seed, 7, SMALL_SCENARIOS.index(kind)])
    used = taken | {
        int(np.flatnonzero(clients == a)[0]) for a in attackers.values() if a in clients
    }
    free = [i for i in range(len(clients)) if i not in used]
    day = int(rng.integers(0, 3))
    t0 = week0 + day * 86400.0 + float(rng.uniform(10.0, 14.0)) * 3600.0

    def flows(
        ts: np.ndarray,
        src: Any,
        dst: Any,
        port: Any,
        proto: Any,
        svc: Any,
        logb: float,
        sd: float = 0.3,
    ) -> pd.DataFrame:
        n = len(ts)
        return _flows(
            rng,
            np.sort(ts),
            np.full(n, src, dtype=object) if isinstance(src, str) else src,
            np.full(n, dst, dtype=object) if isinstance(dst, str) else dst,
            np.full(n, port) if isinstance(port, int) else port,
            np.full(n, proto, dtype=object) if isinstance(proto, str) else proto,
            np.full(n, svc, dtype=object) if isinstance(svc, str) else svc,
            np.full(n, logb),
            np.full(n, sd),
            state=np.full(n, "SF", dtype=object),
        )

    if kind == "new_host":
        who = "10.1.3.77"
        servers = [
            ("10.2.0.53", 53, "udp", "dns", 5.0),
            ("10.2.0.80", 443, "tcp", "ssl", 9.5),
            ("10.2.0.45", 445, "tcp", "smb", 10.0),
            ("10.2.0.25", 993, "tcp", "ssl", 8.5),
            ("10.2.0.54", 5432, "tcp", "-", 8.0),
        ]
        n = int(rng.integers(80, 200))
        k = rng.integers(0, len(servers), n)
        ts = t0 + rng.uniform(0, 6 * 3600.0, n)
        parts = [
            flows(ts[k == j], who, d, port, pr, sv, b)
            for j, (d, port, pr, sv, b) in enumerate(servers)
            if (k == j).any()
        ]
        return pd.concat(parts, ignore_index=True), [s[0] for s in servers], who
    if kind == "lateral_movement":
        a, b = (str(clients[i]) for i in rng.choice(free, 2, replace=False))
        n1, n2 = int(rng.integers(6, 20)), int(rng.integers(6, 20))
        hop1 = flows(t0 + rng.uniform(0, 600.0, n1), a, b, 445, "tcp", "smb", 11.0, 1.0)
        t1 = t0 + float(rng.uniform(120.0, 900.0))
        hop2 = flows(t1 + rng.uniform(0, 1200.0, n2), b, "10.2.0.45", 3389, "tcp", "rdp", 13.0, 1.0)
        return pd.concat([hop1, hop2], ignore_index=True), [b, "10.2.0.45"], a
    if kind == "beaconing":
        a = str(clients[int(rng.choice(free))])
        c2 = "192.0.2.77"
        period = float(rng.uniform(240.0, 600.0))
        k = np.arange(int(3 * 9 * 3600.0 / period))
        ts = t0 + k * period + rng.normal(0, 0.1 * period, len(k))
        ts = ts[((ts - week0) % 86400.0 >= 8 * 3600.0) & ((ts - week0) % 86400.0 < 17 * 3600.0)]
        return flows(ts, a, c2, 443, "tcp", "ssl", 7.0, 0.2), [c2], a
    if kind == "new_protocol":
        a = str(clients[int(rng.choice(free))])
        n = int(rng.integers(15, 50))
        ts = t0 + rng.uniform(0, 2 * 3600.0, n)
        return flows(ts, a, "10.2.0.80", 161, "udp", "snmp", 6.5, 0.5), ["10.2.0.80"], a
    raise ValueError(f"unknown scenario {kind!r}; known: {', '.join(SMALL_SCENARIOS)}")


def synthetic_connections(
    seed: int = 0,
    weeks: int = 5,
    clients: int = 36,
    rate: float = 30.0,
    start: str = "2024-01-01",
    attack_week: int | None = None,
    dos_flows: int = 3000,
    attacks: bool = True,
    small: Sequence[str] = (),
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A seeded enterprise: `clients` workstations with daily habits (their own services, hours
    and rates), servers with nightly jobs, and in `attack_week` (default: the last) one client
    turned attacker: a port scan, a ping scan, an ssh brute force and a SYN flood (DoS).

    `small` adds quiet scenarios in the same week, each from its own client (see
    `SMALL_SCENARIOS`): `new_host` (an unknown address talks to five servers), `lateral_movement`
    (client -> client over smb, then that client -> the file server over rdp minutes later),
    `beaconing` (small ssl connections every ~5 minutes to a new external host) and
    `new_protocol` (snmp to the intranet server a client uses every day).

    Returns the normalised connection table and a truth dict shaped like the generator's
    truth.json (`scenarios`: id, type, window, hosts {attacker, victims}, start, end, uids,
    pairs)."""
    rng = np.random.default_rng(seed)
    t0 = dt.datetime.fromisoformat(start).replace(tzinfo=dt.UTC)
    t0 -= dt.timedelta(days=t0.weekday())  # a Monday
    base = t0.timestamp()
    days = 7 * weeks
    cl = np.array([f"10.1.{i // 200}.{10 + i % 200}" for i in range(clients)], dtype=object)
    pools = {
        "dns": np.array(["10.2.0.53"], dtype=object),
        "intranet": np.array(["10.2.0.80"], dtype=object),
        "files": np.array(["10.2.0.45"], dtype=object),
        "mail": np.array(["10.2.0.25"], dtype=object),
        "db": np.array(["10.2.0.54"], dtype=object),
        "ssh": np.array(["10.2.0.22", "10.2.0.23", "10.2.0.24"], dtype=object),
        "external": np.array(
            [f"198.51.100.{i}" for i in range(1, 40)] + [f"203.0.113.{i}" for i in range(1, 40)],
            dtype=object,
        ),
    }
    admins = set(rng.choice(clients, size=max(2, clients // 10), replace=False).tolist())
    parts = []
    cat_w = rng.dirichlet(np.ones(len(_CATALOG)) * 0.8, size=clients)
    for i in range(clients):  # per host habits (a few dozen hosts), flows vectorised
        start_h = rng.uniform(6.5, 9.5)
        end_h = start_h + rng.uniform(7.0, 10.0)
        lam = rate * rng.uniform(0.5, 1.5)
        per_day = rng.poisson(lam * (end_h - start_h), days)
        weekend = (np.arange(days) % 7) >= 5
        per_day = np.where(
            weekend, rng.poisson(lam * 0.3, days) * (rng.random(days) < 0.2), per_day
        )
        n = int(per_day.sum())
        day = np.repeat(np.arange(days), per_day)
        hours = rng.uniform(start_h, end_h, n)
        ts = base + day * 86400.0 + hours * 3600.0
        w = cat_w[i].copy()
        if i in admins:
            w = np.append(w, 0.15)
        else:
            w = np.append(w, 0.0)
        w /= w.sum()
        k = rng.choice(len(w), size=n, p=w)
        names = [c[0] for c in _CATALOG] + ["ssh"]
        pool_of = [c[1] for c in _CATALOG] + ["ssh"]
        dport = np.array([c[2] for c in _CATALOG] + [22])[k]
        proto = np.array([c[3] for c in _CATALOG] + ["tcp"], dtype=object)[k]
        service = np.array([c[4] for c in _CATALOG] + ["ssh"], dtype=object)[k]
        logb = np.array([c[5] for c in _CATALOG] + [9.0])[k]
        sdb = np.array([c[6] for c in _CATALOG] + [1.2])[k]
        dst = np.empty(n, dtype=object)
        for j, pool in enumerate(pool_of):
            m = k == j
            if m.any():
                p = pools[pool]
                # each client favours a few external sites
                if names[j] in ("web", "http"):
                    fav = rng.choice(len(p), size=min(6, len(p)), replace=False)
                    dst[m] = p[rng.choice(fav, size=int(m.sum()))]
                else:
                    dst[m] = p[rng.integers(0, len(p), int(m.sum()))]
        parts.append(_flows(rng, ts, np.full(n, cl[i]), dst, dport, proto, service, logb, sdb))
        # always-on background: DNS and update checks around the clock
        nb = rng.poisson(2.0 * 24 * days)
        tsb = base + rng.uniform(0, days * 86400.0, nb)
        kb = rng.random(nb) < 0.7
        parts.append(
            _flows(
                rng,
                tsb,
                np.full(nb, cl[i]),
                np.where(kb, "10.2.0.53", "203.0.113.200").astype(object),
                np.where(kb, 53, 443),
                np.where(kb, "udp", "tcp").astype(object),
                np.where(kb, "dns", "ssl").astype(object),
                np.where(kb, 5.0, 8.5),
                np.where(kb, 0.3, 0.5),
            )
        )
    # nightly backup: file server -> backup server, 01:00-01:30
    nd = days * 40
    day = np.repeat(np.arange(days), 40)
    tsn = base + day * 86400.0 + 3600.0 + rng.uniform(0, 1800.0, nd)
    parts.append(
        _flows(
            rng,
            tsn,
            np.full(nd, "10.2.0.45", dtype=object),
            np.full(nd, "10.2.0.90", dtype=object),
            np.full(nd, 873),
            np.full(nd, "tcp", dtype=object),
            np.full(nd, "rsync", dtype=object),
            np.full(nd, 15.0),
            np.full(nd, 0.8),
        )
    )
    frame = pd.concat(parts, ignore_index=True)

    # ---- planted attacks ------------------------------------------------------------------
    aw = weeks - 1 if attack_week is None else attack_week
    regular = [i for i in range(clients) if i not in admins]
    attacker = str(cl[int(rng.choice(regular))])
    week0 = base + aw * 7 * 86400.0
    scenarios = []
    planted: list[tuple[str, pd.DataFrame, list[str]]] = []

    def at(day: int, hour: float) -> float:
        return week0 + day * 86400.0 + hour * 3600.0

    servers = ["10.2.0.80", "10.2.0.45", "10.2.0.25", "10.2.0.54", "10.2.0.53"]
    # port scan of one server: 1..1024 and some high ports, no replies or rejects
    victim = str(rng.choice(servers))
    ports = np.concatenate([np.arange(1, 1025), rng.integers(1025, 65535, 200)])
    t = at(int(rng.integers(0, 5)), float(rng.uniform(1, 22)))
    n = len(ports)
    st = np.where(rng.random(n) < 0.6, "S0", "REJ").astype(object)
    f = _flows(
        rng,
        t + np.sort(rng.uniform(0, 240, n)),
        np.full(n, attacker, dtype=object),
        np.full(n, victim, dtype=object),
        ports,
        np.full(n, "tcp", dtype=object),
        np.full(n, "-", dtype=object),
        np.zeros(n),
        np.zeros(n),
        state=st,
    )
    planted.append(("port_scan", f, [victim]))
    # ping scan of a client subnet
    targets = np.array([f"10.1.0.{i}" for i in range(1, 255)], dtype=object)
    n = len(targets)
    t = at(int(rng.integers(0, 5)), float(rng.uniform(1, 22)))
    f = _flows(
        rng,
        t + np.sort(rng.uniform(0, 120, n)),
        np.full(n, attacker, dtype=object),
        targets,
        np.zeros(n, dtype=int),
        np.full(n, "icmp", dtype=object),
        np.full(n, "-", dtype=object),
        np.full(n, 4.1),
        np.full(n, 0.01),
        state=np.full(n, "OTH", dtype=object),
        pkts=np.ones(n),
    )
    f["sport"] = np.int32(8)
    f["dport"] = np.int32(0)
    f["src_bytes"], f["dst_bytes"] = 64.0, 0.0
    f["history"] = "-"
    planted.append(("ping_scan", f, []))
    # ssh brute force against one ssh server
    victim = str(rng.choice(pools["ssh"]))
    n = 400
    t = at(int(rng.integers(0, 5)), float(rng.uniform(1, 21)))
    f = _flows(
        rng,
        t + np.sort(rng.uniform(0, 1800, n)),
        np.full(n, attacker, dtype=object),
        np.full(n, victim, dtype=object),
        np.full(n, 22),
        np.full(n, "tcp", dtype=object),
        np.full(n, "ssh", dtype=object),
        np.full(n, 8.1),
        np.full(n, 0.15),
        state=np.full(n, "SF", dtype=object),
    )
    planted.append(("brute_force", f, [victim]))
    # SYN flood against the intranet web server
    victim = "10.2.0.80"
    n = dos_flows
    t = at(int(rng.integers(0, 5)), float(rng.uniform(1, 22)))
    f = _flows(
        rng,
        t + np.sort(rng.uniform(0, 600, n)),
        np.full(n, attacker, dtype=object),
        np.full(n, victim, dtype=object),
        np.full(n, 443),
        np.full(n, "tcp", dtype=object),
        np.full(n, "-", dtype=object),
        np.zeros(n),
        np.zeros(n),
        state=np.full(n, "S0", dtype=object),
    )
    planted.append(("dos", f, [victim]))

    attackers = {kind: attacker for kind, _, _ in planted}
    for kind in small:
        f, victims, who = _small_scenario(
            kind, seed, cl, admins | {int(np.flatnonzero(cl == attacker)[0])}, week0, attackers
        )
        planted.append((kind, f, victims))
        attackers[kind] = who
    frames = [frame]
    for j, (kind, f, victims) in enumerate(planted if attacks else planted[4:]):
        f = f.copy()
        f["uid"] = [f"CA{j}{i:015d}" for i in range(len(f))]
        frames.append(f)
        ts = f["ts"].to_numpy()
        pairs = f[["src", "dst"]].drop_duplicates()
        scenarios.append(
            {
                "id": f"s{j + 1}-{kind}",
                "type": kind,
                "window": windows.window_of(float(ts.min())),
                "hosts": {"attacker": attackers[kind], "victims": victims},
                "start": float(ts.min()),
                "end": float(ts.max()),
                "uids": f["uid"].tolist(),
                "pairs": pairs.to_numpy().tolist(),
            }
        )
    frame["uid"] = [f"CN{i:016d}" for i in range(len(frame))]
    out = pd.concat(frames, ignore_index=True).sort_values("ts", kind="stable")
    out = out.reset_index(drop=True)
    out["line"] = np.arange(1, len(out) + 1, dtype=np.int64)
    out["ts"] = out["ts"].astype("float64")
    # the generator name it was first published under, kept so that outputs stay identical
    truth = {"seed": seed, "scenarios": scenarios, "generator": "graphnet.evaluate.synthetic"}
    return out, truth
