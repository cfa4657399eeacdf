"""Ground truth of the evaluation: what is planted (a generator's truth.json) or labelled
(the archive's label columns) as an attack.

`load_truth` reads the scenarios of a truth.json, `label_positive` decides from label columns
whether a connection is an attack, benign or unknown, and `WindowTruth` holds what is positive
in one window (built by `graphnet.evaluation.harness.window_truth`).

The application-log plants of `graphnet generate --app-logs` (`PLANT_DETECTORS`: DNS
tunnelling, a DGA-like client, a rare-user-agent http beacon) live in dns.log / http.log,
whose detectors score records and clients, not connections: a plant's **client** (its
`hosts.attacker`) is what they should rank high (`Scenario.detectors`, `WindowTruth.plants`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graphnet import windows

POSITIVE = re.compile(
    r"malicious|malware|botnet|attack|victim|scan|brute|\bdos\b|\bddos\b|c&c|\bc2\b|exploit|infected|trojan",
    re.IGNORECASE,
)
NEGATIVE = re.compile(r"benign|normal|background|legitimate", re.IGNORECASE)

#: the application-log plants of `graphnet generate --app-logs` (scenario type) and the
#: detectors meant to find their client; a truth.json scenario may name its own (`detectors`)
PLANT_DETECTORS: dict[str, tuple[str, ...]] = {
    "dns_tunnel": ("suspicious_dns", "dns_tunnel"),
    "dga": ("suspicious_dns",),
    "ua_beacon": ("suspicious_http",),
}


def epoch_seconds(value: Any) -> float | None:
    """Epoch seconds of a number or an ISO time (naive: UTC); None when absent or unparsable."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        t = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.timestamp()


@dataclass
class Scenario:
    id: str
    type: str
    window: str
    attackers: list[str]
    victims: list[str]
    uids: set[str]
    pairs: list[tuple[str, str]]
    start: float | None
    end: float | None
    attack_id: str | None = None
    phases: list[dict[str, Any]] = field(default_factory=list)
    #: the logs its records are in (`details.logs` of truth.json; conn only when absent)
    logs: tuple[str, ...] = ("conn",)
    #: the detectors meant to find its client: an application-log plant's (PLANT_DETECTORS),
    #: or the scenario's own `detectors`; empty for the connection scenarios
    detectors: tuple[str, ...] = ()

    @property
    def client(self) -> str | None:
        """An application-log plant's client (the host whose dns/http records it planted):
        its attacker; None for the other scenarios."""
        return self.attackers[0] if self.detectors and self.attackers else None


def _names(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (str(value),) if isinstance(value, str) else tuple(str(v) for v in value)


def load_truth(path: Path) -> list[Scenario]:
    """Scenarios of a generator's truth.json (graphnet.generate or the synthetic network)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    out = []
    for i, s in enumerate(data.get("scenarios", [])):
        hosts = s.get("hosts") or {}
        att = hosts.get("attacker") or hosts.get("attackers") or []
        att = [att] if isinstance(att, str) else list(att)
        vic = hosts.get("victims") or hosts.get("victim") or []
        vic = [vic] if isinstance(vic, str) else list(vic)
        start = epoch_seconds(s.get("start"))
        win = s.get("window") or (windows.window_of(start) if start is not None else "")
        details = s.get("details") if isinstance(s.get("details"), dict) else {}
        kind = str(s.get("type", "scenario"))
        meant = _names(s.get("detectors")) or PLANT_DETECTORS.get(kind, ())
        out.append(
            Scenario(
                id=str(s.get("id", f"s{i + 1}")),
                type=kind,
                window=str(win),
                attackers=[str(a) for a in att],
                victims=[str(v) for v in vic if str(v) not in att],
                uids={str(u) for u in s.get("uids") or []},
                pairs=[(str(a), str(b)) for a, b in s.get("pairs") or []],
                start=start,
                end=epoch_seconds(s.get("end")),
                attack_id=None if s.get("attack_id") is None else str(s.get("attack_id")),
                phases=list(s.get("phases") or []),
                logs=_names(details.get("logs")) or ("conn",),
                detectors=meant,
            )
        )
    return out


def label_positive(frame: pd.DataFrame) -> pd.Series:
    """From label columns: True (attack), False (benign) or NA (unknown / unlabelled)."""
    out = pd.Series(pd.NA, index=frame.index, dtype="boolean")
    for col in ("attack_type", "detailed_label", "label"):
        if col not in frame.columns:
            continue
        text = frame[col].astype(object).where(frame[col].notna(), "-").astype(str)
        codes, uniq = pd.factorize(text)
        pos = np.array([bool(POSITIVE.search(u)) and u not in ("-", "---") for u in uniq])
        neg = np.array([bool(NEGATIVE.search(u)) for u in uniq])
        p = pos[codes] & ~neg[codes] if len(uniq) else np.zeros(len(text), bool)
        n = neg[codes] if len(uniq) else np.zeros(len(text), bool)
        undecided = out.isna().to_numpy()
        # an attack named in any column wins; benign only where nothing said attack
        out[undecided & p] = True
        out[undecided & n & ~p] = False
    return out


@dataclass
class WindowTruth:
    window: str
    source: str  # "truth" | "labels"
    label: pd.Series  # per connection (ctx.conns order): True / False / NA (left out)
    kind: pd.Series  # per connection: scenario type (or type/phase), "" for the others
    hosts: dict[str, str]  # host -> "attacker" | "victim"
    pairs: set[tuple[str, str]]
    scenarios: list[dict[str, Any]]
    #: the window's application-log plants: {"id", "type", "client", "detectors"}
    plants: list[dict[str, Any]] = field(default_factory=list)

    def clients_of(self, detector: str) -> list[str]:
        """The clients of the window's plants that `detector` is meant to find."""
        return sorted({p["client"] for p in self.plants if detector in p["detectors"]})
