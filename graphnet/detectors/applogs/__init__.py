"""Beyond conn.log: Spot's DNS and proxy suspicious connects and RITA-class DNS tunnelling,
over the normalised `dns` and `http` tables (Zeek dns.log / http.log).

- `names`: query names, URIs and agents taken apart (Spot's domain rule, registered domains,
  entropy and Spot's bins), per distinct value;
- `words`: Spot's DNS and proxy words in pandas (the oracle of `graphnet/sql/app_*_views.sql`);
- `model`: the flow detector's topic model (`lda.model`) over per-client documents of those
  words (`SpotLogModel`, the pure `Model`);
- `tunnel`: distinct subdomains per registered domain against a threshold learned from the
  window's domains (pure);
- `source`: THE SEAM through which every step reads dns/http records (`app_session`);
- `steps`: `suspicious_dns`, `suspicious_http` and `dns_tunnel` (`run_dns`, `run_http`,
  `run_tunnel`), out of core on the engine.

`STEPS` are the registry entries, ready for `registry.default_steps()` once the archive holds
dns and http records (see `source`); until then a caller passes the records with the
`steps.AppLogsSource` option.
"""

from graphnet.detectors.applogs.model import SpotLogModel
from graphnet.detectors.applogs.source import AppLogs, FrameLogs, app_session
from graphnet.detectors.applogs.steps import (
    AppLogsSource,
    SuspiciousDnsSettings,
    SuspiciousHttpSettings,
    run_dns,
    run_http,
    run_tunnel,
)
from graphnet.detectors.applogs.tunnel import TunnelSettings
from graphnet.detectors.applogs.words import DnsWords, HttpWords
from graphnet.detectors.contract import Step

STEPS: tuple[Step, ...] = (
    Step(
        "suspicious_dns",
        run_dns,
        "Spot-style DNS suspicious connects (topic model of each client's query words)",
        kind="suspicious_dns",
    ),
    Step(
        "suspicious_http",
        run_http,
        "Spot-style proxy suspicious connects over http.log (topic model of request words)",
        kind="suspicious_http",
    ),
    Step(
        "dns_tunnel",
        run_tunnel,
        "RITA-class DNS tunnelling: registered domains with far more distinct subdomains than "
        "the window's other domains (judged against the window alone)",
        kind="dns_tunnel",
    ),
)

__all__ = [
    "STEPS",
    "AppLogs",
    "AppLogsSource",
    "DnsWords",
    "FrameLogs",
    "HttpWords",
    "SpotLogModel",
    "SuspiciousDnsSettings",
    "SuspiciousHttpSettings",
    "TunnelSettings",
    "app_session",
    "run_dns",
    "run_http",
    "run_tunnel",
]
