"""First-time behaviour of a host: what it does in the window that it (or its peers) never did.

The LDA, volume and fingerprint detectors look at connections, buckets and pairs; a small
intrusion step is a handful of connections that look ordinary one by one. What gives it away is
that the *originator* does something for the first time. Learned from the archive windows
before the scored one (`history_days`, default 28), every connection the host originated in
the window is checked for five kinds of first time (an **answered** connection: its responder
replied — Zeek states SF, S1-S3, RSTO, RSTR, the unknown state `-` of flow records, or a
reply packet; failed probes (S0, REJ, RSTOS0, SH) never do):

- `new_host` (weight 2): the host was never seen in the history (as either end) and talks to
  internal hosts; n = distinct internal peers that answered.
- `new_admin` (2): it uses a remote-administration service (ssh, telnet, rpc, smb, rdp, winrm,
  vnc: `admin_ports`) of an internal host, a (peer, port) it never used before; n = the
  services' summed rarity (below; the evidence's `n` counts the distinct peers). The same
  weight again when, within `chain_seconds` after, that peer itself opens a first admin
  conversation with a third host (a hop after a hop).
- `new_service` (1.5): it talks to an internal peer it already talked to, over a (proto, port)
  the pair never used and that either the peer never answered on (for anyone) or the host, a
  client with at least `min_client` history connections, never used with anyone (external
  peers' services churn: not counted); n = summed rarity of the (peer, proto, port).
- `new_periodic` (2): it repeats answered connections to an external host nobody contacted in
  the history, at regular intervals (robust spread of the gaps, MAD / median, below
  `max_jitter`; gaps over 4 x the median are pauses); n = its connections to that host.
- `failed_to_answered` (2): it gets answers from a (dst, proto, port) whose every history
  connection (at least `min_failed`) went unanswered; n = distinct such services.

**Weights learned from the history.** With two or more history windows, the last one is
scored against the earlier ones and each part's weight becomes its surprise in bits,
-log2((k + 0.5) / (m + 1)), where k of the m originators of the same zone (internal /
external) showed it: a kind of first time that half the external clients show every week (a
new visitor of the public web server) weighs 1 bit, one that no internal host showed weighs
about 7. With a single history window, its last 30 % of time (`holdout`) is scored against the
first 70 % instead; without history, the default weights above hold.

Each part scores `weight · log2(1 + n)`; `new_periodic` scores
`weight · regularity · log2(1 + n / 10)` (regularity = 1 - jitter / max_jitter). In
`new_admin` and `new_service`, n is the sum of the services' **rarity** instead of their count:
how unusual it is for an internal client to use that (peer, proto, port), the surprise
-log2((k + 0.5) / (m + 1)) of a service k of the history's m internal clients used, over that
of a service nobody used (so in (0, 1]). A client's first smb session with the domain
controller most clients use adds little; a first WinRM session with a workstation that never
served anyone counts in full (lateral movement goes where nobody goes). The host's score is the
sum of its parts. Only originators are scored: the host that does something new,
not the server it does it to. Nothing here reads labels; a host without any first time is not scored
(no evidence, see `graphnet.risk`).

The `behaviour` step (the scheduler's, `graphnet behaviour`) saves one `first_behaviour` finding
per originating host with a first time (the `max_findings` highest), which `graphnet risk`
fuses as the detector `behaviour`.

**Out of core.** The step never loads the window or its history: the analytical engine groups
their connections by (originator, peer, proto, port) once, the first-time sets are anti-joins
of those groups and the regularity of the candidate periodic pairs is computed in SQL from
their gaps (`graphnet/sql/behaviour_*.sql`); only the first times reach Python. A host's
services are listed in the order it first used them (time, then peer, proto, port). The
detector scores hosts, not connections (no connection scores, with or without
`ConnectionScores`).

The package, one concern per module (none imports this `__init__`):

- `model`: `BehaviourSettings`, the aggregates of a window's first times (`Firsts`), the five
  parts per host (`parts_of`), the host scores (`host_frame`) and the learned weights;
- `frames`: `FirstBehaviour`, the `Model` over connection frames, and the pandas aggregations
  it uses (the oracles of the SQL statements);
- `aggregates`: the same aggregates asked of the archive (the engine's statements);
- `step`: the findings, the Browser query, `BehaviourResult` and the step's `run`.
"""

from __future__ import annotations

from graphnet.detectors.behaviour.frames import FirstBehaviour, answered
from graphnet.detectors.behaviour.model import (
    ADMIN_PORTS,
    ANSWERED_STATES,
    CHAIN_TEXT,
    PARTS,
    BehaviourSettings,
    Firsts,
    host_frame,
    parts_of,
)
from graphnet.detectors.behaviour.step import (
    BROWSER_QUERY,
    BehaviourResult,
    browser_query,
    example_uids,
    findings_from_hosts,
    run,
)

__all__ = [
    "ADMIN_PORTS",
    "ANSWERED_STATES",
    "BROWSER_QUERY",
    "CHAIN_TEXT",
    "PARTS",
    "BehaviourResult",
    "BehaviourSettings",
    "FirstBehaviour",
    "Firsts",
    "answered",
    "browser_query",
    "example_uids",
    "findings_from_hosts",
    "host_frame",
    "parts_of",
    "run",
]
