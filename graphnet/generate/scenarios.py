"""Planted scenarios: what happens, to whom and when (all drawn from the seed).

Each scenario is planned once, up front: its records are generated in full (they are small: a
few thousand at most) and tagged with the scenario's index, so the writers can label them
(CIDDS attackID/class) and collect their uids for truth.json. The handshake anomaly is the one
exception: it changes the outcome of an existing background stream (see ``StaleFlip``).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphnet.generate import conns as C
from graphnet.generate.applogs import _B32, _HEX, _SYLL, AppPlant, random_strings
from graphnet.generate.conns import Conns, Profile, Sizes
from graphnet.generate.network import DEV, OFFICE, Network, ip_text, is_public, random_public
from graphnet.generate.traffic import (
    DAY_US,
    HOUR_US,
    P_DNS,
    P_IMAP,
    P_KRB,
    P_LDAP,
    P_SMB,
    P_WEB_INT,
    PERIODIC_PROFILES,
    US,
    Background,
    Forbid,
    StaleFlip,
    pair_key,
)

logger = logging.getLogger(__name__)

SCENARIOS: dict[str, str] = {
    "attack_server": "an internal client turns attack server for a week: ping scan of a subnet, "
                     "port scan, SSH brute force and a SYN flood (the CIDDS-001 week-2 story)",
    "lateral_movement": "A->B->C over services those pairs never used (SMB/RDP/WinRM/SSH), "
                        "the second hop minutes after the first",
    "beaconing": "C2 beaconing from one client to a never-seen external host "
                 "(periodic, small, jittered ssl/443)",
    "handshake_anomaly": "a pair whose connections always timed out (S0) completes handshakes "
                         "(SF)",
    "new_protocol": "two hosts that already talk (http) start using a new protocol/service",
    "new_host": "a never-seen internal host appears and talks successfully to several servers",
}

#: scenarios that live in dns.log / http.log: planted only with `GenerateOptions.app_logs`,
#: after (and independently of) the scenarios above, so that the conn logs of a seed without
#: application logs stay byte for byte what they were
APP_SCENARIOS: dict[str, str] = {
    "dns_tunnel": "a client tunnels data over DNS: hundreds of random-looking subdomains of one "
                  "registered domain, TXT and NULL queries, for a few hours",
    "dga": "a DGA-like client resolves many random domains, nearly all NXDOMAIN",
    "ua_beacon": "an http/80 beacon to a never-seen external host with a user agent nobody "
                 "else uses",
}

NMAP_COMMON_HIGH = (
    1025, 1080, 1433, 1521, 1723, 2049, 2121, 2375, 3000, 3128, 3268, 3306, 3389, 4443, 4444,
    5000, 5060, 5432, 5601, 5800, 5900, 5985, 5986, 6000, 6379, 7001, 8000, 8008, 8009, 8080,
    8081, 8443, 8888, 9000, 9090, 9100, 9200, 9418, 10000, 11211, 27017, 49152, 49153, 49154,
)
OPEN_PORTS: dict[str, tuple[int, ...]] = {
    "dns": (53, 22), "dc": (53, 88, 135, 139, 389, 445, 464, 636, 3268, 3389, 5985),
    "web": (22, 80, 443), "app": (22, 8080, 8443), "db": (22, 3306), "file": (135, 139, 445, 3389),
    "mail": (22, 25, 110, 143, 587, 993, 995), "backup": (22,), "git": (22, 80, 443),
    "router": (22, 80, 443), "printer": (80, 443, 515, 631, 9100),
    "office": (135, 139, 445), "dev": (22,), "mgmt": (135, 139, 445), "admin": (22,),
    "monitor": (22, 80, 443),
}


@dataclass
class Planned:
    name: str
    attack_id: int
    window: str
    start_us: int
    end_us: int
    hosts: dict[str, Any]
    pairs: list[list[str]]
    description: str
    details: dict[str, Any] = field(default_factory=dict)
    phases: list[dict[str, Any]] = field(default_factory=list)
    records: Conns = field(default_factory=C.empty)
    app: AppPlant | None = None  # application-log fields of its connections (APP_SCENARIOS)


def iso_week(us: int) -> str:
    d = dt.datetime.fromtimestamp(us / US, tz=dt.UTC)
    y, w, _ = d.isocalendar()
    return f"{y}-W{w:02d}"


def iso_time(us: int) -> str:
    d = dt.datetime.fromtimestamp(us // US, tz=dt.UTC).replace(microsecond=us % US)
    return d.isoformat().replace("+00:00", "Z")


class _Planner:
    def __init__(self, net: Network, bg: Background, seed: int, weeks: int, start_us: int,
                 gaps: list[tuple[int, int]], ids: dict[int, str]) -> None:
        self.net = net
        self.bg = bg
        self.weeks = weeks
        self.start_us = start_us
        self.gaps = gaps
        self.ids = ids  # ip -> host id as written in this format
        self.rng = np.random.default_rng([seed, 6])
        cl = net.clients
        self.used: set[int] = set()
        # attackers come from ordinary clients that are not part of the stale background
        self.eligible = [i for i in range(len(cl)) if int(cl.role[i]) in (OFFICE, DEV, 2)
                         and i not in set(int(x) for x in net.stale.client)]
        self.forbid_pairs: list[int] = []
        self.forbid_pp: list[tuple[int, int]] = []
        self.forbid_hosts: list[int] = []
        self.flip: StaleFlip | None = None
        self.scanned_subnet: str | None = None

    # ---- helpers
    def hid(self, ip: int) -> str:
        return self.ids.get(int(ip)) or ip_text(int(ip))

    def week(self) -> int:
        return int(self.rng.integers(2, self.weeks + 1)) if self.weeks >= 2 else 1

    def client(self, pool: list[int] | None = None) -> int:
        cand = [i for i in (pool if pool is not None else self.eligible) if i not in self.used]
        if not cand:
            cand = [i for i in range(len(self.net.clients)) if i not in self.used]
        i = int(cand[int(self.rng.integers(0, len(cand)))])
        self.used.add(i)
        return i

    def in_gap(self, t0: int, t1: int) -> bool:
        return any(t0 < g1 and g0 < t1 for g0, g1 in self.gaps)

    def work_time(self, week: int, ci: int | None, days: tuple[int, ...] = (0, 1, 2, 3, 4),
                  span_s: float = 3600.0) -> int:
        """A time in `week` on one of `days` inside the client's working hours, not in a gap."""
        cl = self.net.clients
        lo, hi = (9, 17) if ci is None else (int(cl.start_h[ci]), int(cl.end_h[ci]) - 1)
        hi = max(hi, lo + 1)
        for _ in range(200):
            d = (week - 1) * 7 + int(self.rng.choice(days))
            h = int(self.rng.integers(lo, hi))
            t = self.start_us + d * DAY_US + h * HOUR_US + int(self.rng.integers(0, HOUR_US))
            if not self.in_gap(t - HOUR_US, t + int(span_s * US)):
                if ci is None or self.bg.day_state(d)[1][ci, h] >= 0.3:
                    return t
        return t

    def work_time_after(self, t_min: int, week: int, ci: int, span_s: float) -> int:
        """A working-hours time after `t_min` (at least 10 minutes), in the same week."""
        day0 = int((t_min - self.start_us) // DAY_US) % 7
        for _ in range(50):
            t = self.work_time(week, ci, days=tuple(range(min(day0, 4), 5)), span_s=span_s)
            if t > t_min + 600 * US:
                return t
        return t_min + int(self.rng.uniform(15, 60) * 60 * US)

    def on_gate(self, ci: int, ts: np.ndarray) -> np.ndarray:
        """Is client ci's machine on at each time (same rule as the background)?"""
        rel = (ts - self.start_us) // HOUR_US
        day = rel // 24
        ok = np.zeros(ts.shape[0], dtype=bool)
        for d in np.unique(day):
            m = day == d
            inten = self.bg.day_state(int(d))[1][ci]
            ok[m] = inten[rel[m] % 24] > 0
        return ok

    def drop_gaps(self, c: Conns) -> Conns:
        keep = np.ones(len(c), dtype=bool)
        for g0, g1 in self.gaps:
            keep &= ~((c.ts >= g0) & (c.ts < g1))
        return c.take(np.flatnonzero(keep))

    def week_end(self, week: int) -> int:
        return self.start_us + week * 7 * DAY_US

    # ---- 1. attack server (CIDDS week 2)
    def attack_server(self, tag: int, attack_id: int) -> Planned:
        rng, net = self.rng, self.net
        cl = net.clients
        a = self.client()
        A = int(cl.ip[a])
        linux = bool(cl.linux[a])
        w = self.week()
        parts: list[Conns] = []
        phases: list[dict[str, Any]] = []
        role_of = {h.ip: h.role for h in net.hosts if h.internal}
        # ping sweep of a whole /24
        names = [n for n in net.subnets if n != "management"]
        sn = names[int(rng.integers(0, len(names)))]
        self.scanned_subnet = sn
        base = int(net.internal_nets[list(net.subnets).index(sn)][0])
        t = self.work_time(w, a, days=(0, 1, 2), span_s=4 * 3600)
        addrs = np.array([base | o for o in range(1, 255) if (base | o) != A], dtype=np.uint32)
        gaps = rng.exponential(1.0 / rng.uniform(20, 120), addrs.shape[0])
        ts = t + (np.cumsum(gaps) * US).astype(np.int64)
        alive = np.isin(addrs, np.array(list(role_of), dtype=np.uint32))
        ping = Profile("pingscan", C.ICMP, (0,), "-", icmp_payload=0, icmp_pkts=(1,), rtt=0.0004)
        rec = C.realise(rng, ping, ts, np.full(addrs.shape[0], A), addrs,
                        np.full(addrs.shape[0], linux),
                        states=np.where(alive, C.SF, C.S0), tag=tag, atype=2)
        parts.append(rec)
        phases.append({"attack_type": "pingScan", "start": iso_time(int(ts[0])),
                       "end": iso_time(int(ts[-1])), "subnet": net.subnets[sn],
                       "connections": int(addrs.shape[0]), "alive": int(alive.sum())})
        # SYN port scan of a few live hosts (servers preferred), soon after the sweep
        servers = [ip for ip, r in role_of.items() if r in OPEN_PORTS and r not in
                   ("router", "printer", "office", "dev", "mgmt", "admin", "monitor")]
        live_in = [int(x) for x in addrs[alive]]
        pool = sorted(set(servers) | set(live_in[: 3]))
        k = int(rng.integers(2, 4))
        targets = [int(x) for x in rng.choice(np.array(pool, np.uint32), size=min(k, len(pool)),
                                              replace=False)]
        t_scan = int(ts[-1]) + int(rng.uniform(5, 60) * 60 * US)
        candidates = np.array(sorted(set(range(1, 1025)) | set(NMAP_COMMON_HIGH)), dtype=np.int32)
        # attack volumes: absolute (an nmap top-1000 scan is what it is), only trimmed for
        # very small networks so that the attack stays a modest part of the week
        week_volume = self.bg.scale * 5.4
        top = int(np.clip(week_volume * 0.007, 400, 1000))
        n_ports = int(rng.integers(int(top * 0.75), top + 1))
        scan_parts: list[Conns] = []
        tcur = t_scan
        for tgt in targets:
            ports = rng.permutation(rng.choice(candidates, size=n_ports, replace=False))
            role = role_of.get(tgt, "office")
            open_p = set(OPEN_PORTS.get(role, ()))
            if role == "backup":
                open_p.add(net.backup_port)
            tgt_linux = net.servers_linux.get(tgt, role in ("dev", "router", "printer"))
            is_open = np.isin(ports, np.array(sorted(open_p), dtype=np.int32))
            rej_p = 0.95 if tgt_linux else 0.15
            closed_rej = rng.random(n_ports) < rej_p
            rate = rng.uniform(150, 900)
            tt = tcur + (np.cumsum(rng.exponential(1.0 / rate, n_ports)) * US).astype(np.int64)
            tcur = int(tt[-1]) + int(rng.uniform(1, 20) * US)
            sport = np.full(n_ports, int(rng.integers(32768, 61000)), dtype=np.int32)
            scan_parts.append(self._syn_scan(tt, A, tgt, ports, sport, is_open, closed_rej, tag))
        scan = Conns.concat(scan_parts)
        parts.append(scan)
        phases.append({"attack_type": "portScan", "start": iso_time(int(scan.ts.min())),
                       "end": iso_time(int(scan.ts.max())),
                       "targets": [self.hid(x) for x in targets],
                       "connections": len(scan), "ports_per_target": n_ports})
        # SSH brute force against a Linux server
        ssh_srv = [ip for ip, lin in net.servers_linux.items() if lin]
        ssh_srv = ssh_srv or [ip for ip in servers]
        victim_bf = int(ssh_srv[int(rng.integers(0, len(ssh_srv)))])
        t_bf = self.work_time_after(int(scan.ts.max()), w, a, span_s=3 * 3600)
        n_bf = int(np.clip(week_volume * 0.005, 100, 1200) * rng.uniform(0.5, 1.0))
        tt = t_bf + (np.cumsum(rng.uniform(0.3, 4.0, n_bf)) * US).astype(np.int64)
        brute = Profile("bruteforce", C.TCP, (22,), "ssh", (("SF", 0.75), ("RSTO", 0.25)),
                        orig=Sizes(1900, 0.08), resp=Sizes(2700, 0.08), dur=Sizes(2.0, 0.35),
                        server_first=True, rtt=0.0006)
        rec = C.realise(rng, brute, tt, np.full(n_bf, A), np.full(n_bf, victim_bf),
                        np.full(n_bf, linux), tag=tag, atype=4)
        parts.append(rec)
        phases.append({"attack_type": "bruteForce", "start": iso_time(int(tt[0])),
                       "end": iso_time(int(tt[-1])), "targets": [self.hid(victim_bf)],
                       "connections": n_bf, "port": 22})
        # SYN flood against a web/app server
        web = [int(x) for x in np.concatenate([net.role("web"), net.role("app")])]
        victim_dos = web[int(rng.integers(0, len(web)))]
        dport = 80 if role_of.get(victim_dos) == "web" else 8080
        t_dos = self.work_time_after(int(tt[-1]), w, a, span_s=1800)
        n_dos = int(np.clip(week_volume * 0.04, 800, 8000) * rng.uniform(0.6, 1.0))
        span = rng.uniform(180, 600)
        tt = t_dos + np.sort((rng.random(n_dos) * span * US).astype(np.int64))
        # a full backlog leaves most SYNs unanswered (S0); a few get SYN-ACK then RST (ShR)
        answered = rng.random(n_dos) >= 0.92
        rec = self._syn_scan(tt, A, victim_dos, np.full(n_dos, dport, np.int32),
                             C.ephemeral_ports(rng, np.full(n_dos, linux)), answered,
                             np.zeros(n_dos, dtype=bool), tag, atype=3)
        parts.append(rec)
        phases.append({"attack_type": "dos", "start": iso_time(int(tt[0])),
                       "end": iso_time(int(tt[-1])), "targets": [self.hid(victim_dos)],
                       "connections": n_dos, "port": dport})
        recs = self.drop_gaps(Conns.concat(parts))
        victims = sorted({*targets, victim_bf, victim_dos})
        dsts = np.unique(recs.dst)
        return Planned(
            "attack_server", attack_id, iso_week(int(recs.ts.min())), int(recs.ts.min()),
            int(recs.ts.max()),
            {"attacker": self.hid(A), "victims": [self.hid(v) for v in victims],
             "scanned_subnet": net.subnets[sn]},
            [[self.hid(A), self.hid(int(d))] for d in dsts],
            f"{self.hid(A)} pings {net.subnets[sn]}, port-scans {len(targets)} hosts, "
            f"brute-forces ssh on {self.hid(victim_bf)} and SYN-floods {self.hid(victim_dos)}",
            {}, phases, recs,
        )

    def _syn_scan(self, ts: np.ndarray, src: int, dst: int, ports: np.ndarray, sport: np.ndarray,
                  is_open: np.ndarray, closed_rej: np.ndarray, tag: int, atype: int = 1) -> Conns:
        """nmap -sS as Zeek logs it: open ShR (RSTO), closed Sr (REJ), filtered S (S0)."""
        n = int(ts.shape[0])
        rtt = (self.rng.lognormal(np.log(0.0004), 0.4, n) * US).astype(np.int64) + 1
        state = np.where(is_open, C.RSTO, np.where(closed_rej, C.REJ, C.S0)).astype(np.uint8)
        hist = np.select([state == C.RSTO, state == C.REJ],
                         [C.history_code("ShR"), C.history_code("Sr")],
                         C.history_code("S")).astype(np.uint8)
        dur = np.where(state == C.S0, -1, rtt)
        b = np.where(state == C.S0, -1, 0)
        return Conns(
            ts=ts.astype(np.int64), src=np.full(n, src, np.uint32), dst=np.full(n, dst, np.uint32),
            sport=sport.astype(np.int32), dport=ports.astype(np.int32),
            proto=np.zeros(n, np.uint8), service=np.zeros(n, np.uint8),
            duration=dur.astype(np.int64), orig_bytes=b.astype(np.int64),
            resp_bytes=b.astype(np.int64), state=state, history=hist,
            orig_pkts=np.where(state == C.RSTO, 2, 1).astype(np.int64),
            orig_ip_bytes=np.where(state == C.RSTO, 84, 44).astype(np.int64),
            resp_pkts=np.where(state == C.S0, 0, 1).astype(np.int64),
            resp_ip_bytes=np.select([state == C.RSTO, state == C.REJ], [44, 40],
                                    0).astype(np.int64),
            tag=np.full(n, tag, np.int16), atype=np.full(n, atype, np.uint8),
        )

    # ---- 2. lateral movement
    def lateral_movement(self, tag: int, attack_id: int) -> Planned:
        rng, net = self.rng, self.net
        cl = net.clients
        a = self.client()
        b = self.client()
        A, B = int(cl.ip[a]), int(cl.ip[b])
        b_linux = bool(cl.linux[b])
        win_hop = [(445, "smb", "SMB"), (3389, "rdp", "RDP"), (5985, "http", "WinRM")]
        s1 = (22, "ssh", "SSH") if b_linux else win_hop[int(rng.integers(0, 3))]
        cands = []
        for role in ("dc", "file", "db", "backup", "app", "git", "mail"):
            for ip in net.role(role):
                lin = net.servers_linux.get(int(ip), False)
                opts = [(22, "ssh", "SSH")] if lin else [(3389, "rdp", "RDP"),
                                                         (5985, "http", "WinRM")]
                if not lin and role not in ("dc", "file"):
                    opts.append((445, "smb", "SMB"))
                if role == "git" and int(cl.role[b]) == DEV:
                    opts = [o for o in opts if o[0] != 22]
                for o in opts:
                    cands.append((int(ip), o))
        c_ip, s2 = cands[int(rng.integers(0, len(cands)))]
        w = self.week()
        t_ab = self.work_time(w, a, span_s=3 * 3600)
        n1 = int(rng.integers(6, 26))
        n2 = int(rng.integers(6, 31))
        hop1 = t_ab + np.sort((rng.random(n1) * rng.uniform(5, 20) * 60 * US).astype(np.int64))
        hop1[0] = t_ab
        t_bc = t_ab + int(rng.uniform(2, 15) * 60 * US)
        hop2 = t_bc + np.sort((rng.random(n2) * rng.uniform(5, 30) * 60 * US).astype(np.int64))
        hop2[0] = t_bc
        parts = [
            C.realise(rng, self._lateral_profile(s1), hop1, np.full(n1, A), np.full(n1, B),
                      np.full(n1, bool(cl.linux[a])), tag=tag),
            C.realise(rng, self._lateral_profile(s2), hop2, np.full(n2, B), np.full(n2, c_ip),
                      np.full(n2, b_linux), tag=tag),
        ]
        recs = self.drop_gaps(Conns.concat(parts))
        self.forbid_pairs.append(int(pair_key(np.array([A]), np.array([B]))[0]))
        self.forbid_pp.append((int(pair_key(np.array([B]), np.array([c_ip]))[0]), s2[0]))
        return Planned(
            "lateral_movement", attack_id, iso_week(t_ab), int(recs.ts.min()), int(recs.ts.max()),
            {"attacker": self.hid(A), "pivot": self.hid(B), "target": self.hid(c_ip),
             "victims": [self.hid(B), self.hid(c_ip)]},
            [[self.hid(A), self.hid(B)], [self.hid(B), self.hid(c_ip)]],
            f"{self.hid(A)} moves to {self.hid(B)} over {s1[2]} and {(t_bc - t_ab) / 60e6:.1f} "
            f"minutes later from there to {self.hid(c_ip)} over {s2[2]}",
            {"hops": [{"src": self.hid(A), "dst": self.hid(B), "port": s1[0], "service": s1[1],
                       "connections": n1},
                      {"src": self.hid(B), "dst": self.hid(c_ip), "port": s2[0],
                       "service": s2[1], "connections": n2}],
             "delay_seconds": round((t_bc - t_ab) / US, 3)},
            [], recs,
        )

    @staticmethod
    def _lateral_profile(s: tuple[int, str, str]) -> Profile:
        port, svc, kind = s
        if kind == "RDP":
            return Profile("rdp", C.TCP, (port,), svc, (("SF", 0.8), ("S1", 0.2)),
                           orig=Sizes(2e5, 1.0), resp=Sizes(2e6, 1.0), dur=Sizes(300, 1.0),
                           rtt=0.0006)
        if kind == "SSH":
            return Profile("ssh", C.TCP, (port,), svc, (("SF", 0.95), ("RSTO", 0.05)),
                           orig=Sizes(8000, 1.2), resp=Sizes(30000, 1.4), dur=Sizes(60, 1.2),
                           server_first=True, rtt=0.0006)
        if kind == "SMB":
            return Profile("psexec", C.TCP, (port,), svc, (("SF", 0.9), ("RSTO", 0.1)),
                           orig=Sizes(1.5e5, 1.2), resp=Sizes(2e4, 0.8), dur=Sizes(3, 1.0),
                           rtt=0.0006)
        return Profile("winrm", C.TCP, (port,), svc, (("SF", 0.95), ("RSTR", 0.05)),
                       orig=Sizes(6000, 0.8), resp=Sizes(9000, 1.0), dur=Sizes(1.5, 1.0),
                       rtt=0.0006)

    # ---- 3. beaconing
    def beaconing(self, tag: int, attack_id: int) -> Planned:
        rng, net = self.rng, self.net
        cl = net.clients
        x = self.client()
        X = int(cl.ip[x])
        known = np.concatenate([net.popular, net.mid, net.web_clients, net.mail_ext,
                                *[net.role(r) for r in ("resolver", "vendor", "mirror", "ntp",
                                                         "code-hosting")]])
        while True:
            E = int(random_public(rng, 1)[0])
            if E not in set(int(v) for v in known) and bool(is_public(np.array([E]))[0]):
                break
        w = self.week()
        t0 = self.work_time(w, x, days=(0, 1, 2))
        t_end = self.week_end(w)
        hours = np.arange(t0 // HOUR_US, t_end // HOUR_US) * HOUR_US
        on_hours = int(self.on_gate(x, hours).sum())
        target_n = int(rng.integers(200, 601))
        period = float(np.clip(on_hours * 3600.0 / target_n, 30.0, 3600.0))
        jitter = float(rng.uniform(0.05, 0.25))
        k = np.arange(int((t_end - t0) / (period * US)) + 1)
        tt = t0 + ((k * period + rng.normal(0, jitter * period, k.shape[0])) * US).astype(np.int64)
        tt = np.sort(tt[(tt >= t0) & (tt < t_end)])
        tt = tt[self.on_gate(x, tt)]
        port = 443
        prof = Profile("beacon", C.TCP, (port,), "ssl", (("SF", 0.97), ("RSTR", 0.03)),
                       orig=Sizes(float(rng.uniform(250, 700)), 0.12),
                       resp=Sizes(float(rng.uniform(300, 1500)), 0.25, 0.03, 2e4, 1.5),
                       dur=Sizes(float(rng.uniform(0.2, 1.0)), 0.3), rtt=0.04,
                       throughput=5e5)
        recs = self.drop_gaps(C.realise(rng, prof, tt, np.full(tt.shape[0], X),
                                        np.full(tt.shape[0], E), np.full(tt.shape[0],
                                                                         bool(cl.linux[x])),
                                        tag=tag))
        self.forbid_hosts.append(E)
        return Planned(
            "beaconing", attack_id, iso_week(t0), int(recs.ts.min()), int(recs.ts.max()),
            {"attacker": self.hid(X), "victims": [self.hid(E)], "c2": self.hid(E)},
            [[self.hid(X), self.hid(E)]],
            f"{self.hid(X)} beacons to the new external host {self.hid(E)} on ssl/{port} every "
            f"{period:.0f} s (jitter {jitter:.0%}) while the machine is on",
            {"period_seconds": round(period, 3), "jitter": round(jitter, 4), "port": port,
             "c2_ip": ip_text(E)},
            [], recs,
        )

    # ---- 4. handshake anomaly
    def handshake_anomaly(self, tag: int, attack_id: int) -> Planned:
        rng, net = self.rng, self.net
        st = net.stale
        cand = [i for i in range(st.src.shape[0]) if not st.rej[i] and st.dst_is_server[i]]
        cand = cand or [i for i in range(st.src.shape[0]) if not st.rej[i]]
        j = int(cand[int(rng.integers(0, len(cand)))])
        X, Y = int(st.src[j]), int(st.dst[j])
        x = int(st.client[j])
        self.used.add(x)
        w = self.week()
        t0 = self.work_time(w, x, days=(0, 1, 2))
        t1 = self.week_end(w)
        self.flip = StaleFlip(j, t0, t1, tag)
        self.forbid_pairs.append(int(pair_key(np.array([X]), np.array([Y]))[0]))
        port = int(st.port[j])
        return Planned(
            "handshake_anomaly", attack_id, iso_week(t0), t0, t1,
            {"attacker": self.hid(X), "victims": [self.hid(Y)]},
            [[self.hid(X), self.hid(Y)]],
            f"{self.hid(X)} -> {self.hid(Y)}:{port} always timed out (S0); from "
            f"{iso_time(t0)} the handshakes complete (SF)",
            {"port": port, "service": st.service[j], "usual_state": "S0", "new_state": "SF",
             "period_seconds": round(float(st.period[j]), 3)},
            [], C.empty(),
        )

    # ---- 5. new protocol between hosts that already talk
    def new_protocol(self, tag: int, attack_id: int) -> Planned:
        rng, net = self.rng, self.net
        cl = net.clients
        p = self.bg.periodic
        dash = PERIODIC_PROFILES.index(next(x for x in PERIODIC_PROFILES if x.name == "dashboard"))
        with_dash = sorted({int(c) for c in p.client[p.prof == dash]})
        pool = [i for i in with_dash if i in self.eligible] or with_dash
        x = self.client(pool)
        X, Y = int(cl.ip[x]), int(cl.fav_web[x])
        options = [(C.TCP, 22, "ssh"), (C.UDP, 161, "snmp"), (C.UDP, 69, "tftp"),
                   (C.TCP, 21, "ftp"), (C.UDP, 53, "dns")]
        proto, port, svc = options[int(rng.integers(0, len(options)))]
        w = self.week()
        t0 = self.work_time(w, x, span_s=3 * 3600)
        n = int(rng.integers(10, 61))
        tt = t0 + np.sort((rng.random(n) * rng.uniform(0.5, 3.0) * 3600 * US).astype(np.int64))
        tt[0] = t0
        if proto == C.TCP:
            prof = Profile("newproto", C.TCP, (port,), svc, (("SF", 0.9), ("RSTO", 0.1)),
                           orig=Sizes(3000, 1.0), resp=Sizes(12000, 1.3), dur=Sizes(5, 1.2),
                           server_first=True, rtt=0.0006)
        else:
            prof = Profile("newproto", C.UDP, (port,), svc, (("SF", 1.0),),
                           orig=Sizes(120, 0.5), resp=Sizes(600, 0.9), udp_pkts=(1, 2, 4),
                           rtt=0.0008)
        recs = self.drop_gaps(C.realise(rng, prof, tt, np.full(n, X), np.full(n, Y),
                                        np.full(n, bool(cl.linux[x])), tag=tag))
        self.forbid_pp.append((int(pair_key(np.array([X]), np.array([Y]))[0]), port))
        pname = C.PROTOS[proto]
        return Planned(
            "new_protocol", attack_id, iso_week(t0), int(recs.ts.min()), int(recs.ts.max()),
            {"attacker": self.hid(X), "victims": [self.hid(Y)]},
            [[self.hid(X), self.hid(Y)]],
            f"{self.hid(X)} and {self.hid(Y)} talk http every day; now {pname}/{port} ({svc})",
            {"usual_services": ["http"], "new_proto": pname, "new_port": port,
             "new_service": svc},
            [], recs,
        )

    # ---- 6. new host
    def new_host(self, tag: int, attack_id: int) -> Planned:
        rng, net = self.rng, self.net
        nets = [n for n in net.subnets if n.startswith(("office", "developers"))
                and n != self.scanned_subnet]
        nets = nets or [n for n in net.subnets if n != self.scanned_subnet]
        sn = nets[int(rng.integers(0, len(nets)))]
        free = net.unused[sn]
        N = int(free[int(rng.integers(0, free.shape[0]))])
        w = self.week()
        t0 = self.work_time(w, None, days=(0, 1, 2, 3), span_s=2 * 3600)
        n_days = int(rng.integers(1, 3))
        d0 = int((t0 - self.start_us) // DAY_US)
        servers = {
            "dns": net.role("dns")[:1], "dc": net.role("dc")[:1], "file": net.role("file")[:1],
            "web": net.role("web")[:1], "mail": net.role("mail")[:1],
        }
        mix = (("dns", P_DNS, 0.4), ("dc", P_KRB, 0.12), ("dc", P_LDAP, 0.12),
               ("file", P_SMB, 0.14), ("web", P_WEB_INT, 0.14), ("mail", P_IMAP, 0.08))
        parts: list[Conns] = []
        total = int(rng.integers(80, 301))
        span_end = min(self.start_us + (d0 + n_days) * DAY_US - 6 * HOUR_US, self.week_end(w))
        # office hours only (08-18), from t0 on
        hours = np.arange(t0 // HOUR_US, -(-span_end // HOUR_US))
        hours = hours[((hours % 24) >= 8) & ((hours % 24) < 18)]
        slot = hours[rng.integers(0, hours.shape[0], total)] * HOUR_US
        lo = np.maximum(slot, t0)
        tt = np.sort(lo + (rng.random(total) * (slot + HOUR_US - lo)).astype(np.int64))
        tt[0] = t0
        which = rng.choice(len(mix), size=tt.shape[0], p=np.array([m[2] for m in mix]))
        for i, (kind, prof, _) in enumerate(mix):
            sel = np.flatnonzero(which == i)
            if not sel.shape[0]:
                continue
            prof_ok = Profile(prof.name, prof.proto, prof.ports, prof.service, (("SF", 1.0),),
                              prof.port_p, prof.orig, prof.resp, prof.dur, prof.throughput,
                              prof.rtt, prof.server_first, prof.services_alt)
            dst = np.full(sel.shape[0], servers[kind][0])
            parts.append(C.realise(rng, prof_ok, tt[sel], np.full(sel.shape[0], N), dst,
                                   np.zeros(sel.shape[0], bool), tag=tag))
        recs = self.drop_gaps(Conns.concat(parts))
        self.forbid_hosts.append(N)
        dsts = sorted({int(x) for x in recs.dst})
        return Planned(
            "new_host", attack_id, iso_week(t0), int(recs.ts.min()), int(recs.ts.max()),
            {"attacker": self.hid(N), "victims": [self.hid(d) for d in dsts],
             "new_host": self.hid(N)},
            [[self.hid(N), self.hid(d)] for d in dsts],
            f"a never-seen host {self.hid(N)} in {net.subnets[sn]} talks to "
            f"{len(dsts)} servers",
            {"subnet": net.subnets[sn]}, [], recs,
        )


    # ---- 7. DNS tunnelling (application logs)
    def _fresh_domain(self, tlds: tuple[str, ...]) -> str:
        rng = self.rng
        k = int(rng.integers(2, 4))
        base = "".join(_SYLL[int(i)] for i in rng.integers(0, len(_SYLL), k))
        return f"{base}{int(rng.integers(10, 99))}.{tlds[int(rng.integers(0, len(tlds)))]}"

    def _dns_queries(self, x: int, t0: int, n: int, hours: float, tag: int) -> Conns:
        rng, cl = self.rng, self.net.clients
        tt = t0 + np.sort((rng.random(n) * hours * 3600 * US).astype(np.int64))
        tt[0] = t0
        prof = Profile("dns-app", C.UDP, (53,), "dns", (("SF", 1.0),), orig=Sizes(70, 0.3),
                       resp=Sizes(200, 0.5), rtt=0.002)
        X = int(cl.ip[x])
        return self.drop_gaps(C.realise(rng, prof, tt, np.full(n, X),
                                        np.full(n, int(cl.dns[x])),
                                        np.full(n, bool(cl.linux[x])), tag=tag))

    def dns_tunnel(self, tag: int, attack_id: int) -> Planned:
        rng, cl = self.rng, self.net.clients
        x = self.client()
        X = int(cl.ip[x])
        w = self.week()
        domain = self._fresh_domain(("com", "net", "io"))
        hours = float(rng.uniform(2.0, 5.0))
        t0 = self.work_time(w, x, span_s=hours * 3600)
        n = int(rng.integers(600, 1500))
        recs = self._dns_queries(x, t0, n, hours, tag)
        txt_share = float(rng.uniform(0.6, 0.85))

        def fields(r: np.random.Generator, k: int) -> dict[str, pa.Array]:
            first = random_strings(r, r.integers(30, 61, k), _B32)
            second = random_strings(r, r.integers(8, 25, k), _B32)
            two = pa.array(r.random(k) < 0.5)
            sub = pc.if_else(two, pc.binary_join_element_wise(first, second, "."), first)
            q = pc.binary_join_element_wise(sub, pa.scalar(domain), ".")
            txt = r.random(k) < txt_share
            qtype = pc.if_else(pa.array(txt), pa.scalar("TXT"), pa.scalar("NULL"))
            payload = random_strings(r, r.integers(40, 160, k), _B32)
            answers = pc.if_else(pa.array(txt), payload, pa.scalar("-"))
            return {"query": q, "qtype_name": qtype,
                    "rcode_name": pa.array(["NOERROR"] * k, type=pa.string()),
                    "answers": answers}

        dns_srv = int(cl.dns[x])
        return Planned(
            "dns_tunnel", attack_id, iso_week(t0), int(recs.ts.min()), int(recs.ts.max()),
            {"attacker": self.hid(X), "victims": [self.hid(dns_srv)], "domain": domain},
            [[self.hid(X), self.hid(dns_srv)]],
            f"{self.hid(X)} tunnels data over DNS: {len(recs)} TXT/NULL queries for random "
            f"subdomains of {domain} in {hours:.1f} hours",
            {"domain": domain, "queries": len(recs), "txt_share": round(txt_share, 3),
             "logs": ["conn", "dns"]},
            [], recs, AppPlant("dns", fields),
        )

    # ---- 8. DGA-like client (application logs)
    def dga(self, tag: int, attack_id: int) -> Planned:
        rng, cl = self.rng, self.net.clients
        x = self.client()
        X = int(cl.ip[x])
        w = self.week()
        hours = float(rng.uniform(1.0, 4.0))
        t0 = self.work_time(w, x, span_s=hours * 3600)
        n = int(rng.integers(200, 600))
        recs = self._dns_queries(x, t0, n, hours, tag)
        live = float(rng.uniform(0.01, 0.05))
        tlds = ("com", "net", "org", "info", "biz", "ru", "xyz", "top")

        def fields(r: np.random.Generator, k: int) -> dict[str, pa.Array]:
            label = random_strings(r, r.integers(10, 19, k), _B32[:26])
            tld = pa.array(list(tlds), type=pa.string()).take(
                pa.array(r.integers(0, len(tlds), k)))
            q = pc.binary_join_element_wise(label, tld, ".")
            ok = r.random(k) < live
            rcode = pc.if_else(pa.array(ok), pa.scalar("NOERROR"), pa.scalar("NXDOMAIN"))
            ip = pc.binary_join_element_wise(
                *[pc.cast(pa.array(r.integers(1, 224, k)), pa.string()) for _ in range(4)], ".")
            return {"query": q, "qtype_name": pa.array(["A"] * k, type=pa.string()),
                    "rcode_name": rcode, "answers": pc.if_else(pa.array(ok), ip, pa.scalar("-"))}

        dns_srv = int(cl.dns[x])
        return Planned(
            "dga", attack_id, iso_week(t0), int(recs.ts.min()), int(recs.ts.max()),
            {"attacker": self.hid(X), "victims": [self.hid(dns_srv)]},
            [[self.hid(X), self.hid(dns_srv)]],
            f"{self.hid(X)} resolves {len(recs)} random domains in {hours:.1f} hours, "
            f"{1 - live:.0%} of them NXDOMAIN",
            {"queries": len(recs), "nxdomain_share": round(1 - live, 3), "logs": ["conn", "dns"]},
            [], recs, AppPlant("dns", fields),
        )

    # ---- 9. rare-user-agent http beacon (application logs)
    def ua_beacon(self, tag: int, attack_id: int) -> Planned:
        rng, net = self.rng, self.net
        cl = net.clients
        x = self.client()
        X = int(cl.ip[x])
        known = np.concatenate([net.popular, net.mid, net.web_clients, net.mail_ext])
        while True:
            E = int(random_public(rng, 1)[0])
            if E not in set(int(v) for v in known):
                break
        w = self.week()
        t0 = self.work_time(w, x, days=(0, 1, 2))
        t_end = min(t0 + int(rng.integers(1, 3)) * DAY_US, self.week_end(w))
        period = float(rng.uniform(240, 900))
        jitter = float(rng.uniform(0.05, 0.2))
        k = np.arange(int((t_end - t0) / (period * US)) + 1)
        tt = t0 + ((k * period + rng.normal(0, jitter * period, k.shape[0])) * US).astype(np.int64)
        tt = np.sort(tt[(tt >= t0) & (tt < t_end)])
        tt = tt[self.on_gate(x, tt)]
        prof = Profile("ua-beacon", C.TCP, (80,), "http", (("SF", 1.0),),
                       orig=Sizes(float(rng.uniform(400, 900)), 0.1),
                       resp=Sizes(float(rng.uniform(300, 800)), 0.2), dur=Sizes(0.3, 0.3),
                       rtt=0.04, throughput=5e5)
        recs = self.drop_gaps(C.realise(rng, prof, tt, np.full(tt.shape[0], X),
                                        np.full(tt.shape[0], E),
                                        np.full(tt.shape[0], bool(cl.linux[x])), tag=tag))
        self.forbid_hosts.append(E)
        token = "".join(chr(int(c)) for c in _HEX[rng.integers(0, 16, 8)])
        agent = f"Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.1; Trident/4.0; {token})"
        host = self._fresh_domain(("com", "net", "biz"))
        path = "/" + "".join(chr(int(c)) for c in _B32[rng.integers(0, 26, 6)]) + "/gate.php"

        def fields(r: np.random.Generator, k: int) -> dict[str, pa.Array]:
            uri = pc.binary_join_element_wise(
                pa.scalar(path + "?id="), random_strings(r, np.full(k, 16), _HEX), "")
            return {"method": pa.array(["POST"] * k, type=pa.string()),
                    "host": pa.array([host] * k, type=pa.string()), "uri": uri,
                    "user_agent": pa.array([agent] * k, type=pa.string()),
                    "status_code": pa.array(["200"] * k, type=pa.string()),
                    "resp_mime_types": pa.array(["text/plain"] * k, type=pa.string())}

        return Planned(
            "ua_beacon", attack_id, iso_week(t0), int(recs.ts.min()), int(recs.ts.max()),
            {"attacker": self.hid(X), "victims": [self.hid(E)], "c2": self.hid(E)},
            [[self.hid(X), self.hid(E)]],
            f"{self.hid(X)} posts to http://{host}{path} on {self.hid(E)} every "
            f"{period:.0f} s with the user agent {agent!r}",
            {"period_seconds": round(period, 3), "user_agent": agent, "host": host,
             "logs": ["conn", "http"]},
            [], recs, AppPlant("http", fields),
        )


ORDER: tuple[str, ...] = tuple(SCENARIOS) + tuple(APP_SCENARIOS)


def plan(net: Network, bg: Background, seed: int, weeks: int, start_us: int,
         gaps: list[tuple[int, int]], names: tuple[str, ...], ids: dict[int, str]
         ) -> tuple[list[Planned], Forbid, StaleFlip | None]:
    """Plan the scenarios `names` (in canonical order); returns them with what the background
    must avoid so that what the scenarios claim to be new really is new."""
    p = _Planner(net, bg, seed, weeks, start_us, gaps, ids)
    if weeks < 2 and names:
        logger.warning("only one week: the planted scenarios are placed in it, without a week "
                       "of history before them (generate two or more weeks for a realistic set-up)")
    out: list[Planned] = []
    for name in ORDER:
        if name not in names:
            continue
        tag = len(out)
        out.append(getattr(p, name)(tag, tag + 1))
    forbid = Forbid(
        pairs=np.array(sorted(set(p.forbid_pairs)), dtype=np.uint64),
        pair_ports=np.array([k for k, _ in p.forbid_pp], dtype=np.uint64),
        ports=np.array([v for _, v in p.forbid_pp], dtype=np.int32),
        hosts=np.array(sorted(set(p.forbid_hosts)), dtype=np.uint32),
    )
    return out, forbid, p.flip
