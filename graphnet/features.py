"""Categorical components of connections, computed in one place.

Ingest builds the edge histograms from these columns and scoring reads the very same columns for
each connection, so a fingerprint and the observation scored against it can never disagree.
All functions are vectorised: loops run over distinct values, never over rows.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import pandas as pd
from publicsuffixlist import PublicSuffixList

# component name -> description (used in docs, explanations and reports)
COMPONENTS: dict[str, str] = {
    "proto": "transport protocol",
    "service": "application protocol detected by Zeek",
    "dport": "destination port (ports of 49152 and above as 'dyn')",
    "conn_state": "connection state",
    "history": "TCP history string",
    "orig_act": "what the originator did (upper-case history letters)",
    "resp_act": "what the responder did (lower-case history letters)",
    "hour": "hour of day (UTC)",
    "daytype": "weekday or weekend",
    "src_bytes_bin": "bytes sent by the originator, ceil(log2(x+1))",
    "dst_bytes_bin": "bytes sent by the responder, ceil(log2(x+1))",
    "src_pkts_bin": "packets sent by the originator, ceil(log2(x+1))",
    "dst_pkts_bin": "packets sent by the responder, ceil(log2(x+1))",
}

CONN_STATES: dict[str, str] = {
    "S0": "connection attempt seen, no reply",
    "S1": "established, not terminated",
    "SF": "normal establishment and termination (completed)",
    "REJ": "connection attempt rejected",
    "S2": "established, close attempt by originator only",
    "S3": "established, close attempt by responder only",
    "RSTO": "established, originator aborted (reset)",
    "RSTR": "established, responder aborted (reset)",
    "RSTOS0": "originator sent SYN then reset, no SYN-ACK",
    "RSTRH": "responder sent SYN-ACK then reset, no SYN from originator seen",
    "SH": "originator sent SYN then FIN, no SYN-ACK",
    "SHR": "responder sent SYN-ACK then FIN, no SYN from originator seen",
    "OTH": "no SYN seen, midstream traffic",
    "-": "unknown",
}

HISTORY_LETTERS: dict[str, str] = {
    "s": "SYN",
    "h": "SYN-ACK",
    "a": "pure ACK",
    "d": "packet with payload",
    "f": "FIN",
    "r": "reset",
    "c": "bad checksum",
    "g": "content gap",
    "t": "retransmitted payload",
    "w": "zero window",
    "i": "inconsistent packet",
    "q": "multi-flag packet",
    "^": "direction flipped",
}

UNKNOWN = "-"
_HOURS = np.array([f"{h:02d}" for h in range(24)], dtype=object)


def _bins(values: pd.Series) -> pd.Series:
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
    out = np.full(v.shape, UNKNOWN, dtype=object)
    ok = ~np.isnan(v) & (v >= 0)
    out[ok] = np.ceil(np.log2(v[ok] + 1.0)).astype(np.int64).astype(str)
    return pd.Series(out, index=values.index, dtype=object)


def _map_unique(values: pd.Series, fn: object) -> pd.Series:
    codes, uniques = pd.factorize(values.fillna(UNKNOWN).astype(str), sort=False)
    mapped: np.ndarray = np.array([fn(u) for u in uniques], dtype=object)  # type: ignore[operator]
    if len(mapped) == 0:
        return pd.Series([], index=values.index, dtype=object)
    return pd.Series(mapped[codes], index=values.index, dtype=object)


def act(history: str, upper: bool) -> str:
    """What the originator (`upper`: its upper-case history letters) or the responder did:
    the distinct letters, sorted; "-" for none."""
    if history == UNKNOWN:
        return UNKNOWN
    letters = sorted({c for c in history if (c.isupper() if upper else c.islower())})
    return "".join(letters) if letters else UNKNOWN


def port_class(ports: pd.Series) -> pd.Series:
    p = pd.to_numeric(ports, errors="coerce").to_numpy(dtype="float64")
    out = np.full(p.shape, UNKNOWN, dtype=object)
    known = ~np.isnan(p) & (p >= 0)
    dyn = known & (p >= 49152)
    low = known & ~dyn
    out[dyn] = "dyn"
    out[low] = p[low].astype(np.int64).astype(str)
    return pd.Series(out, index=ports.index, dtype=object)


def _text(values: pd.Series) -> pd.Series:
    s = values.astype(object).where(values.notna(), UNKNOWN)
    s = s.astype(str)
    return s.where(s != "", UNKNOWN).astype(object)


def components(frame: pd.DataFrame, names: Sequence[str] | None = None) -> pd.DataFrame:
    """Normalised connection table -> one text column per component in COMPONENTS (or only
    those of `names`, in that order)."""
    idx = frame.index
    wanted = list(COMPONENTS) if names is None else list(names)
    cache: dict[str, pd.Series] = {}

    def history() -> pd.Series:
        if "history" not in cache:
            cache["history"] = _text(frame["history"])
        return cache["history"]

    def stamps() -> pd.DatetimeIndex:
        return pd.to_datetime(frame["ts"].to_numpy(dtype="float64"), unit="s", utc=True)

    build = {
        "proto": lambda: _text(frame["proto"]).str.lower(),
        "service": lambda: _text(frame["service"]),
        "dport": lambda: port_class(frame["dport"]),
        "conn_state": lambda: _text(frame["conn_state"]),
        "history": history,
        "orig_act": lambda: _map_unique(history(), lambda h: act(h, True)),
        "resp_act": lambda: _map_unique(history(), lambda h: act(h, False)),
        "hour": lambda: pd.Series(_HOURS[stamps().hour.to_numpy()], index=idx, dtype=object),
        "daytype": lambda: pd.Series(
            np.where(stamps().day_of_week.to_numpy() >= 5, "weekend", "weekday"), index=idx
        ),
        "src_bytes_bin": lambda: _bins(frame["src_bytes"]),
        "dst_bytes_bin": lambda: _bins(frame["dst_bytes"]),
        "src_pkts_bin": lambda: _bins(frame["src_pkts"]),
        "dst_pkts_bin": lambda: _bins(frame["dst_pkts"]),
    }
    out = pd.DataFrame({c: build[c]() for c in wanted}, index=idx)
    return out.astype(object)


def describe_history(history: str) -> str:
    """'ShADadFf' -> 'originator SYN, responder SYN-ACK, ...' for reports."""
    if not history or history == UNKNOWN:
        return "no TCP history"
    parts = []
    for c in history:
        who = "originator" if c.isupper() else "responder"
        meaning = HISTORY_LETTERS.get(c.lower())
        parts.append(f"{who} {meaning}" if meaning else f"'{c}'")
    return ", ".join(parts)


def describe_value(component: str, value: str) -> str:
    """A human phrase for a component value, e.g. conn_state SF -> 'completed (SF)'."""
    if component == "conn_state":
        return f"{CONN_STATES.get(value, 'state')} ({value})"
    if component == "history":
        return f"history {value} ({describe_history(value)})"
    if component in ("orig_act", "resp_act"):
        who = "originator" if component == "orig_act" else "responder"
        if value == UNKNOWN:
            return f"{who} sent nothing"
        names = [HISTORY_LETTERS.get(c.lower(), c) for c in value]
        return f"{who} sent {', '.join(names)}"
    if component == "dport":
        return "a dynamic port" if value == "dyn" else f"port {value}"
    if component == "hour":
        return f"hour {value}:00 UTC"
    if component.endswith("_bin"):
        if value == UNKNOWN:
            return f"{component[:-4].replace('_', ' ')} unknown"
        n = int(value)
        lo, hi = (0, 0) if n == 0 else (2 ** (n - 1), 2**n - 1)
        return f"{component[:-4].replace('_', ' ')} {lo}–{hi}"
    return f"{component} {value}"


# --------------------------------------------------------------------------- domain names
#: reverse-lookup zones: a registered domain there is the zone and its first two address labels
_REVERSE_ZONES = ("in-addr", "ip6")


@functools.cache
def _suffixes() -> PublicSuffixList:
    """The public suffix list bundled with the `publicsuffixlist` package (read once, never
    fetched): its ICANN section only, the suffixes under which registries sell names."""
    return PublicSuffixList(only_icann=True)


@functools.lru_cache(maxsize=1 << 16)
def registered_domain(name: str | None) -> str | None:
    """The domain a query name belongs to, as registered (lower case, no trailing dot): the
    name's public suffix by the public suffix list's ICANN section plus one label
    (`a.b.example.com` -> `example.com`, `x.example.co.uk` -> `example.co.uk`,
    `foo.github.io` -> `github.io`: private suffixes such as github.io are not public
    suffixes here); an unknown last label counts as a public suffix (`x.corp.internal` ->
    `corp.internal`). Reverse lookups keep their zone and the first two address labels
    (`4.3.2.1.in-addr.arpa` -> `2.1.in-addr.arpa`). A name that is itself a public suffix
    (`co.uk`, `x.kawasaki.jp`) or of one label is itself; empty labels are dropped; None /
    empty give None. Cached per distinct name."""
    if not name:
        return None
    labels = [x for x in name.strip().rstrip(".").lower().split(".") if x]
    if not labels:
        return None
    if len(labels) >= 2 and labels[-1] == "arpa" and labels[-2] in _REVERSE_ZONES:
        return ".".join(labels[-4:])
    clean = ".".join(labels)
    return _suffixes().privatesuffix(clean) or clean
