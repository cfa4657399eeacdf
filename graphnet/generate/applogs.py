"""Zeek `dns.log` and `http.log` for the generated network (`GenerateOptions.app_logs`).

Every DNS record is one of the generated udp/53 connections (`service` dns, port 53) and every
HTTP record one of the tcp connections with service http that carried a request: same uid,
time, addresses and ports as its conn record, so the three logs agree as a sensor's would.
What Zeek adds (query names, types, answers; methods, hosts, URIs, user agents, status codes)
is drawn from a vocabulary fixed by the seed (`AppVocab`) with a generator seeded by
(seed, first hour of the day slice): the output stays a pure function of the options.

Planted scenarios that live in these logs (`APP_SCENARIOS` in `scenarios.py`: DNS tunnelling,
a DGA-like client, a rare-user-agent HTTP beacon) tag their connections like every scenario;
their rows take the plant's own fields (`AppPlant`) instead of the vocabulary's.

Rendered as Zeek TSV (the 24-field dns.log and 30-field http.log of Zeek 6), vectorised with
pyarrow like the conn logs (`writers.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphnet.generate import conns as C
from graphnet.generate.conns import Conns
from graphnet.generate.network import Network
from graphnet.generate.writers import Addresses, _body, _fixed, _offsets, _s, zeek_time

DNS_FIELDS = ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto",
              "trans_id", "rtt", "query", "qclass", "qclass_name", "qtype", "qtype_name", "rcode",
              "rcode_name", "AA", "TC", "RD", "RA", "Z", "answers", "TTLs", "rejected")
DNS_TYPES = ("time", "string", "addr", "port", "addr", "port", "enum", "count", "interval",
             "string", "count", "string", "count", "string", "count", "string", "bool", "bool",
             "bool", "bool", "count", "vector[string]", "vector[interval]", "bool")
HTTP_FIELDS = ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "trans_depth",
               "method", "host", "uri", "referrer", "version", "user_agent", "origin",
               "request_body_len", "response_body_len", "status_code", "status_msg", "info_code",
               "info_msg", "tags", "username", "password", "proxied", "orig_fuids",
               "orig_filenames", "orig_mime_types", "resp_fuids", "resp_filenames",
               "resp_mime_types")
HTTP_TYPES = ("time", "string", "addr", "port", "addr", "port", "count", "string", "string",
              "string", "string", "string", "string", "string", "count", "count", "count",
              "string", "count", "string", "set[enum]", "string", "string", "set[string]",
              "vector[string]", "vector[string]", "vector[string]", "vector[string]",
              "vector[string]", "vector[string]")

QTYPES: dict[str, int] = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "NULL": 10, "PTR": 12, "MX": 15,
                          "TXT": 16, "AAAA": 28, "SRV": 33, "HTTPS": 65}
RCODES: dict[str, int] = {"NOERROR": 0, "SERVFAIL": 2, "NXDOMAIN": 3, "REFUSED": 5}
STATUS: dict[int, str] = {200: "OK", 301: "Moved Permanently", 302: "Found", 304: "Not Modified",
                          403: "Forbidden", 404: "Not Found", 500: "Internal Server Error"}

_SYLL = ("ka", "lo", "mi", "ne", "ra", "to", "vi", "su", "pe", "da", "zo", "bri", "cor", "fan",
         "gen", "hal", "mar", "nov", "pro", "tel", "wex", "zen", "sol", "lux", "tri", "qua",
         "dor", "fin", "sky", "net", "web", "ex", "ori", "max", "vel", "kin")
_TLDS = ("com", "com", "com", "com", "net", "org", "io", "de", "co.uk", "fr", "com.au")
_LABELS = ("www", "api", "cdn", "static", "img", "mail", "login", "auth", "update", "assets",
           "m", "app", "ws", "telemetry", "files", "docs", "news", "search", "video", "ads",
           "eu", "us", "edge", "push", "sync")
_INTERNAL = ("dc01", "dc02", "files", "intranet", "wiki", "git", "mail", "print", "proxy",
             "vpn", "jira", "build", "backup", "db01", "app01")
_PATHS = ("/", "/index.html", "/api/v1/items", "/api/v2/status", "/static/js/app.js",
          "/static/css/site.css", "/images/logo.png", "/search", "/news/latest",
          "/ubuntu/dists/jammy/InRelease", "/msdownload/update/v3/static/trustedr/en/authroot.stl",
          "/favicon.ico", "/login", "/dashboard", "/health")
_MIMES = ("text/html", "text/html", "application/json", "application/json",
          "application/javascript", "text/css", "image/png", "text/html", "text/html",
          "text/plain", "application/vnd.ms-cab-compressed", "image/x-icon", "text/html",
          "text/html", "application/json")
_B32 = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz234567", dtype=np.uint8)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)

BROWSERS_WIN = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 Safari/537.36 Edg/122.0.2365.66",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0",
)
BROWSERS_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 Safari/537.36",
)
SYSTEM_WIN = ("Microsoft-CryptoAPI/10.0",
              "Windows-Update-Agent/10.0.10011.16384 Client-Protocol/2.71")
SYSTEM_LINUX = ("Debian APT-HTTP/1.3 (2.4.11)", "curl/7.81.0", "python-requests/2.31.0")
SERVER_UAS = ("Apache-HttpClient/4.5.14 (Java/17.0.9)",
              "check_http/v2.3.3 (monitoring-plugins 2.3.3)")


def random_strings(rng: np.random.Generator, lengths: np.ndarray,
                   alphabet: np.ndarray = _B32) -> pa.Array:
    """Random strings of the given lengths over `alphabet` (vectorised)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    chars = alphabet[rng.integers(0, alphabet.shape[0], total)]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    return pa.StringArray.from_buffers(len(lengths), pa.py_buffer(offsets.tobytes()),
                                       pa.py_buffer(chars.tobytes()))


def _take(values: tuple[str, ...] | list[str], idx: np.ndarray) -> pa.Array:
    return pa.array(list(values), type=pa.string()).take(pa.array(idx.astype(np.int64)))


def _join(*parts: pa.Array | pa.Scalar | str) -> pa.Array:
    p = [pa.scalar(x) if isinstance(x, str) else x for x in parts]
    return pc.binary_join_element_wise(*p, "")


def _pick(rng: np.random.Generator, n: int, weights: tuple[float, ...]) -> np.ndarray:
    cdf = np.cumsum(np.asarray(weights, dtype=float))
    return np.minimum(np.searchsorted(cdf / cdf[-1], rng.random(n), side="right"),
                      len(weights) - 1)


@dataclass
class AppVocab:
    """What the network's people resolve and request, fixed by the seed."""

    domains: list[str]  # registered domains, most popular first
    domain_cdf: np.ndarray
    cdn: list[tuple[int, list[str]]]  # (domain index, its pool of hashed subdomains)
    company: str  # the internal domain is corp.<company>.com
    client_ips: np.ndarray  # sorted uint32
    client_linux: np.ndarray  # aligned with client_ips
    internal: Callable[[np.ndarray], np.ndarray]

    @staticmethod
    def build(net: Network, seed: int) -> AppVocab:
        rng = np.random.default_rng([seed, 31])
        names: list[str] = []
        seen: set[str] = set()
        while len(names) < 400:
            k = int(rng.integers(2, 4))
            base = "".join(_SYLL[int(i)] for i in rng.integers(0, len(_SYLL), k))
            name = f"{base}.{_TLDS[int(rng.integers(0, len(_TLDS)))]}"
            if name not in seen:
                seen.add(name)
                names.append(name)
        company = names.pop(int(rng.integers(0, 20)))
        company = company.split(".")[0]
        w = 1.0 / np.arange(1, len(names) + 1) ** 1.1
        cdf = np.cumsum(w) / w.sum()
        cdn = []
        for i in (1, 4, 9):  # a few popular domains serve from hashed host names
            size = int(rng.integers(30, 120))
            pool = random_strings(rng, rng.integers(8, 14, size), _HEX).to_pylist()
            cdn.append((i, [str(x) for x in pool]))
        order = np.argsort(net.clients.ip)
        return AppVocab(names, cdf, cdn, company, net.clients.ip[order],
                        net.clients.linux[order], net.is_internal)

    def linux(self, ips: np.ndarray) -> np.ndarray:
        """Is each address a Linux client (False for non-clients)?"""
        if self.client_ips.shape[0] == 0:
            return np.zeros(ips.shape[0], dtype=bool)
        i = np.minimum(np.searchsorted(self.client_ips, ips), self.client_ips.shape[0] - 1)
        return (self.client_ips[i] == ips) & self.client_linux[i]

    def is_client(self, ips: np.ndarray) -> np.ndarray:
        if self.client_ips.shape[0] == 0:
            return np.zeros(ips.shape[0], dtype=bool)
        i = np.minimum(np.searchsorted(self.client_ips, ips), self.client_ips.shape[0] - 1)
        return self.client_ips[i] == ips

    def names(self, rng: np.random.Generator, n: int) -> tuple[pa.Array, pa.Array]:
        """`n` query names of the background and their query types."""
        kind = _pick(rng, n, (0.74, 0.2, 0.03, 0.03))  # external, internal, reverse, cdn
        dom = np.minimum(np.searchsorted(self.domain_cdf, rng.random(n), side="right"),
                         len(self.domains) - 1)
        shape = _pick(rng, n, (0.35, 0.5, 0.15))  # no label, one label, two labels
        l1 = _take(_LABELS, rng.integers(0, len(_LABELS), n))
        l2 = _take(_LABELS, rng.integers(0, len(_LABELS), n))
        d = _take(self.domains, dom)
        ext = pc.if_else(pa.array(shape == 0), d, pc.if_else(
            pa.array(shape == 1), _join(l1, ".", d), _join(l2, ".", l1, ".", d)))
        host = _take(_INTERNAL, rng.integers(0, len(_INTERNAL), n))
        internal = _join(host, f".corp.{self.company}.com")
        octs = [_s(rng.integers(1, 255, n)) for _ in range(3)]
        reverse = _join(octs[0], ".", octs[1], ".", octs[2], ".10.in-addr.arpa")
        which = rng.integers(0, len(self.cdn), n)
        cdn_names = []
        for j, (di, pool) in enumerate(self.cdn):
            cdn_names.append((which == j, _join(_take(pool, rng.integers(0, len(pool), n)), ".",
                                                self.domains[di])))
        cdn = cdn_names[0][1]
        for m, arr in cdn_names[1:]:
            cdn = pc.if_else(pa.array(m), arr, cdn)
        out = pc.if_else(pa.array(kind == 0), ext, pc.if_else(
            pa.array(kind == 1), internal, pc.if_else(pa.array(kind == 2), reverse, cdn)))
        qt_ext = _take(("A", "AAAA", "HTTPS", "TXT", "MX", "SRV"),
                       _pick(rng, n, (0.66, 0.24, 0.06, 0.01, 0.01, 0.02)))
        qt_int = _take(("A", "AAAA", "SRV"), _pick(rng, n, (0.62, 0.13, 0.25)))
        qtype = pc.if_else(pa.array(kind == 1), qt_int,
                           pc.if_else(pa.array(kind == 2), pa.scalar("PTR"), qt_ext))
        return out, qtype


@dataclass
class AppPlant:
    """A planted scenario's own application fields for its tagged connections."""

    kind: str  # "dns" | "http"
    fields: Callable[[np.random.Generator, int], dict[str, pa.Array]]
    extra: dict[str, object] = field(default_factory=dict)


def _answers(rng: np.random.Generator, qtype: pa.Array, ok: np.ndarray) -> pa.Array:
    n = len(qtype)
    a = _join(_s(rng.integers(1, 224, n)), ".", _s(rng.integers(0, 256, n)), ".",
              _s(rng.integers(0, 256, n)), ".", _s(rng.integers(1, 255, n)))
    aaaa = _join("2a00:1450:4001:", _s(rng.integers(800, 840, n)), "::", _s(rng.integers(1, 99, n)))
    txt = pa.scalar("v=spf1 include:_spf.mx.example ~all")
    ans = pc.if_else(pc.equal(qtype, "A"), a, pc.if_else(
        pc.equal(qtype, "AAAA"), aaaa, pc.if_else(pc.equal(qtype, "TXT"), txt,
                                                  pa.scalar("-"))))
    return pc.if_else(pa.array(ok), ans, pa.scalar("-"))


def dns_table(c: Conns, uid: np.ndarray, rng: np.random.Generator, vocab: AppVocab,
              plants: dict[int, AppPlant]) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """The DNS records of the connections `c` (rows of udp/53 with service dns): the
    selected row indices and their application fields."""
    sel = np.flatnonzero((c.proto == C.UDP) & (c.dport == 53)
                         & (c.service == C.service_code("dns")))
    n = int(sel.shape[0])
    query, qtype = vocab.names(rng, n)
    answered = c.state[sel] == C.SF
    rc = _pick(rng, n, (0.962, 0.033, 0.005))
    rcode = pc.if_else(pa.array(answered), _take(("NOERROR", "NXDOMAIN", "SERVFAIL"), rc),
                       pa.scalar("-"))
    ok = answered & (rc == 0)
    answers = _answers(rng, qtype, ok)
    fields = {"query": query, "qtype_name": qtype, "rcode_name": rcode, "answers": answers}
    tags = c.tag[sel]
    for t in np.unique(tags[tags >= 0]).tolist():
        p = plants.get(int(t))
        if p is None or p.kind != "dns":
            continue
        m = tags == t
        own = p.fields(rng, int(m.sum()))
        idx = np.flatnonzero(m)
        for k, v in own.items():
            fields[k] = _scatter(fields[k], idx, v)
        fields["rcode_name"] = pc.if_else(pa.array(answered), fields["rcode_name"],
                                          pa.scalar("-"))
    return sel, fields


def _scatter(base: pa.Array, idx: np.ndarray, values: pa.Array) -> pa.Array:
    """`base` with rows `idx` replaced by `values` (in order)."""
    pos = np.arange(len(base), dtype=np.int64)
    src = np.zeros(len(base), dtype=np.int64)
    src[idx] = np.arange(idx.shape[0]) + len(base)
    pos[idx] = src[idx]
    both = pa.concat_arrays([base.cast(pa.string()), values.cast(pa.string())])
    return both.take(pa.array(pos))


def http_table(c: Conns, uid: np.ndarray, rng: np.random.Generator, vocab: AppVocab,
               addr: Addresses, plants: dict[int, AppPlant]
               ) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """The HTTP requests of the connections `c` (tcp, service http, request bytes seen)."""
    est = np.isin(c.state, [C.SF, C.RSTO, C.RSTR, C.S1])
    sel = np.flatnonzero((c.proto == C.TCP) & (c.service == C.service_code("http")) & est
                         & (c.orig_bytes > 0))
    n = int(sel.shape[0])
    src, dst = c.src[sel], c.dst[sel]
    ext_dst = ~vocab.internal(dst)
    ext_src = ~vocab.internal(src)
    dom = np.minimum(np.searchsorted(vocab.domain_cdf, rng.random(n), side="right"),
                     len(vocab.domains) - 1)
    ext_host = _join("www.", _take(vocab.domains, dom))
    int_host = _join(_take(("intranet", "wiki", "app01", "build", "jira"),
                           (dst % 5).astype(np.int64)), f".corp.{vocab.company}.com")
    pub_host = pa.scalar(f"www.{vocab.company}.com")
    host = pc.if_else(pa.array(ext_dst), ext_host,
                      pc.if_else(pa.array(ext_src), pub_host, int_host))
    path = rng.integers(0, len(_PATHS), n)
    uri = _take(_PATHS, path)
    q = rng.random(n)
    uri = pc.if_else(pa.array((path == 2) & (q < 0.7)),
                     _join(uri, "?id=", _s(rng.integers(1, 5000, n))), uri)
    uri = pc.if_else(pa.array(path == 7),
                     _join(uri, "?q=", _take(_LABELS, rng.integers(0, len(_LABELS), n))), uri)
    method = _take(("GET", "POST", "HEAD"), _pick(rng, n, (0.86, 0.12, 0.02)))
    status = np.array([200, 304, 301, 302, 404, 403, 500])[
        _pick(rng, n, (0.82, 0.07, 0.03, 0.02, 0.04, 0.01, 0.01))]
    # user agents: a client's browser (by the hash of its address), its system agents, the
    # servers' clients, and external visitors' browsers with a long tail of versions
    h = ((src.astype(np.uint64) * np.uint64(2654435761)) >> np.uint64(7)).astype(np.int64)
    lin = vocab.linux(src)
    client = vocab.is_client(src)
    browser = pc.if_else(pa.array(lin), _take(BROWSERS_LINUX, h % len(BROWSERS_LINUX)),
                         _take(BROWSERS_WIN, h % len(BROWSERS_WIN)))
    system = pc.if_else(pa.array(lin), _take(SYSTEM_LINUX, rng.integers(0, 3, n)),
                        _take(SYSTEM_WIN, rng.integers(0, 2, n)))
    ua_client = pc.if_else(pa.array(rng.random(n) < 0.2), system, browser)
    ua_server = _take(SERVER_UAS, h % len(SERVER_UAS))
    visitor = _join("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
                    "Gecko) Chrome/", _s(100 + h % 23), ".0.", _s(h % 6000), ".",
                    _s((h >> 13) % 200), " Safari/537.36")
    ua = pc.if_else(pa.array(client), ua_client, pc.if_else(pa.array(ext_src), visitor, ua_server))
    resp = np.maximum(c.resp_bytes[sel] - 280, 0)
    resp = np.where(status == 304, 0, resp)
    mime = pc.if_else(pa.array(resp > 0), _take(_MIMES, path), pa.scalar("-"))
    fields = {"method": method, "host": host, "uri": uri, "user_agent": ua,
              "status_code": _s(status), "response_body_len": _s(resp),
              "resp_mime_types": mime}
    tags = c.tag[sel]
    for t in np.unique(tags[tags >= 0]).tolist():
        p = plants.get(int(t))
        if p is None or p.kind != "http":
            continue
        idx = np.flatnonzero(tags == t)
        own = p.fields(rng, idx.shape[0])
        for k, v in own.items():
            fields[k] = _scatter(fields[k], idx, v)
    # a request body only with POST (the request's bytes less its headers)
    post = np.asarray(fields["method"].to_pylist(), dtype=object) == "POST"
    fields["request_body_len"] = _s(np.where(post, np.maximum(c.orig_bytes[sel] - 350, 0), 0))
    return sel, fields


def app_header(path: str, fields: tuple[str, ...], types: tuple[str, ...], open_us: int
               ) -> bytes:
    """The Zeek TSV header block of a `path` log (dns, http)."""
    lines = [
        "#separator \\x09",
        "#set_separator\t,",
        "#empty_field\t(empty)",
        "#unset_field\t-",
        f"#path\t{path}",
        f"#open\t{zeek_time(open_us)}",
        "#fields\t" + "\t".join(fields),
        "#types\t" + "\t".join(types),
    ]
    return ("\n".join(lines) + "\n").encode()


def _tf(mask: np.ndarray) -> pa.Array:
    return pa.array(["F", "T"], type=pa.string()).take(pa.array(mask.astype(np.int8)))


def dns_lines(c: Conns, uid: np.ndarray, addr: Addresses, rng: np.random.Generator,
              vocab: AppVocab, plants: dict[int, AppPlant]
              ) -> tuple[memoryview, np.ndarray, np.ndarray]:
    """Rendered dns.log records of `c`: (body, line offsets, row index of each line in c)."""
    sel, f = dns_table(c, uid, rng, vocab, plants)
    n = int(sel.shape[0])
    if n == 0:
        return memoryview(b""), np.zeros(1, dtype=np.int64), sel
    s = c.take(sel)
    src, dst = addr.arrays(s.src, s.dst)
    answered = s.state == C.SF
    rtt = pc.if_else(pa.array(answered & (s.duration > 0)), _fixed(np.maximum(s.duration, 0), 6),
                     pa.scalar("-"))
    qt = f["qtype_name"]
    qt_code = _s(np.array([QTYPES.get(str(x), 0) for x in qt.to_pylist()], dtype=np.int64))
    rc_names = f["rcode_name"].to_pylist()
    rc_code = pc.if_else(pa.array(answered), _s(np.array([RCODES.get(str(x), 0)
                                                           for x in rc_names])), pa.scalar("-"))
    has = pc.not_equal(f["answers"], "-")
    ttl = pc.if_else(has, pa.scalar("300.000000"), pa.scalar("-"))
    cols = [_fixed(s.ts, 6), pa.array(uid[sel]).cast(pa.string()), src, _s(s.sport), dst,
            _s(s.dport), pa.scalar("udp"), _s(rng.integers(0, 65536, n)), rtt, f["query"],
            pa.scalar("1"), pa.scalar("C_INTERNET"), qt_code, qt, rc_code, f["rcode_name"],
            pa.scalar("F"), pa.scalar("F"), pa.scalar("T"), _tf(answered), pa.scalar("0"),
            f["answers"], ttl, pa.scalar("F\n")]
    line = pc.binary_join_element_wise(*cols, "\t")
    return _body(line), _offsets(line), sel


def http_lines(c: Conns, uid: np.ndarray, addr: Addresses, rng: np.random.Generator,
               vocab: AppVocab, plants: dict[int, AppPlant]
               ) -> tuple[memoryview, np.ndarray, np.ndarray]:
    """Rendered http.log records of `c`: (body, line offsets, row index of each line in c)."""
    sel, f = http_table(c, uid, rng, vocab, addr, plants)
    n = int(sel.shape[0])
    if n == 0:
        return memoryview(b""), np.zeros(1, dtype=np.int64), sel
    s = c.take(sel)
    src, dst = addr.arrays(s.src, s.dst)
    codes = [int(x) for x in f["status_code"].to_pylist()]
    msg = pa.array([STATUS.get(x, "-") for x in codes], type=pa.string())
    fuid = pc.if_else(pc.not_equal(f["resp_mime_types"], "-"),
                      _join("F", random_strings(rng, np.full(n, 17), _HEX)), pa.scalar("-"))
    cols = [_fixed(s.ts, 6), pa.array(uid[sel]).cast(pa.string()), src, _s(s.sport), dst,
            _s(s.dport), pa.scalar("1"), f["method"], f["host"], f["uri"], pa.scalar("-"),
            pa.scalar("1.1"), f["user_agent"], pa.scalar("-"), f["request_body_len"],
            f["response_body_len"], f["status_code"], msg, pa.scalar("-"), pa.scalar("-"),
            pa.scalar("(empty)"), pa.scalar("-"), pa.scalar("-"), pa.scalar("-"),
            pa.scalar("-"), pa.scalar("-"), pa.scalar("-"), fuid, pa.scalar("-"),
            _join(f["resp_mime_types"], "\n")]
    line = pc.binary_join_element_wise(*cols, "\t")
    return _body(line), _offsets(line), sel
