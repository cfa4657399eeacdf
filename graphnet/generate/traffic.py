"""Background (benign) enterprise traffic, generated one block of hours at a time.

Everything a block needs is derived from (seed, day, first hour), so blocks are independent of
each other and of the order in which they are computed. Volumes are calibrated so that an
average working day carries about `scale` connections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from graphnet.generate import conns as C
from graphnet.generate.conns import Conns, Profile, Sizes
from graphnet.generate.network import Network, random_public

US = 1_000_000
HOUR_US = 3600 * US
DAY_US = 24 * HOUR_US

# ----------------------------------------------------------------------------- profiles
_EXT: dict[str, Any] = {"rtt": 0.025, "throughput": 1.5e6}
_INT: dict[str, Any] = {"rtt": 0.0006, "throughput": 4e7}

P_DNS = Profile("dns", C.UDP, (53,), "dns", (("SF", 0.975), ("S0", 0.025)),
                orig=Sizes(38, 0.25), resp=Sizes(120, 0.6), udp_pkts=(1, 1, 1, 1, 2), rtt=0.002)
P_DNS_FWD = Profile("dns-fwd", C.UDP, (53,), "dns", (("SF", 0.99), ("S0", 0.01)),
                    orig=Sizes(40, 0.25), resp=Sizes(140, 0.6), rtt=0.018)
P_SSL_EXT = Profile("ssl-ext", C.TCP, (443,), "ssl",
                    (("SF", 0.915), ("RSTO", 0.02), ("RSTR", 0.025), ("S0", 0.012),
                     ("S1", 0.018), ("OTH", 0.01)),
                    orig=Sizes(1100, 1.0, 0.01, 2e5, 1.3),
                    resp=Sizes(6500, 1.7, 0.02, 1e6, 1.2), dur=Sizes(1.2, 1.7), **_EXT)
P_HTTP_EXT = Profile("http-ext", C.TCP, (80,), "http",
                     (("SF", 0.92), ("RSTO", 0.02), ("RSTR", 0.02), ("S0", 0.015),
                      ("REJ", 0.005), ("S1", 0.01), ("OTH", 0.01)),
                     orig=Sizes(480, 0.6), resp=Sizes(3500, 1.8, 0.02, 5e5, 1.2),
                     dur=Sizes(0.6, 1.5), **_EXT)
P_WEB_INT = Profile("web-int", C.TCP, (443, 80), "ssl", (("SF", 0.96), ("RSTR", 0.02),
                                                         ("RSTO", 0.01), ("S1", 0.01)),
                    port_p=(0.6, 0.4), orig=Sizes(900, 0.9), resp=Sizes(12000, 1.5),
                    dur=Sizes(0.4, 1.4), **_INT)
P_WEB_INT_HTTP = Profile("web-int-http", C.TCP, (80,), "http",
                         (("SF", 0.97), ("RSTR", 0.02), ("S1", 0.01)),
                         orig=Sizes(700, 0.7), resp=Sizes(9000, 1.4), dur=Sizes(0.3, 1.2), **_INT)
P_SMB = Profile("smb", C.TCP, (445,), "smb", (("SF", 0.9), ("S1", 0.06), ("RSTO", 0.02),
                                               ("RSTR", 0.02)),
                services_alt=(("gssapi,smb", 1.0),),
                orig=Sizes(6000, 1.6, 0.02, 5e6, 1.1), resp=Sizes(30000, 2.0, 0.03, 1e7, 1.1),
                dur=Sizes(20, 1.8), **_INT)
P_KRB = Profile("krb", C.TCP, (88,), "krb_tcp", (("SF", 0.99), ("RSTR", 0.01)),
                orig=Sizes(1500, 0.3), resp=Sizes(1600, 0.3), dur=Sizes(0.01, 0.8), **_INT)
P_LDAP = Profile("ldap", C.TCP, (389,), "ldap", (("SF", 0.97), ("S1", 0.03)),
                 orig=Sizes(900, 0.8), resp=Sizes(3000, 1.2), dur=Sizes(0.05, 1.5), **_INT)
P_RPC = Profile("rpc", C.TCP, (135,), "dce_rpc", (("SF", 0.98), ("RSTO", 0.02)),
                orig=Sizes(300, 0.4), resp=Sizes(250, 0.4), dur=Sizes(0.01, 0.7), **_INT)
P_DC_SMB = Profile("dc-smb", C.TCP, (445,), "smb", (("SF", 0.95), ("S1", 0.05)),
                   services_alt=(("gssapi,smb", 1.0),),
                   orig=Sizes(4000, 1.0), resp=Sizes(9000, 1.3), dur=Sizes(5, 1.5), **_INT)
P_SMTP_SEND = Profile("smtp-send", C.TCP, (587,), "smtp", (("SF", 0.99), ("RSTO", 0.01)),
                      orig=Sizes(25000, 1.5, 0.03, 2e6, 1.3), resp=Sizes(900, 0.3),
                      dur=Sizes(0.8, 0.8), server_first=True, **_INT)
P_GIT = Profile("git", C.TCP, (22,), "ssh", (("SF", 0.97), ("RSTO", 0.02), ("RSTR", 0.01)),
                orig=Sizes(3500, 0.8), resp=Sizes(25000, 1.6, 0.02, 5e6, 1.2),
                dur=Sizes(1.5, 1.0), server_first=True, **_INT)
P_APP = Profile("app", C.TCP, (8080, 8443), "http", (("SF", 0.96), ("RSTR", 0.02),
                                                      ("REJ", 0.01), ("S1", 0.01)),
                port_p=(0.7, 0.3), orig=Sizes(900, 1.0), resp=Sizes(6000, 1.5),
                dur=Sizes(0.2, 1.5), **_INT)
P_SSH_EXT = Profile("ssh-ext", C.TCP, (22,), "ssh", (("SF", 0.97), ("RSTO", 0.03)),
                    orig=Sizes(3000, 0.8), resp=Sizes(40000, 1.8), dur=Sizes(2, 1.0),
                    server_first=True, **_EXT)
P_ADMIN_SSH = Profile("admin-ssh", C.TCP, (22,), "ssh",
                      (("SF", 0.93), ("RSTO", 0.03), ("S1", 0.04)),
                      orig=Sizes(6000, 1.6, 0.03, 1e7, 1.1), resp=Sizes(40000, 1.8, 0.03, 5e7, 1.1),
                      dur=Sizes(90, 2.0), server_first=True, **_INT)
P_ADMIN_WEB = Profile("admin-web", C.TCP, (443, 8443), "ssl", (("SF", 0.97), ("RSTO", 0.03)),
                      port_p=(0.5, 0.5), orig=Sizes(1500, 1.0), resp=Sizes(20000, 1.4),
                      dur=Sizes(2, 1.5), **_INT)
P_PRINT = Profile("print", C.TCP, (9100, 631), "-", (("SF", 0.96), ("RSTR", 0.02), ("REJ", 0.02)),
                  port_p=(0.7, 0.3), orig=Sizes(250000, 1.3), resp=Sizes(200, 1.0),
                  dur=Sizes(2, 0.8), throughput=4e6, rtt=0.001)
P_MDNS = Profile("mdns", C.UDP, (5353,), "dns", (("S0", 1.0),), orig=Sizes(120, 0.6),
                 udp_pkts=(1, 1, 2))
P_SSDP = Profile("ssdp", C.UDP, (1900,), "-", (("S0", 1.0),), orig=Sizes(170, 0.2),
                 udp_pkts=(1, 2, 4))
P_ODD = Profile("odd", C.TCP, (445, 139, 3389, 80, 8080, 22, 5900, 135, 9100, 23, 21, 515),
                "-", (("REJ", 0.6), ("S0", 0.4)))
P_AGENT = Profile("agent", C.TCP, (443,), "ssl", (("SF", 0.985), ("RSTR", 0.01), ("S0", 0.005)),
                  orig=Sizes(1400, 0.4), resp=Sizes(4200, 0.8, 0.01, 5e6, 1.2),
                  dur=Sizes(0.5, 0.7), **_EXT)
P_IMAP = Profile("imap", C.TCP, (993,), "ssl", (("SF", 0.97), ("S1", 0.02), ("RSTO", 0.01)),
                 orig=Sizes(700, 0.5), resp=Sizes(2500, 1.5, 0.02, 2e6, 1.2),
                 dur=Sizes(1.0, 1.0), server_first=True, **_INT)
P_DASH = Profile("dashboard", C.TCP, (80,), "http", (("SF", 0.99), ("RSTR", 0.01)),
                 orig=Sizes(600, 0.2), resp=Sizes(4000, 0.6), dur=Sizes(0.15, 0.6), **_INT)
P_NTP = Profile("ntp", C.UDP, (123,), "ntp", (("SF", 0.99), ("S0", 0.01)),
                orig=Sizes(48, 0.01), resp=Sizes(48, 0.01), rtt=0.001)
P_NTP_EXT = Profile("ntp-ext", C.UDP, (123,), "ntp", (("SF", 0.97), ("S0", 0.03)),
                    orig=Sizes(48, 0.01), resp=Sizes(48, 0.01), rtt=0.03)
P_PING = Profile("ping", C.ICMP, (0,), "-", (("SF", 0.995), ("S0", 0.005)), icmp_pkts=(3,),
                 icmp_payload=56, rtt=0.0004)
P_SNMP = Profile("snmp", C.UDP, (161,), "snmp", (("SF", 0.995), ("S0", 0.005)),
                 orig=Sizes(90, 0.3), resp=Sizes(400, 0.8), udp_pkts=(1, 2, 4), rtt=0.002)
P_CHECK = Profile("http-check", C.TCP, (80,), "http", (("SF", 0.995), ("REJ", 0.005)),
                  orig=Sizes(140, 0.1), resp=Sizes(900, 0.4), dur=Sizes(0.01, 0.5), **_INT)
P_SRV_LDAP = Profile("srv-ldap", C.TCP, (389,), "ldap", (("SF", 0.99), ("S1", 0.01)),
                     orig=Sizes(800, 0.5), resp=Sizes(2000, 0.8), dur=Sizes(0.05, 1.0), **_INT)
P_APT = Profile("updates", C.TCP, (80,), "http", (("SF", 0.98), ("RSTR", 0.02)),
                orig=Sizes(900, 0.5), resp=Sizes(2e6, 2.0), dur=Sizes(1.0, 1.0), **_EXT)
P_IN_WEB = Profile("inbound-web", C.TCP, (443, 80), "ssl",
                   (("SF", 0.9), ("RSTO", 0.03), ("RSTR", 0.02), ("S1", 0.02), ("OTH", 0.03)),
                   port_p=(0.85, 0.15), orig=Sizes(800, 0.9), resp=Sizes(15000, 1.6),
                   dur=Sizes(0.8, 1.6), **_EXT)
P_IN_MAIL = Profile("inbound-mail", C.TCP, (25,), "smtp",
                    (("SF", 0.93), ("RSTO", 0.04), ("REJ", 0.01), ("S0", 0.02)),
                    orig=Sizes(30000, 1.6, 0.03, 2e6, 1.3), resp=Sizes(700, 0.3),
                    dur=Sizes(1.5, 1.0), server_first=True, **_EXT)
P_OUT_MAIL = Profile("outbound-mail", C.TCP, (25,), "smtp",
                     (("SF", 0.95), ("RSTO", 0.02), ("S0", 0.03)),
                     orig=Sizes(25000, 1.5), resp=Sizes(700, 0.3), dur=Sizes(1.5, 1.0),
                     server_first=True, **_EXT)
P_SCAN_OPEN = Profile("scan-open", C.TCP, (80,), "-", (("SF", 0.5), ("RSTO", 0.5)),
                      orig=Sizes(20, 3.0), resp=Sizes(200, 2.0), dur=Sizes(0.2, 1.0), **_EXT)
P_DB = Profile("db", C.TCP, (3306,), "mysql", (("SF", 0.98), ("RSTO", 0.02)),
               orig=Sizes(700, 1.0), resp=Sizes(5000, 1.8), dur=Sizes(0.02, 1.5), **_INT)
P_PROXY = Profile("web-app", C.TCP, (8080,), "http", (("SF", 0.98), ("RSTR", 0.02)),
                  orig=Sizes(900, 0.9), resp=Sizes(8000, 1.5), dur=Sizes(0.1, 1.3), **_INT)

SCAN_PORTS = np.array([22, 23, 80, 443, 3389, 445, 8080, 5900, 1433, 3306, 6379, 25, 21, 8443,
                       110, 143, 53, 139, 5060, 8000, 8888, 9200, 27017, 11211], dtype=np.int32)

# client activities: (name, profile, destination kind); shares per role (office, dev, mgmt, admin)
ACTIVITIES: tuple[tuple[str, Profile, str, tuple[float, float, float, float]], ...] = (
    ("dns", P_DNS, "dns", (0.28, 0.26, 0.28, 0.25)),
    ("ssl_ext", P_SSL_EXT, "ext", (0.31, 0.30, 0.30, 0.20)),
    ("http_ext", P_HTTP_EXT, "ext", (0.05, 0.04, 0.05, 0.03)),
    ("web_int", P_WEB_INT, "web", (0.07, 0.04, 0.07, 0.05)),
    ("smb", P_SMB, "file", (0.07, 0.04, 0.06, 0.04)),
    ("krb", P_KRB, "dc", (0.03, 0.015, 0.03, 0.03)),
    ("ldap", P_LDAP, "dc", (0.03, 0.015, 0.03, 0.03)),
    ("rpc", P_RPC, "dc", (0.02, 0.005, 0.02, 0.01)),
    ("dc_smb", P_DC_SMB, "dc", (0.015, 0.005, 0.015, 0.01)),
    ("smtp", P_SMTP_SEND, "mail", (0.012, 0.008, 0.012, 0.01)),
    ("git", P_GIT, "git", (0.0, 0.08, 0.0, 0.0)),
    ("app", P_APP, "app", (0.0, 0.06, 0.0, 0.0)),
    ("ssh_ext", P_SSH_EXT, "github", (0.0, 0.012, 0.0, 0.0)),
    ("admin_ssh", P_ADMIN_SSH, "server", (0.0, 0.0, 0.0, 0.2)),
    ("admin_web", P_ADMIN_WEB, "server", (0.0, 0.0, 0.0, 0.08)),
    ("print", P_PRINT, "printer", (0.006, 0.002, 0.006, 0.002)),
    ("mdns", P_MDNS, "mdns", (0.015, 0.01, 0.015, 0.005)),
    ("ssdp", P_SSDP, "ssdp", (0.01, 0.004, 0.01, 0.0)),
    ("odd", P_ODD, "odd", (0.004, 0.004, 0.004, 0.004)),
)

# shares of the daily volume for server-side Poisson streams
SHARES = {"inbound_web": 0.035, "inbound_mail": 0.008, "outbound_mail": 0.004, "scan": 0.006,
          "db": 0.03, "proxy": 0.02}
PERIODIC_SHARE = 0.15
DNS_FWD_P = 0.22
P_ABSENT = 0.04


def _cdf(w: np.ndarray) -> np.ndarray:
    c = np.cumsum(w, dtype=float)
    return c / c[-1]


def _draw(rng: np.random.Generator, cdf: np.ndarray, n: int) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), cdf.shape[0] - 1)


def pair_key(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    return (src.astype(np.uint64) << np.uint64(32)) | dst.astype(np.uint64)


@dataclass
class Forbid:
    """What planted scenarios need the background never to do (so novelty is real)."""

    pairs: np.ndarray  # uint64 src<<32|dst: no background at all on this directed pair
    pair_ports: np.ndarray  # uint64 keys of pairs that must not use port ...
    ports: np.ndarray  # ... the port aligned with pair_ports
    hosts: np.ndarray  # uint32: never in the background, either side

    @staticmethod
    def none() -> Forbid:
        return Forbid(np.zeros(0, np.uint64), np.zeros(0, np.uint64), np.zeros(0, np.int32),
                      np.zeros(0, np.uint32))

    def keep(self, c: Conns) -> np.ndarray:
        ok = np.ones(len(c), dtype=bool)
        if self.hosts.size:
            ok &= ~np.isin(c.src, self.hosts) & ~np.isin(c.dst, self.hosts)
        if self.pairs.size or self.pair_ports.size:
            key = pair_key(c.src, c.dst)
            if self.pairs.size:
                ok &= ~np.isin(key, self.pairs)
            for k, p in zip(self.pair_ports, self.ports, strict=True):
                ok &= ~((key == k) & (c.dport == p))
        return ok


@dataclass
class StaleFlip:
    """The handshake-anomaly scenario: stale pair `index` completes handshakes in [t0, t1)."""

    index: int
    t0: int
    t1: int
    tag: int


@dataclass
class _Periodic:
    src: np.ndarray
    dst: np.ndarray
    period: np.ndarray  # seconds
    phase: np.ndarray  # seconds
    jitter: np.ndarray  # fraction of the period (std)
    prof: np.ndarray  # index into PERIODIC_PROFILES
    gate: np.ndarray  # 0 always, 1 client powered on, 2 client working
    client: np.ndarray  # index into Clients (gates 1, 2)
    linux: np.ndarray
    scalable: np.ndarray  # period stretched when the requested scale is small


PERIODIC_PROFILES: tuple[Profile, ...] = (P_AGENT, P_IMAP, P_DASH, P_NTP, P_PING, P_SNMP, P_CHECK,
                                          P_SRV_LDAP, P_NTP_EXT, P_APT)


class Background:
    def __init__(
        self,
        net: Network,
        seed: int,
        scale: float,
        start_us: int,
        gaps: list[tuple[int, int]],
        forbid: Forbid | None = None,
        flip: StaleFlip | None = None,
    ) -> None:
        self.net = net
        self.seed = seed
        self.scale = float(scale)
        self.start_us = start_us
        self.gaps = gaps
        self.forbid = forbid or Forbid.none()
        self.flip = flip
        rng = np.random.default_rng([seed, 2])
        cl = net.clients
        self.act_p = np.array([a[3] for a in ACTIVITIES], dtype=float).T  # (roles, acts)
        self.act_p /= self.act_p.sum(axis=1, keepdims=True)
        self.act_cdf = np.cumsum(self.act_p, axis=1)
        self._days: dict[int, tuple[bool, np.ndarray]] = {}
        self.popular_cdf = _cdf(net.popular_w)
        self.mid_cdf = _cdf(net.mid_w)
        self.fav_cdf = _cdf(net.fav_w)
        self.webc_cdf = _cdf(1.0 / np.arange(1, net.web_clients.shape[0] + 1) ** 0.8)
        self.mail_cdf = _cdf(1.0 / np.arange(1, net.mail_ext.shape[0] + 1) ** 0.9)
        self.servers = np.concatenate([net.role(r) for r in
                                       ("dns", "dc", "web", "app", "db", "file", "mail", "backup",
                                        "git")])
        self.internal_live = np.array(sorted(h.ip for h in net.hosts if h.internal), np.uint32)
        self.unused_all = np.concatenate(list(net.unused.values()))
        self.periodic = self._periodic(rng)

        # network-wide diurnal profiles for server-side streams
        w = cl.activity[:, None]
        wd = (cl.weekday * w).sum(axis=0) + 1e-9
        we = (cl.weekend * w).sum(axis=0) + 1e-9
        norm = wd.sum()
        self.diurnal_int = {True: wd / norm, False: we / norm}
        flat = np.full(24, 1.0 / 24)
        self.diurnal_ext = {True: 0.6 * wd / norm + 0.4 * flat,
                            False: 0.6 * we / norm + 0.25 * flat}

        # ---- calibration: expected volume of a working day
        on = cl.weekday > 0
        work = cl.weekday >= 0.3
        gate_hours = np.select(
            [self.periodic.gate == 1, self.periodic.gate == 2],
            [on.sum(axis=1)[self.periodic.client], work.sum(axis=1)[self.periodic.client]],
            24,
        )
        per_day = gate_hours * 3600.0 / self.periodic.period
        scal = self.periodic.scalable
        target = PERIODIC_SHARE * self.scale
        if per_day[scal].sum() > target:
            stretch = per_day[scal].sum() / target
            self.periodic.period[scal] *= stretch
            per_day[scal] /= stretch
        e_periodic = float(per_day.sum())
        e_server = sum(SHARES.values()) * self.scale
        unit = float((cl.weekday.sum(axis=1) * cl.activity).sum() * (1 - P_ABSENT))
        dns_share = float((self.act_p[cl.role, 0] * cl.activity * cl.weekday.sum(axis=1)).sum()
                          * (1 - P_ABSENT)) / max(unit, 1e-9)
        e_backup = 2.0 * len(self.servers)
        rest = self.scale - e_periodic - e_server - e_backup
        rest = max(rest, 0.4 * self.scale)
        e_interactive = rest / (1.0 + DNS_FWD_P * dns_share * 0.975)
        self.k = e_interactive / max(unit, 1e-9)

    # ------------------------------------------------------------------ periodic plan
    def _periodic(self, rng: np.random.Generator) -> _Periodic:
        net, cl = self.net, self.net.clients
        n_c = len(cl)
        rows: list[dict[str, np.ndarray]] = []

        def add(src: np.ndarray, dst: np.ndarray, period: Any, jitter: float, prof: Profile,
                gate: int, client: np.ndarray | None, linux: np.ndarray, scalable: bool) -> None:
            n = int(src.shape[0])
            if n == 0:
                return
            rows.append({
                "src": src.astype(np.uint32), "dst": dst.astype(np.uint32),
                "period": period.astype(float), "phase": rng.uniform(0, 1, n) * period,
                "jitter": np.full(n, jitter), "prof": np.full(n, PERIODIC_PROFILES.index(prof)),
                "gate": np.full(n, gate, dtype=np.int8),
                "client": (np.full(n, -1) if client is None else client).astype(np.int64),
                "linux": linux.astype(bool), "scalable": np.full(n, scalable),
            })

        idx = np.arange(n_c)
        vendors = net.role("vendor")
        # software agents (updates, telemetry, sync): 1-2 per client, while the machine is on
        for extra in (False, True):
            sel = idx if not extra else idx[rng.random(n_c) < 0.5]
            add(cl.ip[sel], vendors[rng.integers(0, vendors.shape[0], sel.shape[0])],
                rng.uniform(900, 3600, sel.shape[0]), 0.02, P_AGENT, 1, sel, cl.linux[sel], True)
        mail = net.role("mail")
        sel = idx[rng.random(n_c) < 0.85]
        add(cl.ip[sel], mail[sel % mail.shape[0]], rng.uniform(300, 900, sel.shape[0]), 0.05,
            P_IMAP, 2, sel, cl.linux[sel], True)
        sel = idx[rng.random(n_c) < 0.35]
        add(cl.ip[sel], cl.fav_web[sel], rng.uniform(600, 1800, sel.shape[0]), 0.1, P_DASH, 2, sel,
            cl.linux[sel], True)
        add(cl.ip, cl.gateway, np.where(cl.linux, rng.uniform(512, 1024, n_c),
                                        rng.uniform(3000, 3600, n_c)),
            0.01, P_NTP, 1, idx, cl.linux, True)
        monitor = net.role("monitor")
        if monitor.shape[0]:
            mon = monitor[0]
            targets = np.concatenate([net.role("router"), self.servers, net.role("printer")])
            nt = targets.shape[0]
            add(np.full(nt, mon), targets, np.full(nt, float(rng.choice([60, 120, 300]))), 0.01,
                P_PING, 0, None, np.ones(nt, bool), True)
            snmp_t = np.concatenate([net.role("router"), self.servers])
            ns = snmp_t.shape[0]
            add(np.full(ns, mon), snmp_t, np.full(ns, 300.0), 0.01, P_SNMP, 0, None,
                np.ones(ns, bool), True)
            web = np.concatenate([net.role("web"), net.role("app")])
            add(np.full(web.shape[0], mon), web, np.full(web.shape[0], 120.0), 0.01, P_CHECK, 0,
                None, np.ones(web.shape[0], bool), True)
        dc = net.role("dc")
        others = self.servers[~np.isin(self.servers, dc)]
        lin = np.array([net.servers_linux.get(int(x), False) for x in others], dtype=bool)
        add(others, dc[np.arange(others.shape[0]) % dc.shape[0]],
            rng.uniform(600, 1800, others.shape[0]), 0.05, P_SRV_LDAP, 0, None, lin, True)
        timesrc = np.concatenate([net.role("router")[:1], dc])
        ntp_ext = net.role("ntp")
        add(timesrc, ntp_ext[rng.integers(0, ntp_ext.shape[0], timesrc.shape[0])],
            np.full(timesrc.shape[0], 1024.0), 0.01, P_NTP_EXT, 0, None,
            np.ones(timesrc.shape[0], bool), True)
        # nightly package updates: once a day at the server's own time (cron)
        lin_srv = np.array([ip for ip in self.servers if net.servers_linux.get(int(ip), False)],
                           np.uint32)
        mirrors = net.role("mirror")
        if lin_srv.shape[0]:
            per = np.full(lin_srv.shape[0], 86400.0)
            rows_before = len(rows)
            add(lin_srv, mirrors[rng.integers(0, mirrors.shape[0], lin_srv.shape[0])], per, 0.0005,
                P_APT, 0, None, np.ones(lin_srv.shape[0], bool), False)
            if len(rows) > rows_before:
                rows[-1]["phase"] = rng.uniform(2 * 3600, 5 * 3600, int(lin_srv.shape[0]))
        keys = list(rows[0].keys())
        cat = {k: np.concatenate([r[k] for r in rows]) for k in keys}
        return _Periodic(**cat)

    # ------------------------------------------------------------------ a block of hours
    def day_state(self, day: int) -> tuple[bool, np.ndarray]:
        """(working day?, per-client intensity for the whole day), shared by all its blocks."""
        got = self._days.get(day)
        if got is None:
            got = self._days[day] = self._day_state(day)
            if len(self._days) > 64:
                del self._days[min(self._days)]
        return got

    def _day_state(self, day: int) -> tuple[bool, np.ndarray]:
        drng = np.random.default_rng([self.seed, 3, day])
        cl = self.net.clients
        weekday = (day % 7) < 5
        base = cl.weekday if weekday else cl.weekend
        factor = drng.lognormal(0.0, 0.07) * ((1.05, 1.0, 1.0, 0.98, 0.9, 1.0, 1.0)[day % 7])
        absent = drng.random(len(cl)) < (P_ABSENT if weekday else 0.0)
        off = np.where(cl.night_on, 0.025, 0.0)[:, None]
        inten = np.where(absent[:, None], np.minimum(base, off), base) * factor
        return weekday, inten

    def block(self, first_hour: int, n_hours: int) -> Conns:
        """Background connections started in hours [first_hour, first_hour + n_hours) counted
        from the start of the run (a block may span several days)."""
        rng = np.random.default_rng([self.seed, 4, first_hour, n_hours])
        hours = first_hour + np.arange(n_hours)
        days = hours // 24
        hod = hours % 24
        inten = np.empty((len(self.net.clients), n_hours))
        weekday_h = np.empty(n_hours, dtype=bool)
        for d in np.unique(days).tolist():
            m = days == d
            wd, inten_day = self.day_state(d)
            inten[:, m] = inten_day[:, hod[m]]
            weekday_h[m] = wd
        t0 = self.start_us + first_hour * HOUR_US
        t1 = t0 + n_hours * HOUR_US
        parts: list[Conns] = []
        filt: list[Conns] = []
        inter, dns = self._interactive(rng, inten, t0)
        filt.append(inter)
        parts.append(self._dns_forward(rng, dns))
        filt.append(self._server_streams(rng, weekday_h, hod, t0))
        parts.append(self._periodic_block(rng, inten, t0, t1))
        for d in np.unique(days).tolist():
            parts.append(self._backups(d, t0, t1))
        stale = self._stale_block(rng, inten, t0, t1)
        out = Conns.concat(filt)
        out = out.take(np.flatnonzero(self.forbid.keep(out)))
        out = Conns.concat([out, *parts])
        out = out.take(np.flatnonzero(self.forbid.keep(out)))
        out = Conns.concat([out, stale])
        keep = (out.ts >= t0) & (out.ts < t1)
        for g0, g1 in self.gaps:
            keep &= ~((out.ts >= g0) & (out.ts < g1))
        return out.take(np.flatnonzero(keep))

    def _interactive(self, rng: np.random.Generator, inten: np.ndarray, t0: int
                     ) -> tuple[Conns, Conns]:
        cl = self.net.clients
        lam = inten * (cl.activity * self.k)[:, None]
        counts = rng.poisson(lam)
        hh = np.flatnonzero(counts.ravel())
        cnt = counts.ravel()[hh]
        n_h = inten.shape[1]
        host_of = hh // n_h
        hour_of = hh % n_h
        # bursts: a person's connections come in clusters (a page load, opening a document)
        nb = np.maximum(1, np.round(cnt / 5.0)).astype(np.int64)
        b_off = np.concatenate([[0], np.cumsum(nb)[:-1]])
        b_t = rng.uniform(0, 3600, int(nb.sum()))
        rep = np.repeat(np.arange(hh.shape[0]), cnt)
        burst = b_off[rep] + (rng.random(rep.shape[0]) * nb[rep]).astype(np.int64)
        sec = b_t[burst] + rng.exponential(6.0, rep.shape[0])
        over = sec >= 3600.0
        sec[over] = rng.uniform(0, 3600, int(over.sum()))
        ts = t0 + hour_of[rep] * HOUR_US + (sec * US).astype(np.int64)
        c = host_of[rep]
        n = c.shape[0]
        act = np.empty(n, dtype=np.int64)
        u = rng.random(n)
        for r in range(len(self.act_p)):
            m = cl.role[c] == r
            if m.any():
                act[m] = np.minimum(np.searchsorted(self.act_cdf[r], u[m], side="right"),
                                    len(ACTIVITIES) - 1)
        parts: list[Conns] = []
        dns = C.empty()
        for a, (name, prof, dkind, _) in enumerate(ACTIVITIES):
            sel = np.flatnonzero(act == a)
            if sel.shape[0] == 0:
                continue
            ci = c[sel]
            dst = self._dest(rng, dkind, ci)
            states = None
            if dkind == "odd":
                live = np.isin(dst, self.internal_live)
                states = np.where(live & (rng.random(sel.shape[0]) < 0.7), C.REJ, C.S0)
            prof_use = prof
            sport = np.full(sel.shape[0], 5353, np.int32) if name == "mdns" else None
            rec = C.realise(rng, prof_use, ts[sel], cl.ip[ci], dst, cl.linux[ci], states=states,
                            sport=sport)
            if name == "web_int":  # port 80 is plain http
                rec.service = np.where((rec.dport == 80) & (rec.service > 0),
                                       C.service_code("http"), rec.service).astype(np.uint8)
            if name == "dns":
                dns = rec
            parts.append(rec)
        return Conns.concat(parts), dns

    def _dest(self, rng: np.random.Generator, kind: str, ci: np.ndarray) -> np.ndarray:
        net, cl = self.net, self.net.clients
        n = int(ci.shape[0])
        if kind == "dns":
            return cl.dns[ci]
        if kind == "ext":
            u = rng.random(n)
            out = net.popular[_draw(rng, self.popular_cdf, n)]
            fav = net.mid[cl.fav_ext[ci, _draw(rng, self.fav_cdf, n)]]
            mid = net.mid[_draw(rng, self.mid_cdf, n)]
            out = np.where(u >= 0.55, fav, out)
            out = np.where(u >= 0.85, mid, out)
            tail = u >= 0.994  # the long tail: addresses never seen before, new every day
            k = int(tail.sum())
            if k:
                pool = random_public(rng, max(8, k // 2))
                out[tail] = pool[rng.integers(0, pool.shape[0], k)]
            return out.astype(np.uint32)
        if kind == "web":
            webs = np.concatenate([net.role("web"), net.role("app")])
            other = webs[rng.integers(0, webs.shape[0], n)]
            return np.where(rng.random(n) < 0.85, cl.fav_web[ci], other).astype(np.uint32)
        if kind in ("file", "dc", "mail", "git", "app"):
            pool = net.role(kind)
            return pool[ci % pool.shape[0]]
        if kind == "github":
            return np.full(n, net.role("code-hosting")[0], dtype=np.uint32)
        if kind == "server":
            w = 1.0 / np.arange(1, self.servers.shape[0] + 1)
            ns = self.servers.shape[0]
            order = (ci[:, None] * 7 + np.arange(ns)[None, :]) % ns
            pick = _draw(rng, _cdf(w), n)
            return self.servers[order[np.arange(n), pick]]
        if kind == "printer":
            return cl.printer[ci]
        if kind == "mdns":
            return np.full(n, net.role("multicast")[0], dtype=np.uint32)
        if kind == "ssdp":
            return np.full(n, net.role("multicast")[1], dtype=np.uint32)
        if kind == "odd":
            live = self.internal_live[rng.integers(0, self.internal_live.shape[0], n)]
            dead = self.unused_all[rng.integers(0, self.unused_all.shape[0], n)]
            out = np.where(rng.random(n) < 0.6, live, dead)
            return np.where(out == cl.ip[ci], dead, out).astype(np.uint32)
        raise ValueError(kind)

    def _dns_forward(self, rng: np.random.Generator, dns: Conns) -> Conns:
        """Cache misses: the DNS server asks its upstream resolvers."""
        if len(dns) == 0:
            return C.empty()
        sel = np.flatnonzero((dns.state == C.SF) & (rng.random(len(dns)) < DNS_FWD_P))
        res = self.net.role("resolver")
        ts = dns.ts[sel] + rng.integers(300, 3000, sel.shape[0])
        src = dns.dst[sel]
        dst = res[(rng.random(sel.shape[0]) < 0.25).astype(np.int64) % res.shape[0]]
        return C.realise(rng, P_DNS_FWD, ts, src, dst, np.ones(sel.shape[0], bool))

    def _poisson_times(self, rng: np.random.Generator, per_day: float, diurnal: np.ndarray,
                       t0: int) -> np.ndarray:
        """Poisson arrivals with `per_day * diurnal[i]` expected in the block's hour i."""
        cnt = rng.poisson(per_day * diurnal)
        hour = np.repeat(np.arange(diurnal.shape[0]), cnt)
        return t0 + hour * HOUR_US + (rng.random(hour.shape[0]) * HOUR_US).astype(np.int64)

    def _server_streams(self, rng: np.random.Generator, weekday_h: np.ndarray, hod: np.ndarray,
                        t0: int) -> Conns:
        net = self.net
        parts: list[Conns] = []
        web_pub = net.role("web")[:1]
        mail = net.role("mail")[:1]
        d_int = np.where(weekday_h, self.diurnal_int[True][hod], self.diurnal_int[False][hod])
        d_ext = np.where(weekday_h, self.diurnal_ext[True][hod], self.diurnal_ext[False][hod])
        flat = np.full(hod.shape[0], 1.0 / 24)
        # public website visitors
        ts = self._poisson_times(rng, SHARES["inbound_web"] * self.scale, d_ext, t0)
        n = int(ts.shape[0])
        src = net.web_clients[_draw(rng, self.webc_cdf, n)]
        fresh = rng.random(n) < 0.2
        if fresh.any():
            src[fresh] = random_public(rng, int(fresh.sum()))
        rec = C.realise(rng, P_IN_WEB, ts, src, np.full(n, web_pub[0]), rng.random(n) < 0.4)
        rec.service = np.where((rec.dport == 80) & (rec.service > 0), C.service_code("http"),
                               rec.service).astype(np.uint8)
        parts.append(rec)
        # mail in and out
        ts = self._poisson_times(rng, SHARES["inbound_mail"] * self.scale, d_ext, t0)
        n = int(ts.shape[0])
        parts.append(C.realise(rng, P_IN_MAIL, ts, net.mail_ext[_draw(rng, self.mail_cdf, n)],
                               np.full(n, mail[0]), rng.random(n) < 0.7))
        ts = self._poisson_times(rng, SHARES["outbound_mail"] * self.scale, d_int, t0)
        n = int(ts.shape[0])
        parts.append(C.realise(rng, P_OUT_MAIL, ts, np.full(n, mail[0]),
                               net.mail_ext[_draw(rng, self.mail_cdf, n)], np.ones(n, bool)))
        # application tier: web -> app -> db, driven by users
        for share, prof, a, b in (("db", P_DB, "app", "db"), ("proxy", P_PROXY, "web", "app")):
            ts = self._poisson_times(rng, SHARES[share] * self.scale, d_int, t0)
            n = int(ts.shape[0])
            sa, sb = net.role(a), net.role(b)
            parts.append(C.realise(rng, prof, ts, sa[rng.integers(0, sa.shape[0], n)],
                                   sb[rng.integers(0, sb.shape[0], n)], np.ones(n, bool)))
        # internet background radiation against the public servers (not an attack we planted)
        ts = self._poisson_times(rng, SHARES["scan"] * self.scale, flat, t0)
        n = int(ts.shape[0])
        if n:
            scanners = random_public(rng, max(1, n // 6))
            src = scanners[rng.integers(0, scanners.shape[0], n)]
            dst = np.where(rng.random(n) < 0.7, web_pub[0], mail[0]).astype(np.uint32)
            port = SCAN_PORTS[rng.integers(0, SCAN_PORTS.shape[0], n)]
            is_open = ((dst == web_pub[0]) & ((port == 80) | (port == 443))) | (
                (dst == mail[0]) & (port == 25))
            states = np.where(rng.random(n) < 0.65, C.REJ, C.S0)
            closed = np.flatnonzero(~is_open)
            parts.append(C.realise(rng, P_ODD, ts[closed], src[closed], dst[closed],
                                   rng.random(closed.shape[0]) < 0.8, states=states[closed],
                                   dport=port[closed]))
            op = np.flatnonzero(is_open)
            parts.append(C.realise(rng, P_SCAN_OPEN, ts[op], src[op], dst[op],
                                   np.ones(op.shape[0], bool), dport=port[op]))
        return Conns.concat(parts)

    def _gates(self, inten: np.ndarray, p: _Periodic, t: np.ndarray, row: np.ndarray, t0: int
               ) -> np.ndarray:
        hour = np.clip((t - t0) // HOUR_US, 0, inten.shape[1] - 1)
        g = p.gate[row]
        cidx = np.maximum(p.client[row], 0)
        val = inten[cidx, hour]
        return (g == 0) | ((g == 1) & (val > 0)) | ((g == 2) & (val >= 0.3))

    def _ticks(self, rng: np.random.Generator, period: np.ndarray, phase: np.ndarray,
               jitter: np.ndarray, t0: int, t1: int) -> tuple[np.ndarray, np.ndarray]:
        """Times (µs) of every tick of every periodic stream inside [t0, t1) and its row."""
        rel0 = (t0 - self.start_us) / US
        rel1 = (t1 - self.start_us) / US
        k0 = np.ceil((rel0 - phase) / period).astype(np.int64)
        k1 = np.ceil((rel1 - phase) / period).astype(np.int64)
        nk = np.maximum(k1 - k0, 0)
        row = np.repeat(np.arange(period.shape[0]), nk)
        starts = np.concatenate([[0], np.cumsum(nk)[:-1]])
        k = k0[row] + (np.arange(row.shape[0]) - starts[row])
        noise = rng.normal(0.0, 1.0, int(row.shape[0])) * jitter[row]
        sec = phase[row] + (k + noise) * period[row]
        return self.start_us + (sec * US).astype(np.int64), row

    def _periodic_block(self, rng: np.random.Generator, inten: np.ndarray, t0: int, t1: int
                        ) -> Conns:
        p = self.periodic
        t, row = self._ticks(rng, p.period, p.phase, p.jitter, t0, t1)
        keep = self._gates(inten, p, t, row, t0)
        t, row = t[keep], row[keep]
        parts = []
        for j, prof in enumerate(PERIODIC_PROFILES):
            sel = np.flatnonzero(p.prof[row] == j)
            if sel.shape[0]:
                r = row[sel]
                parts.append(C.realise(rng, prof, t[sel], p.src[r], p.dst[r], p.linux[r]))
        return Conns.concat(parts)

    def _stale_block(self, rng: np.random.Generator, inten: np.ndarray, t0: int, t1: int
                     ) -> Conns:
        st = self.net.stale
        cl = self.net.clients
        n = st.src.shape[0]
        p = _Periodic(src=st.src, dst=st.dst, period=st.period, phase=st.phase,
                      jitter=np.full(n, 0.08), prof=np.zeros(n, np.int64),
                      gate=np.full(n, 1, np.int8), client=st.client,
                      linux=cl.linux[st.client], scalable=np.zeros(n, bool))
        t, row = self._ticks(rng, p.period, p.phase, p.jitter, t0, t1)
        keep = self._gates(inten, p, t, row, t0)
        t, row = t[keep], row[keep]
        if t.shape[0] == 0:
            return C.empty()
        states = np.where(st.rej[row], C.REJ, C.S0)
        rec = C.realise(rng, P_ODD, t, st.src[row], st.dst[row], p.linux[row], states=states,
                        dport=st.port[row])
        f = self.flip
        if f is None:
            return rec
        m = (row == f.index) & (t >= f.t0) & (t < f.t1)
        if not m.any():
            return rec
        svc = st.service[f.index]
        prof = Profile("stale-open", C.TCP, (int(st.port[f.index]),), svc, (("SF", 1.0),),
                       orig=Sizes(600, 0.8), resp=Sizes(3000, 1.2), dur=Sizes(0.5, 1.0), rtt=0.0006)
        idx = np.flatnonzero(m)
        flipped = C.realise(rng, prof, t[idx], st.src[row[idx]], st.dst[row[idx]],
                            p.linux[row[idx]], tag=f.tag)
        rest = rec.take(np.flatnonzero(~m))
        return Conns.concat([rest, flipped])

    def _backups(self, day: int, t0: int, t1: int) -> Conns:
        """Nightly backups of every server to the backup server (full on the weekend)."""
        net = self.net
        backup = net.role("backup")
        d0 = self.start_us + day * DAY_US
        if backup.shape[0] == 0 or t1 <= d0 + HOUR_US or t0 >= d0 + 5 * HOUR_US:
            return C.empty()
        rng = np.random.default_rng([self.seed, 5, day])  # the same night plan for every block
        weekday = (day % 7) < 5
        srcs = self.servers[~np.isin(self.servers, backup)]
        n_each = rng.integers(1, 4, srcs.shape[0])
        src = np.repeat(srcs, n_each)
        n = src.shape[0]
        start = self.start_us + day * DAY_US + (
            (1 * 3600 + rng.uniform(0, 3 * 3600, n)) * US).astype(np.int64)
        full = not weekday
        is_file = np.isin(src, net.role("file"))
        parts = []
        for fileserver in (False, True):
            sel = np.flatnonzero(is_file == fileserver)
            if not sel.shape[0]:
                continue
            median = (8e9 if full else 9e8) if fileserver else (6e8 if full else 6e7)
            prof = Profile("backup", C.TCP, (net.backup_port,), net.backup_service,
                           (("SF", 0.97), ("RSTR", 0.02), ("S1", 0.01)),
                           orig=Sizes(median, 0.6), resp=Sizes(40000, 0.8), dur=Sizes(5, 1.0),
                           throughput=6e7, rtt=0.0005, max_dur=6 * 3600.0)
            lin = np.array([net.servers_linux.get(int(x), False) for x in src[sel]], dtype=bool)
            parts.append(C.realise(rng, prof, start[sel], src[sel], np.full(sel.shape[0],
                                                                            backup[0]), lin))
        out = Conns.concat(parts)
        return out.take(np.flatnonzero((out.ts >= t0) & (out.ts < t1)))
