"""Small in-memory weekly networks with stable per-pair habits and planted changes, as
DataFrames, for the novelty, fingerprint, path and feedback tests, benchmarks and demos.

`synthetic_network(seed, ...)` returns a `SyntheticNetwork`: the normalised connection table of
every window, the window ids, what was planted in the last window (`Plant`) and the habits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from graphnet import windows

WEEK = 7 * 86400
# a Monday 00:00 UTC (2024-01-01)
EPOCH = 1704067200.0

SERVICES: dict[str, tuple[str, str, int, str, str, float, float]] = {
    # name: proto, service, dport, conn_state, history, log2 src bytes, log2 dst bytes
    "https": ("tcp", "ssl", 443, "SF", "ShADadFf", 10.0, 14.0),
    "http": ("tcp", "http", 80, "SF", "ShADadFf", 9.0, 13.0),
    "dns": ("udp", "dns", 53, "SF", "Dd", 5.5, 7.0),
    "ldap": ("tcp", "ldap", 389, "SF", "ShADadFf", 9.0, 11.0),
    "smtp": ("tcp", "smtp", 25, "SF", "ShADadFf", 12.0, 8.0),
    "ntp": ("udp", "ntp", 123, "SF", "Dd", 5.6, 5.6),
    "smb": ("tcp", "smb", 445, "SF", "ShADadFf", 11.0, 12.0),
    "rdp": ("tcp", "rdp", 3389, "SF", "ShADadFf", 13.0, 16.0),
    "ssh": ("tcp", "ssh", 22, "SF", "ShADadFf", 11.0, 11.0),
    "kerberos": ("tcp", "krb", 88, "SF", "ShADadFf", 10.0, 10.0),
    "dead": ("tcp", "-", 8080, "S0", "S", -1.0, -1.0),
    "alt-http": ("tcp", "http", 8080, "SF", "ShADadFf", 9.0, 13.0),
}
ODD_STATES = (("S0", "S"), ("REJ", "Sr"), ("RSTO", "ShADadR"), ("SF", "ShADadfF"))


@dataclass
class Plant:
    """What a synthetic network planted in its last window."""

    kind: str
    pairs: list[tuple[str, str]]
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class SyntheticNetwork:
    frame: pd.DataFrame  # all windows, normalised connection table
    windows: list[str]
    plants: list[Plant]
    habits: pd.DataFrame  # the stable pairs

    @property
    def planted_pairs(self) -> list[tuple[str, str]]:
        return [p for plant in self.plants for p in plant.pairs]

    def window_frame(self, window: str) -> pd.DataFrame:
        win = windows.window_ids(self.frame["ts"].to_numpy(), "week").to_numpy()
        return self.frame[win == window].reset_index(drop=True)


def _conn_rows(
    rs: np.random.RandomState,
    src: str,
    dst: str,
    service: str,
    ts: np.ndarray,
    *,
    odd: float = 0.0,
    state: tuple[str, str] | None = None,
) -> dict[str, np.ndarray]:
    proto, svc, port, cs, hist, lsb, ldb = SERVICES[service]
    n = len(ts)
    states = np.full(n, cs if state is None else state[0], dtype=object)
    hists = np.full(n, hist if state is None else state[1], dtype=object)
    if odd > 0 and proto == "tcp" and state is None:
        k = rs.rand(n) < odd
        pick = rs.randint(0, len(ODD_STATES), n)
        states[k] = np.array([s for s, _ in ODD_STATES], dtype=object)[pick[k]]
        hists[k] = np.array([h for _, h in ODD_STATES], dtype=object)[pick[k]]
    no_reply = np.isin(states, ["S0", "REJ"])
    sb = np.where(lsb < 0, 0.0, np.round(np.exp2(lsb + rs.randn(n) * 0.6)))
    db = np.where((ldb < 0) | no_reply, 0.0, np.round(np.exp2(ldb + rs.randn(n) * 0.6)))
    sb = np.where(no_reply, 0.0, sb)
    sp = np.where(no_reply, np.where(states == "S0", 1.0, 1.0), np.ceil(sb / 900) + 3)
    dp = np.where(no_reply, np.where(states == "REJ", 1.0, 0.0), np.ceil(db / 1200) + 2)
    return {
        "ts": ts,
        "src": np.full(n, src, dtype=object),
        "dst": np.full(n, dst, dtype=object),
        "sport": rs.randint(49152, 65535, n).astype("int32"),
        "dport": np.full(n, port, dtype="int32"),
        "proto": np.full(n, proto, dtype=object),
        "service": np.full(n, svc, dtype=object),
        "duration": np.where(no_reply, np.nan, rs.exponential(2.0, n)),
        "src_bytes": sb,
        "dst_bytes": db,
        "src_pkts": sp,
        "dst_pkts": dp,
        "conn_state": states,
        "history": hists,
    }


def _times(rs: np.random.RandomState, start: float, n: int, peak: float) -> np.ndarray:
    day = rs.randint(0, 5, n)  # weekdays
    hour = np.clip(rs.normal(peak, 1.5, n), 0, 23.99)
    return start + day * 86400.0 + hour * 3600.0


def synthetic_network(
    seed: int = 0,
    *,
    n_windows: int = 5,
    n_clients: int = 40,
    n_servers: int = 8,
    conns_per_pair: tuple[int, int] = (20, 60),
    plant: bool = True,
    extra_windows: int = 0,
    repeat: int = 12,
) -> SyntheticNetwork:
    """A small enterprise with stable per-pair habits over `n_windows` weekly windows and, when
    `plant` is true, changes planted in window `n_windows` (1-based): completed handshakes on a
    pair whose connections always time out, a new protocol between two hosts that already
    talk, a lateral-movement chain A -> B -> C over SMB then RDP, and a new host talking to
    several known servers. `extra_windows` more windows repeat the habits (and the handshake
    change, `repeat` completed connections each), e.g. to test feedback on the next window.
    Addresses, ports and habits are drawn
    from the seed: tests must not rely on any particular one."""
    rs = np.random.RandomState(seed)
    octet = rs.permutation(np.arange(10, 250))
    clients = [f"10.{seed % 50}.1.{o}" for o in octet[:n_clients]]
    servers = [f"10.{seed % 50}.2.{o}" for o in octet[n_clients : n_clients + n_servers]]
    offered = {
        s: list(rs.choice(["https", "http", "ldap", "smtp", "smb", "kerberos"], 2, replace=False))
        for s in servers
    }
    dns = servers[0]
    offered[dns] = ["dns", "ntp"]
    habits = []
    for c in clients:
        peers = rs.choice(servers[1:], min(n_servers - 1, rs.randint(2, 5)), replace=False)
        habits.append((c, dns, "dns", float(rs.uniform(8, 14))))
        for s in peers:
            habits.append((c, s, str(rs.choice(offered[s])), float(rs.uniform(8, 17))))
    hab = pd.DataFrame(habits, columns=["src", "dst", "service", "peak"])
    # one pair whose connections always time out (a client trying a closed port)
    habit_pairs = set(zip(hab["src"], hab["dst"], strict=True))
    free = [(c, s) for c in clients for s in servers[1:] if (c, s) not in habit_pairs]
    dead_src, dead_dst = free[int(rs.randint(0, len(free)))]
    hab.loc[len(hab)] = (dead_src, dead_dst, "dead", 11.0)
    hab["rate"] = rs.randint(conns_per_pair[0], conns_per_pair[1] + 1, len(hab))

    total_windows = n_windows + extra_windows
    first = EPOCH + WEEK * int(rs.randint(0, 20))
    parts: list[dict[str, np.ndarray]] = []
    for w in range(total_windows):
        start = first + w * WEEK
        hab_rows: list[Any] = list(hab.itertuples())
        for r in hab_rows:
            n = max(1, int(rs.poisson(r.rate)))
            parts.append(
                _conn_rows(rs, r.src, r.dst, r.service, _times(rs, start, n, r.peak), odd=0.03)
            )
    plants: list[Plant] = []
    if plant:
        start = first + (n_windows - 1) * WEEK
        used = set(zip(hab["src"], hab["dst"], strict=True))
        # 1. handshake anomaly: the port of the dead pair now answers and some connections
        #    complete (also in the extra windows)
        for w in range(n_windows - 1, total_windows):
            s0 = first + w * WEEK
            n_sf = 4 if w == n_windows - 1 else repeat
            parts.append(_conn_rows(rs, dead_src, dead_dst, "alt-http", _times(rs, s0, n_sf, 11.0)))
        plants.append(Plant("handshake_anomaly", [(dead_src, dead_dst)]))
        # 2. new protocol between hosts that already talk
        talk = hab[(hab["service"].isin(["https", "http", "ldap"])) & (hab["src"] != dead_src)]
        pick: Any = talk.iloc[int(rs.randint(0, len(talk)))]
        parts.append(_conn_rows(rs, pick.src, pick.dst, "ssh", _times(rs, start, 6, pick.peak)))
        plants.append(Plant("new_protocol", [(pick.src, pick.dst)], {"service": "ssh"}))
        # 3. lateral movement: A -> B over SMB, then B -> C over RDP within the hour
        cand = [c for c in clients if c not in (dead_src, pick.src)]
        a, b = (str(x) for x in rs.choice(cand, 2, replace=False))
        fresh = [s for s in servers[1:] if (b, s) not in used]
        c = str(rs.choice(fresh or servers[1:]))
        t0 = start + 2 * 86400 + 14 * 3600 + float(rs.randint(0, 1800))
        parts.append(_conn_rows(rs, a, b, "smb", t0 + np.sort(rs.uniform(0, 300, 3))))
        parts.append(_conn_rows(rs, b, c, "rdp", t0 + 1200 + np.sort(rs.uniform(0, 300, 3))))
        plants.append(Plant("lateral_movement", [(a, b), (b, c)], {"t0": t0}))
        # 4. a new host talking to several known servers, on their usual services
        new = f"10.{seed % 50}.1.{int(octet[-1])}"
        targets = [str(s) for s in rs.choice(servers[1:], 3, replace=False)]
        for s in targets:
            parts.append(
                _conn_rows(rs, new, s, offered[s][0], _times(rs, start, 10, 12.0), odd=0.03)
            )
        plants.append(Plant("new_host", [(new, s) for s in targets]))
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    frame = pd.DataFrame(cols).sort_values("ts", kind="stable").reset_index(drop=True)
    frame.insert(1, "uid", [f"C{seed:03d}{i:09d}" for i in range(len(frame))])
    frame["line"] = np.arange(1, len(frame) + 1, dtype=np.int64)
    for c in ("uid", "src", "dst", "proto", "service", "conn_state", "history"):
        frame[c] = frame[c].astype(object)
    wins = sorted(pd.unique(windows.window_ids(frame["ts"].to_numpy(), "week")))
    return SyntheticNetwork(frame, [str(w) for w in wins], plants, hab)
