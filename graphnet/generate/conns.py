"""Columnar connection records and their protocol-consistent realisation.

A :class:`Conns` holds one column per Zeek conn.log field as numpy arrays (no Python objects):
addresses are IPv4 numbers (``uint32``), times and durations integer microseconds, categorical
fields small codes into the tuples below. :func:`realise` turns (time, source, destination)
triples plus a :class:`Profile` (protocol, port, service, outcome mix, byte and duration
distributions) into complete records whose conn_state, history, byte and packet counts agree with
each other the way Zeek writes them (e.g. a single-packet connection has no duration and no byte
counts; ``S0`` is a lone ``S``; ``REJ`` is ``Sr``; ICMP is ``OTH`` with type/code as ports).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

PROTOS: tuple[str, ...] = ("tcp", "udp", "icmp")
TCP, UDP, ICMP = 0, 1, 2

STATES: tuple[str, ...] = ("SF", "S0", "REJ", "RSTO", "RSTR", "S1", "OTH")
SF, S0, REJ, RSTO, RSTR, S1, OTH = range(7)
_STATE_CODE = {s: i for i, s in enumerate(STATES)}

SERVICES: tuple[str, ...] = (
    "-", "dns", "ssl", "http", "smb", "gssapi,smb", "krb", "krb_tcp", "ldap", "dce_rpc",
    "smtp", "ssh", "ntp", "snmp", "rdp", "ftp", "ftp-data", "mysql", "dhcp", "tftp",
)
_SERVICE_CODE = {s: i for i, s in enumerate(SERVICES)}

HISTORIES: tuple[str, ...] = (
    "-", "S", "Sr", "ShR", "ShADadFf", "ShADadfF", "ShADadFTf", "ShADadtFf", "ShAdDaFf",
    "ShAdDafF", "ShAdDaTFf", "ShAFf", "ShAFaf", "ShADaFf", "ShAdaFf", "ShADadR", "ShAdDaFR",
    "ShADadFR", "ShAR", "ShADadr", "ShAdDar", "ShAr", "ShADad", "ShAdDa", "Dd", "D", "DdA",
    "Sh", "SrR", "ShAdR",
)
_HISTORY_CODE = {s: i for i, s in enumerate(HISTORIES)}

ATTACK_TYPES: tuple[str, ...] = ("---", "portScan", "pingScan", "dos", "bruteForce")


def state_code(name: str) -> int:
    return _STATE_CODE[name]


def service_code(name: str) -> int:
    return _SERVICE_CODE[name]


def history_code(name: str) -> int:
    return _HISTORY_CODE[name]


@dataclass
class Conns:
    """One connection per row, every field a numpy array of the same length."""

    ts: np.ndarray  # int64 microseconds since the epoch
    src: np.ndarray  # uint32 IPv4
    dst: np.ndarray  # uint32 IPv4
    sport: np.ndarray  # int32 (ICMP: type)
    dport: np.ndarray  # int32 (ICMP: code)
    proto: np.ndarray  # uint8 index into PROTOS
    service: np.ndarray  # uint8 index into SERVICES
    duration: np.ndarray  # int64 microseconds, -1 = unset
    orig_bytes: np.ndarray  # int64, -1 = unset
    resp_bytes: np.ndarray  # int64, -1 = unset
    state: np.ndarray  # uint8 index into STATES
    history: np.ndarray  # uint8 index into HISTORIES
    orig_pkts: np.ndarray  # int64
    orig_ip_bytes: np.ndarray  # int64
    resp_pkts: np.ndarray  # int64
    resp_ip_bytes: np.ndarray  # int64
    tag: np.ndarray  # int16: -1 background, else index of the planted scenario
    atype: np.ndarray  # uint8 index into ATTACK_TYPES (CIDDS attackType)

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def slice(self, lo: int, hi: int) -> Conns:
        """Rows [lo, hi) as views (no copy)."""
        return Conns(**{f.name: getattr(self, f.name)[lo:hi] for f in fields(self)})

    def take(self, idx: np.ndarray) -> Conns:
        return Conns(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    @staticmethod
    def concat(parts: list[Conns]) -> Conns:
        parts = [p for p in parts if len(p)]
        if not parts:
            return empty()
        if len(parts) == 1:
            return parts[0]
        return Conns(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Conns)}
        )


_DTYPES: dict[str, type] = {
    "ts": np.int64, "src": np.uint32, "dst": np.uint32, "sport": np.int32, "dport": np.int32,
    "proto": np.uint8, "service": np.uint8, "duration": np.int64, "orig_bytes": np.int64,
    "resp_bytes": np.int64, "state": np.uint8, "history": np.uint8, "orig_pkts": np.int64,
    "orig_ip_bytes": np.int64, "resp_pkts": np.int64, "resp_ip_bytes": np.int64,
    "tag": np.int16, "atype": np.uint8,
}


def empty() -> Conns:
    return Conns(**{name: np.zeros(0, dtype=dt) for name, dt in _DTYPES.items()})


@dataclass(frozen=True)
class Sizes:
    """Heavy-tailed size distribution: lognormal body (median, sigma) with a Pareto tail."""

    median: float
    sigma: float
    tail_p: float = 0.0
    tail_xm: float = 1.0
    tail_alpha: float = 1.5
    cap: float = 8e9

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        x = rng.lognormal(np.log(self.median), self.sigma, n)
        if self.tail_p > 0:
            tail = rng.random(n) < self.tail_p
            k = int(tail.sum())
            if k:
                x[tail] = self.tail_xm * (1.0 + rng.pareto(self.tail_alpha, k))
        return soft_cap(rng, x, self.cap)


def soft_cap(rng: np.random.Generator, x: np.ndarray, cap: float) -> np.ndarray:
    """Values above `cap` are redrawn log-uniformly in [cap/8, cap] (no pile-up at the cap)."""
    over = x > cap
    k = int(over.sum())
    if k:
        x = x.copy()
        x[over] = cap * np.exp(-rng.random(k) * np.log(8.0))
    return x


@dataclass(frozen=True)
class Profile:
    """How one kind of connection looks on the wire."""

    name: str
    proto: int
    ports: tuple[int, ...]
    service: str
    states: tuple[tuple[str, float], ...] = (("SF", 1.0),)
    port_p: tuple[float, ...] | None = None
    orig: Sizes = Sizes(500, 0.8)
    resp: Sizes = Sizes(2000, 1.2)
    dur: Sizes = Sizes(0.5, 1.2)  # seconds, before transfer time
    throughput: float = 2e6  # bytes/s median (transfer time is added to the duration)
    rtt: float = 0.0005  # seconds, median round trip
    server_first: bool = False  # ssh/smtp/imap: the responder speaks first
    services_alt: tuple[tuple[str, float], ...] = ()  # alternative service labels for SF
    icmp_payload: int = 56
    icmp_pkts: tuple[int, ...] = (1,)
    udp_pkts: tuple[int, ...] = (1,)
    max_dur: float = 4 * 3600.0


def _choice_codes(
    rng: np.random.Generator, n: int, items: tuple[int, ...], p: tuple[float, ...] | None
) -> np.ndarray:
    if len(items) == 1 or n == 0:
        return np.full(n, items[0], dtype=np.int64)
    arr = np.asarray(items, dtype=np.int64)
    if p is None:
        return arr[rng.integers(0, len(items), n)]
    cdf = np.cumsum(p, dtype=float)
    idx = np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right")
    return arr[np.minimum(idx, len(items) - 1)]


_SF_BOTH_CLIENT = (("ShADadFf", 0.72), ("ShADadfF", 0.2), ("ShADadFTf", 0.04),
                   ("ShADadtFf", 0.04))
_SF_BOTH_SERVER = (("ShAdDaFf", 0.8), ("ShAdDafF", 0.16), ("ShAdDaTFf", 0.04))
_RSTO_BOTH = (("ShADadR", 0.45), ("ShADadFR", 0.15), ("ShAdDaFR", 0.25), ("ShAdR", 0.15))
_RSTR_BOTH = (("ShADadr", 0.7), ("ShAdDar", 0.3))


def _pick_history(
    rng: np.random.Generator, n: int, table: tuple[tuple[str, float], ...]
) -> np.ndarray:
    codes = tuple(history_code(h) for h, _ in table)
    return _choice_codes(rng, n, codes, tuple(p for _, p in table))


def ephemeral_ports(rng: np.random.Generator, linux: np.ndarray) -> np.ndarray:
    """Source ports from the OS's ephemeral range (Linux 32768-60999, Windows 49152-65535)."""
    lo = np.where(linux, 32768, 49152)
    hi = np.where(linux, 61000, 65536)
    return (lo + (rng.random(linux.shape[0]) * (hi - lo)).astype(np.int64)).astype(np.int32)


def realise(
    rng: np.random.Generator,
    prof: Profile,
    ts: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    linux: np.ndarray | None = None,
    *,
    states: np.ndarray | None = None,
    dport: np.ndarray | None = None,
    sport: np.ndarray | None = None,
    tag: int = -1,
    atype: int = 0,
) -> Conns:
    """Complete records for connections started at `ts` from `src` to `dst` (vectorised).

    `states` (codes into STATES) overrides the profile's outcome mix; `linux` (bool per row)
    selects header sizes and ephemeral port range of the originator.
    """
    n = int(ts.shape[0])
    if n == 0:
        return empty()
    if linux is None:
        linux = rng.random(n) < 0.3
    if states is None:
        st_codes = tuple(state_code(s) for s, _ in prof.states)
        state = _choice_codes(rng, n, st_codes, tuple(p for _, p in prof.states)).astype(np.uint8)
    else:
        state = states.astype(np.uint8)
    if dport is None:
        dport = _choice_codes(rng, n, prof.ports, prof.port_p).astype(np.int32)
    if sport is None:
        sport = ephemeral_ports(rng, linux)

    dur_s = np.zeros(n)
    ob = np.zeros(n, dtype=np.int64)
    rb = np.zeros(n, dtype=np.int64)
    op = np.ones(n, dtype=np.int64)
    rp = np.zeros(n, dtype=np.int64)
    oib = np.zeros(n, dtype=np.int64)
    rib = np.zeros(n, dtype=np.int64)
    hist = np.zeros(n, dtype=np.uint8)
    svc = np.zeros(n, dtype=np.uint8)
    rtt = prof.rtt * rng.lognormal(0.0, 0.5, n)

    if prof.proto == TCP:
        hdr = np.where(linux, 52, 40)
        syn = np.where(linux, 60, 52)
        data_mss = 1448
        # --- established connections (SF, RSTO, RSTR, S1, OTH)
        est = (state == SF) | (state == RSTO) | (state == RSTR) | (state == S1) | (state == OTH)
        k = int(est.sum())
        if k:
            o = prof.orig.sample(rng, k)
            r = prof.resp.sample(rng, k)
            st = state[est]
            partial = (st == RSTO) | (st == RSTR)
            frac = np.where(partial, rng.uniform(0.02, 1.0, k), 1.0)
            o = np.floor(o * frac).astype(np.int64)
            r = np.floor(r * frac).astype(np.int64)
            thr = prof.throughput * rng.lognormal(0.0, 0.7, k)
            d = prof.dur.sample(rng, k) + (o + r) / thr + 3 * rtt[est]
            d = np.where(st == S1, d + rng.lognormal(np.log(900.0), 1.0, k), d)
            d = soft_cap(rng, d, prof.max_dur)
            segs_o = -(-o // data_mss)
            segs_r = -(-r // data_mss)
            fin = np.where(st == S1, 0, 1)
            po = 2 + segs_o + segs_r // 2 + fin
            pr = 1 + segs_r + segs_o // 2 + fin
            h = np.empty(k, dtype=np.uint8)
            both = (o > 0) & (r > 0)
            sf = st == SF
            m = sf & both
            h[m] = _pick_history(
                rng, int(m.sum()), _SF_BOTH_SERVER if prof.server_first else _SF_BOTH_CLIENT
            )
            m = sf & (o > 0) & (r == 0)
            h[m] = history_code("ShADaFf")
            m = sf & (o == 0) & (r > 0)
            h[m] = history_code("ShAdaFf")
            m = sf & (o == 0) & (r == 0)
            h[m] = _pick_history(rng, int(m.sum()), (("ShAFf", 0.8), ("ShAFaf", 0.2)))
            m = (st == RSTO) & both
            h[m] = _pick_history(rng, int(m.sum()), _RSTO_BOTH)
            m = (st == RSTO) & ~both
            h[m] = history_code("ShAR")
            m = (st == RSTR) & both
            h[m] = _pick_history(rng, int(m.sum()), _RSTR_BOTH)
            m = (st == RSTR) & ~both
            h[m] = history_code("ShAr")
            m = st == S1
            h[m] = history_code("ShAdDa") if prof.server_first else history_code("ShADad")
            m = st == OTH
            h[m] = _pick_history(rng, int(m.sum()), (("Dd", 0.7), ("DdA", 0.3)))
            # OTH: mid-stream pickup, no handshake packets
            po = np.where(st == OTH, np.maximum(1, po - 2), po)
            pr = np.where(st == OTH, np.maximum(1, pr - 1), pr)
            hk = hdr[est]
            dur_s[est] = d
            ob[est] = o
            rb[est] = r
            op[est] = po
            rp[est] = pr
            oib[est] = o + po * hk + (syn[est] - hk) * (st != OTH)
            rib[est] = r + pr * hk + (syn[est] - hk) * (st != OTH)
            hist[est] = h
            s_code = service_code(prof.service)
            if prof.services_alt:
                alt = _choice_codes(
                    rng, k, tuple(service_code(s) for s, _ in prof.services_alt),
                    tuple(p for _, p in prof.services_alt),
                )
                s_arr = np.where(rng.random(k) < 0.5, s_code, alt)
            else:
                s_arr = np.full(k, s_code)
            # a service is only recognised when payload was seen
            svc[est] = np.where((o + r) > 0, s_arr, 0).astype(np.uint8)
        # --- S0: SYN (and retransmissions), no answer
        m = state == S0
        k = int(m.sum())
        if k:
            tries = _choice_codes(rng, k, (1, 2, 3), (0.6, 0.25, 0.15))
            d = np.select([tries == 1, tries == 2], [0.0, 1.0], 3.0) * rng.uniform(1.0, 1.02, k)
            dur_s[m] = d
            op[m] = tries
            oib[m] = tries * syn[m]
            hist[m] = history_code("S")
        # --- REJ: SYN answered by RST
        m = state == REJ
        k = int(m.sum())
        if k:
            dur_s[m] = rtt[m]
            op[m] = 1
            rp[m] = 1
            oib[m] = syn[m]
            rib[m] = 40
            hist[m] = history_code("Sr")
    elif prof.proto == UDP:
        m = state == SF
        k = int(m.sum())
        if k:
            po = _choice_codes(rng, k, prof.udp_pkts, None)
            pr = po.copy()
            o = np.maximum(po * 8, prof.orig.sample(rng, k).astype(np.int64))
            r = np.maximum(pr * 8, prof.resp.sample(rng, k).astype(np.int64))
            dur_s[m] = rtt[m] + (po - 1) * rng.uniform(0.001, 0.05, k)
            ob[m], rb[m], op[m], rp[m] = o, r, po, pr
            oib[m] = o + 28 * po
            rib[m] = r + 28 * pr
            hist[m] = history_code("Dd")
            svc[m] = service_code(prof.service)
        m = state != SF  # S0: request(s), no answer
        k = int(m.sum())
        if k:
            po = _choice_codes(rng, k, prof.udp_pkts, None)
            o = np.maximum(po * 8, prof.orig.sample(rng, k).astype(np.int64))
            dur_s[m] = np.where(po > 1, (po - 1) * rng.uniform(0.5, 2.0, k), 0.0)
            ob[m], op[m] = o, po
            oib[m] = o + 28 * po
            hist[m] = history_code("D")
            svc[m] = service_code(prof.service)
            state[m] = S0
    else:  # ICMP: Zeek logs type as orig port and code as resp port; state is always OTH
        reply = state == SF
        pk = _choice_codes(rng, n, prof.icmp_pkts, None)
        pay = prof.icmp_payload
        dur_s = np.where(reply, rtt + (pk - 1) * 1.0, (pk - 1) * 1.0)
        ob = pk * pay
        rb = np.where(reply, pk * pay, 0)
        op = pk
        rp = np.where(reply, pk, 0)
        oib = pk * (pay + 28)
        rib = rp * (pay + 28)
        state = np.full(n, OTH, dtype=np.uint8)
        sport = np.full(n, 8, dtype=np.int32)
        dport = np.zeros(n, dtype=np.int32)

    dur_us = np.round(dur_s * 1e6).astype(np.int64)
    zero = dur_us <= 0
    # Zeek leaves duration and byte counts unset when the duration is zero (one packet)
    dur_us = np.where(zero, -1, dur_us)
    ob = np.where(zero, -1, ob)
    rb = np.where(zero, -1, rb)
    return Conns(
        ts=ts.astype(np.int64),
        src=src.astype(np.uint32),
        dst=dst.astype(np.uint32),
        sport=sport.astype(np.int32),
        dport=dport.astype(np.int32),
        proto=np.full(n, prof.proto, dtype=np.uint8),
        service=svc,
        duration=dur_us,
        orig_bytes=ob.astype(np.int64),
        resp_bytes=rb.astype(np.int64),
        state=state,
        history=hist,
        orig_pkts=op.astype(np.int64),
        orig_ip_bytes=oib.astype(np.int64),
        resp_pkts=rp.astype(np.int64),
        resp_ip_bytes=rib.astype(np.int64),
        tag=np.full(n, tag, dtype=np.int16),
        atype=np.full(n, atype, dtype=np.uint8),
    )


def with_states(n: int, state: str) -> np.ndarray:
    return np.full(n, state_code(state), dtype=np.uint8)
