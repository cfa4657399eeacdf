"""Hosts: which are internal, and their subnet (the classification `Host` nodes hold)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

_DEFAULT_INTERNAL = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)


def host_classifier(
    internal_cidrs: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network] = (),
) -> Callable[[str], dict[str, Any]]:
    """id -> {ip, internal, subnet}: RFC 1918/4193 are internal unless CIDRs are configured."""
    nets = tuple(internal_cidrs) or _DEFAULT_INTERNAL

    @lru_cache(maxsize=1 << 18)
    def classify(host_id: str) -> dict[str, Any]:
        try:
            ip = ipaddress.ip_address(host_id.split("%", 1)[0])
        except ValueError:
            return {"ip": None, "internal": False, "subnet": None}
        prefix = 24 if ip.version == 4 else 64
        subnet = str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
        internal = any(ip.version == n.version and ip in n for n in nets)
        return {"ip": str(ip), "internal": internal, "subnet": subnet}

    return classify


def internal_hosts(
    internal_cidrs: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network] = (),
) -> Callable[[np.ndarray], np.ndarray]:
    """Host ids -> a boolean array: internal (`host_classifier`)? The classifier's cache is
    emptied after each call, so that classifying many hosts in batches keeps no more than a
    batch."""
    classify = host_classifier(internal_cidrs)

    def internal(hosts: np.ndarray) -> np.ndarray:
        out = np.array([bool(classify(str(h))["internal"]) for h in hosts], dtype=bool)
        classify.cache_clear()  # type: ignore[attr-defined]
        return out

    return internal
