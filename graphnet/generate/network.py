"""The simulated enterprise: subnets, hosts and roles, the external internet, per-host habits.

Modelled on CIDDS-001 (servers, management, office and developer subnets behind a router), but
every number that a detector could latch on to (address family, subnet numbers, host numbers,
gateway octet, which client has which habits) is drawn from the seed.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import numpy as np

CLIENT_ROLES: tuple[str, ...] = ("office", "dev", "mgmt", "admin")
OFFICE, DEV, MGMT, ADMIN = range(4)

# Public prefixes of large providers (name, prefix, weight): popular destinations live there.
PROVIDERS: tuple[tuple[str, str, float], ...] = (
    ("google", "142.250.0.0/15", 10), ("google", "172.217.0.0/16", 5),
    ("google", "216.58.192.0/19", 3), ("cloudflare", "104.16.0.0/13", 8),
    ("cloudflare", "172.64.0.0/13", 4), ("akamai", "23.32.0.0/11", 8),
    ("akamai", "2.16.0.0/13", 3), ("microsoft", "13.64.0.0/11", 6),
    ("microsoft", "20.33.0.0/16", 3), ("microsoft", "40.64.0.0/10", 5),
    ("microsoft", "52.96.0.0/12", 5), ("amazon", "52.0.0.0/11", 6),
    ("amazon", "54.64.0.0/11", 5), ("amazon", "3.0.0.0/9", 5), ("fastly", "151.101.0.0/16", 4),
    ("meta", "157.240.0.0/16", 3), ("meta", "31.13.64.0/18", 2), ("apple", "17.0.0.0/8", 3),
)
GITHUB = "140.82.112.0/20"
RESOLVERS: tuple[str, ...] = (
    "8.8.8.8", "8.8.4.4", "1.1.1.1", "1.0.0.1", "9.9.9.9", "149.112.112.112", "208.67.222.222",
)
MULTICAST: tuple[str, ...] = ("224.0.0.251", "239.255.255.250")

# (port, service when the handshake completes) for connections that normally time out
STALE_PORTS: tuple[tuple[int, str], ...] = (
    (8443, "ssl"), (8080, "http"), (9090, "http"), (5900, "-"), (3306, "mysql"),
    (5985, "http"), (8000, "http"), (10000, "-"), (1433, "-"), (8888, "http"),
)

_RESERVED = tuple(
    (int(n.network_address), int(n.broadcast_address))
    for n in map(ipaddress.ip_network, (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/3",
    ))
)


def ip_text(ip: int) -> str:
    return str(ipaddress.IPv4Address(int(ip)))


def ip_int(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def is_public(ips: np.ndarray) -> np.ndarray:
    ok = np.ones(ips.shape[0], dtype=bool)
    for lo, hi in _RESERVED:
        ok &= ~((ips >= lo) & (ips <= hi))
    return ok


def random_public(rng: np.random.Generator, n: int) -> np.ndarray:
    """n public unicast IPv4 addresses (uniform over the routable space)."""
    out: list[np.ndarray] = []
    need = n
    while need > 0:
        cand = rng.integers(1 << 24, 224 << 24, size=int(need * 1.4) + 8, dtype=np.int64)
        cand = cand[is_public(cand)][:need]
        out.append(cand)
        need -= cand.shape[0]
    return np.concatenate(out).astype(np.uint32) if out else np.zeros(0, np.uint32)


def provider_addresses(rng: np.random.Generator, n: int) -> np.ndarray:
    """n addresses inside the large providers' prefixes, weighted by provider size."""
    nets = [ipaddress.ip_network(p) for _, p, _ in PROVIDERS]
    w = np.array([x for _, _, x in PROVIDERS], dtype=float)
    which = rng.choice(len(nets), size=n, p=w / w.sum())
    base = np.array([int(x.network_address) for x in nets], dtype=np.int64)[which]
    size = np.array([x.num_addresses for x in nets], dtype=np.int64)[which]
    off = (rng.random(n) * (size - 2)).astype(np.int64) + 1
    return (base + off).astype(np.uint32)


def zipf_weights(n: int, s: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1, dtype=float) ** s
    return w / w.sum()


@dataclass
class Host:
    id: str
    ip: int
    role: str
    subnet: str
    internal: bool
    linux: bool = False


@dataclass
class Clients:
    """Per-client habits, arrays aligned with `ip`."""

    ip: np.ndarray  # uint32
    role: np.ndarray  # int8 index into CLIENT_ROLES
    linux: np.ndarray  # bool
    activity: np.ndarray  # relative volume
    start_h: np.ndarray
    end_h: np.ndarray
    lunch_h: np.ndarray
    night_on: np.ndarray  # machine stays on at night
    weekend_worker: np.ndarray
    gateway: np.ndarray  # uint32
    dns: np.ndarray  # uint32
    fav_web: np.ndarray  # uint32 internal web/app server
    printer: np.ndarray  # uint32
    fav_ext: np.ndarray  # (n, K) indices into Network.mid
    weekday: np.ndarray  # (n, 24) base intensity on a working day
    weekend: np.ndarray  # (n, 24) base intensity on a weekend day

    def __len__(self) -> int:
        return int(self.ip.shape[0])


@dataclass
class Stale:
    """Client -> target:port connections that never complete (a stale config, a dead service)."""

    src: np.ndarray  # uint32 client ip
    client: np.ndarray  # index into Clients
    dst: np.ndarray  # uint32
    port: np.ndarray  # int32
    service: list[str]  # service when the handshake completes
    rej: np.ndarray  # bool: REJ (closed port on a live host) rather than S0
    period: np.ndarray  # seconds
    phase: np.ndarray  # seconds
    dst_is_server: np.ndarray  # bool


@dataclass
class Network:
    seed: int
    subnets: dict[str, str]
    hosts: list[Host]
    by_role: dict[str, np.ndarray]  # role -> uint32 ips (internal and named external)
    internal_nets: list[tuple[int, int]]  # (network, mask) of internal /24s
    unused: dict[str, np.ndarray]  # subnet -> free host addresses (uint32)
    clients: Clients
    stale: Stale
    popular: np.ndarray
    popular_w: np.ndarray
    mid: np.ndarray
    mid_w: np.ndarray
    fav_w: np.ndarray
    web_clients: np.ndarray
    mail_ext: np.ndarray
    backup_port: int
    backup_service: str
    servers_linux: dict[int, bool] = field(default_factory=dict)

    def role(self, name: str) -> np.ndarray:
        return self.by_role.get(name, np.zeros(0, np.uint32))

    def is_internal(self, ips: np.ndarray) -> np.ndarray:
        out = np.zeros(ips.shape[0], dtype=bool)
        for net, mask in self.internal_nets:
            out |= (ips.astype(np.int64) & mask) == net
        return out

    def host_by_ip(self) -> dict[int, Host]:
        return {h.ip: h for h in self.hosts}


def _pick_octets(rng: np.random.Generator, n: int, lo: int, hi: int, taken: set[int]) -> list[int]:
    pool = [x for x in range(lo, hi + 1) if x not in taken]
    if len(pool) < n:
        pool = [x for x in range(2, 254) if x not in taken]
    if len(pool) < n:
        raise ValueError("subnet full")
    got = sorted(int(x) for x in rng.choice(pool, size=n, replace=False))
    taken.update(got)
    return got


def build_network(seed: int, hosts: int) -> Network:
    """The whole simulated network for `seed` with `hosts` internal hosts."""
    rng = np.random.default_rng([seed, 1])
    # ---- role counts
    n_servers_extra = hosts // 300
    server_roles = ["dns", "dc", "web", "web", "app", "db", "file", "mail", "backup", "git"]
    server_roles += ["web", "file", "app"][: min(3, n_servers_extra)]
    if hosts >= 500:
        server_roles.append("dns")
    if hosts < 60:
        server_roles.remove("web")
    n_printers = max(1, hosts // 40)
    n_admins = min(2 + hosts // 500, 20)
    n_mgmt = min(max(1, round(hosts * 0.03)), 120)  # the management /24 holds them all
    per_net = 200
    fixed = len(server_roles) + n_printers + n_admins + 1 + n_mgmt
    n_nets = 4  # servers, management, office, developers: one router interface each
    for _ in range(3):  # large networks need more office/developer /24s (and routers)
        rest = hosts - fixed - n_nets
        if rest < 8:
            raise ValueError(f"hosts={hosts} is too small (need at least {fixed + n_nets + 8})")
        n_dev = round(rest * 0.38)
        n_office = rest - n_dev
        n_office_nets = max(1, -(-n_office // per_net))
        n_dev_nets = max(1, -(-n_dev // per_net))
        if 2 + n_office_nets + n_dev_nets == n_nets:
            break
        n_nets = 2 + n_office_nets + n_dev_nets

    # ---- address plan
    fam = int(rng.choice(3, p=[0.5, 0.35, 0.15]))
    if fam == 0:
        base = (192 << 24) | (168 << 16)
    elif fam == 1:
        base = (10 << 24) | (int(rng.integers(0, 256)) << 16)
    else:
        base = (172 << 24) | (int(rng.integers(16, 32)) << 16)
    net_names = ["servers", "management"]
    net_names += ["office" if i == 0 else f"office-{i + 1}" for i in range(n_office_nets)]
    net_names += ["developers" if i == 0 else f"developers-{i + 1}" for i in range(n_dev_nets)]
    thirds = rng.choice(np.arange(1, 255), size=len(net_names), replace=False)
    if rng.random() < 0.5:  # administrators often number subnets in order
        thirds = np.sort(thirds)
    gw_octet = int(rng.choice([1, 254, 2], p=[0.5, 0.3, 0.2]))
    net_base = {name: base | (int(t) << 8) for name, t in zip(net_names, thirds, strict=True)}
    subnets = {name: f"{ip_text(b)}/24" for name, b in net_base.items()}
    taken: dict[str, set[int]] = {name: {0, 255, gw_octet} for name in net_names}

    host_list: list[Host] = []
    by_role: dict[str, list[int]] = {}

    def add(role: str, subnet: str, octet: int, linux: bool) -> int:
        ip = net_base[subnet] | octet
        host_list.append(Host(ip_text(ip), ip, role, subnet, True, linux))
        by_role.setdefault(role, []).append(ip)
        return ip

    gateways: dict[str, int] = {}
    for name in net_names:
        gateways[name] = add("router", name, gw_octet, True)
    srv_oct = _pick_octets(rng, len(server_roles), 3, 60, taken["servers"])
    perm = rng.permutation(len(server_roles))
    servers_linux: dict[int, bool] = {}
    for i, role in zip(perm, server_roles, strict=True):
        linux = role in ("dns", "web", "app", "db", "git", "backup", "mail") and rng.random() < 0.85
        ip = add(role, "servers", srv_oct[int(i)], bool(linux))
        servers_linux[ip] = bool(linux)
    mg_oct = _pick_octets(rng, n_admins + 1 + n_mgmt, 5, 160, taken["management"])
    mg_roles = ["admin"] * n_admins + ["monitor"] + ["mgmt"] * n_mgmt
    mg_perm = rng.permutation(len(mg_roles))
    for i, role in zip(mg_perm, mg_roles, strict=True):
        add(role, "management", mg_oct[int(i)], role in ("admin", "monitor"))
    office_nets = [n for n in net_names if n.startswith("office")]
    dev_nets = [n for n in net_names if n.startswith("developers")]
    printer_nets = [office_nets[i % len(office_nets)] for i in range(max(1, n_printers - 1))]
    if n_printers > 1:
        printer_nets.append(dev_nets[0])
    for name in printer_nets:
        add("printer", name, _pick_octets(rng, 1, 200, 250, taken[name])[0], True)

    def dhcp(nets: list[str], n: int, role: str, linux_p: float) -> None:
        for j, name in enumerate(nets):
            k = n // len(nets) + (1 if j < n % len(nets) else 0)
            start = int(rng.integers(20, 100))
            hi = min(253, start + int(k * 1.4) + 10)
            for o in _pick_octets(rng, k, start, hi, taken[name]):
                add(role, name, o, bool(rng.random() < linux_p))

    dhcp(office_nets, n_office, "office", 0.05)
    dhcp(dev_nets, n_dev, "dev", 0.6)
    unused = {
        name: np.array([net_base[name] | o for o in range(3, 253) if o not in taken[name]],
                       dtype=np.uint32)
        for name in net_names
    }

    # ---- external internet
    n_clients_all = n_office + n_dev + n_mgmt + n_admins
    popular = provider_addresses(rng, 80)
    m = max(1500, 12 * n_clients_all)
    mid = np.concatenate([provider_addresses(rng, m // 2), random_public(rng, m - m // 2)])
    mid = mid[rng.permutation(mid.shape[0])]
    resolvers = rng.choice(np.array([ip_int(x) for x in RESOLVERS], dtype=np.uint32), 2,
                           replace=False)
    vendors = rng.choice(popular, 8, replace=False)
    mirrors = provider_addresses(rng, 3)
    ntp_ext = random_public(rng, 4)
    github = np.array([ip_int(GITHUB.split("/")[0]) + int(rng.integers(1, 4000))], np.uint32)
    web_clients = random_public(rng, max(3000, 20 * hosts))
    mail_ext = np.concatenate([provider_addresses(rng, 150), random_public(rng, 250)])
    for role, arr in (("popular", popular), ("resolver", resolvers), ("vendor", vendors),
                      ("mirror", mirrors), ("ntp", ntp_ext), ("code-hosting", github)):
        by_role[role] = [int(x) for x in arr]
    by_role["multicast"] = [ip_int(x) for x in MULTICAST]
    ext_hosts: list[Host] = []
    seen_ext: set[int] = set()
    for role in ("resolver", "ntp", "code-hosting", "mirror", "vendor", "popular", "multicast"):
        for ip in by_role[role]:
            if ip not in seen_ext:
                seen_ext.add(ip)
                ext_hosts.append(Host(ip_text(ip), ip, role, "external", False))

    # ---- clients and their habits
    cl_roles = ("office", "dev", "mgmt", "admin")
    c_ip: list[int] = []
    c_role: list[int] = []
    c_linux: list[bool] = []
    c_subnet: list[str] = []
    for h in host_list:
        if h.role in cl_roles:
            c_ip.append(h.ip)
            c_role.append(cl_roles.index(h.role))
            c_linux.append(h.linux)
            c_subnet.append(h.subnet)
    n_c = len(c_ip)
    role_a = np.array(c_role, dtype=np.int8)
    activity = rng.lognormal(0.0, 0.7, n_c) * np.array([1.0, 1.3, 0.9, 1.2])[role_a]
    start = np.clip(np.round(rng.normal(np.where(role_a == DEV, 9.3, 8.2), 1.0)), 6, 11)
    length = np.clip(rng.normal(8.8, 0.9, n_c), 6, 11)
    end = np.minimum(23, start + np.round(length))
    lunch = np.where(rng.random(n_c) < 0.6, 12, 13)
    night_on = rng.random(n_c) < np.array([0.3, 0.55, 0.4, 0.8])[role_a]
    weekend_worker = rng.random(n_c) < np.array([0.06, 0.15, 0.05, 0.5])[role_a]
    hours = np.arange(24)[None, :]
    s, e = start[:, None], end[:, None]
    off = np.where(night_on, 0.025, 0.0)[:, None]
    wd = np.where((hours >= s) & (hours < e), 1.0, off)
    wd = np.where((hours == lunch[:, None]) & (hours >= s) & (hours < e), 0.55, wd)
    wd = np.where(hours == s - 1, 0.15, wd)
    wd = np.where(hours == e, 0.3, wd)
    evening = (hours > e) & (hours <= e + 3) & (rng.random(n_c) < 0.35)[:, None]
    wd = np.where(evening, np.maximum(wd, 0.08), wd)
    we = np.where(weekend_worker[:, None] & (hours >= 10) & (hours < 16), 0.3, off)

    gw = np.array([gateways[sn] for sn in c_subnet], dtype=np.uint32)
    dns_servers = np.array(by_role["dns"], dtype=np.uint32)
    dns = np.where(rng.random(n_c) < 0.9, dns_servers[0], dns_servers[-1]).astype(np.uint32)
    webs = np.array(by_role["web"], dtype=np.uint32)
    apps = np.array(by_role["app"], dtype=np.uint32)
    fav_web = webs[rng.integers(0, webs.shape[0], n_c)]
    dev_app = (role_a == DEV) & (rng.random(n_c) < 0.5)
    fav_web = np.where(dev_app, apps[rng.integers(0, apps.shape[0], n_c)], fav_web)
    printers_by_net: dict[str, list[int]] = {}
    for h in host_list:
        if h.role == "printer":
            printers_by_net.setdefault(h.subnet, []).append(h.ip)
    all_printers = by_role["printer"]
    printer_list = []
    for sn in c_subnet:
        near = printers_by_net.get(sn, all_printers)
        printer_list.append(near[int(rng.integers(0, len(near)))])
    printer = np.array(printer_list, dtype=np.uint32)
    mid_w = zipf_weights(mid.shape[0], 0.9)
    fav_ext = rng.choice(mid.shape[0], size=(n_c, 12), p=mid_w)
    clients = Clients(
        ip=np.array(c_ip, dtype=np.uint32), role=role_a, linux=np.array(c_linux, dtype=bool),
        activity=activity, start_h=start.astype(np.int64), end_h=end.astype(np.int64),
        lunch_h=lunch.astype(np.int64), night_on=night_on, weekend_worker=weekend_worker,
        gateway=gw, dns=dns, fav_web=fav_web, printer=printer, fav_ext=fav_ext,
        weekday=wd, weekend=we,
    )

    # ---- stale pairs: regular S0/REJ background that is not an attack
    n_stale = max(4, round(n_c / 12))
    st_client = rng.choice(np.flatnonzero(role_a != ADMIN), size=n_stale, replace=False)
    targets_srv = np.array(by_role["backup"] + by_role["db"], dtype=np.uint32)
    ghosts_pool = np.concatenate([unused["servers"], unused["management"]])
    kind = rng.choice(3, size=n_stale, p=[0.5, 0.3, 0.2])  # server S0, ghost S0, server REJ
    kind[0] = 0  # at least one silently filtered service on a live server
    st_dst = np.where(
        kind == 1,
        rng.choice(ghosts_pool, n_stale),
        targets_srv[rng.integers(0, targets_srv.shape[0], n_stale)],
    ).astype(np.uint32)
    pidx = rng.integers(0, len(STALE_PORTS), n_stale)
    stale = Stale(
        src=clients.ip[st_client],
        client=st_client.astype(np.int64),
        dst=st_dst,
        port=np.array([STALE_PORTS[i][0] for i in pidx], dtype=np.int32),
        service=[STALE_PORTS[i][1] for i in pidx],
        rej=kind == 2,
        period=rng.uniform(900, 3600, n_stale),
        phase=rng.uniform(0, 3600, n_stale),
        dst_is_server=kind != 1,
    )

    backup_port, backup_service = [(873, "-"), (9103, "-"), (22, "ssh"), (10000, "-")][
        int(rng.integers(0, 4))
    ]
    return Network(
        seed=seed,
        subnets=subnets,
        hosts=host_list + ext_hosts,
        by_role={k: np.array(v, dtype=np.uint32) for k, v in by_role.items()},
        internal_nets=[(b, 0xFFFFFF00) for b in net_base.values()],
        unused=unused,
        clients=clients,
        stale=stale,
        popular=popular,
        popular_w=zipf_weights(popular.shape[0], 1.1),
        mid=mid,
        mid_w=mid_w,
        fav_w=zipf_weights(12, 0.8),
        web_clients=web_clients,
        mail_ext=mail_ext,
        backup_port=backup_port,
        backup_service=backup_service,
        servers_linux=servers_linux,
    )
