"""What the behaviour step asks the archive, as SQL aggregations run by the analytical engine
(`graphnet/sql/behaviour_*.sql`) over a session whose `conns` is the window and `past` its
history: the window's first times (`model.Firsts`) against the history, the same against the
history's latest part (for the learned weights), and the example connections of the findings.

One pass over each table groups the connections by (originator, peer, proto, port)
(`behaviour_learn`); the first-time sets are anti-joins of those groups, and only the first
times (and the regularity of the candidate periodic pairs, computed in SQL from their gaps)
reach Python: they grow with the distinct services and pairs, never with the connections. The
pandas versions in `frames` are the oracles these are tested against.

The statements share temporary tables named `b_*` within the session; the lookups are
`b_admin` (port: the admin ports), `b_internal` (host: the internal hosts, classified here in
batches) and `b_keys` (s, d, port: the services of the findings).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa

from graphnet import windows
from graphnet.detectors.behaviour.model import (
    PERIODIC_COLUMNS,
    SERVICE_COLUMNS,
    BehaviourSettings,
    Firsts,
    learned_bits,
    shown_by,
)

log = logging.getLogger(__name__)

#: hosts per batch classified internal / external
BATCH_ROWS = 100_000
#: example uids per originating host in a finding
EXAMPLES = 10
_FLAGS = ("new_host", "new_admin", "new_service", "failed")


class Session(Protocol):
    """The part of an archive session (`Archive.session`) the behaviour step uses."""

    def table(self, name: str, params: Mapping[str, Any] | None = None) -> pa.Table: ...

    def batches(
        self, name: str, params: Mapping[str, Any] | None = None, rows: int = ...
    ) -> Iterator[pa.RecordBatch]: ...

    def lookup(self, table: str, data: pa.Table) -> None: ...


def admin_table(settings: BehaviourSettings) -> pa.Table:
    """The lookup `b_admin`: the remote-administration ports of the settings."""
    return pa.table({"port": pa.array(sorted(settings.admin_ports), pa.int64())})


def split(
    s: Session, history: Sequence[str], settings: BehaviourSettings
) -> tuple[str, float] | None:
    """Where the history is cut to learn the parts' weights: (window, time) such that its
    connections of that window or later, at or after that time, are scored against the
    earlier ones; None when there is nothing to learn from (the settings' weights hold).

    The latest window (of `window_kind`) of the history against the earlier ones; with a
    single window, its last `holdout` share of time. When the archive's windows are of
    `window_kind` and there are two or more, the latest is read from the archive's windows;
    otherwise from the history's first and last times (`behaviour_range`)."""
    st = settings
    if len(history) >= 2 and {windows.kind_of(w) for w in history} == {st.window_kind}:
        return history[-1], float("-inf")
    row = s.table("behaviour_range").to_pylist()[0]
    if not row["n"] or row["lo"] is None or row["hi"] is None:
        return None
    lo, hi = float(row["lo"]), float(row["hi"])
    start = windows.bounds(windows.window_of(hi, st.window_kind))[0].timestamp()
    if lo < start:
        return "", start
    if st.holdout <= 0:
        return None
    cut = lo + (1.0 - st.holdout) * (hi - lo)
    if hi < cut or lo >= cut:
        return None
    return "", cut


def internal_hosts(s: Session, internal: Callable[[np.ndarray], np.ndarray]) -> pa.Table:
    """The lookup `b_internal`: the internal hosts among every host of the history and of
    the window (after `behaviour_learn`), classified in batches."""
    keep: list[str] = []
    seen = 0
    for batch in s.batches("behaviour_hosts", None, rows=BATCH_ROWS):
        hosts = np.asarray(batch.column(0).to_pylist(), dtype=object)
        seen += len(hosts)
        keep.extend(str(h) for h in hosts[internal(hosts)])
    log.debug("behaviour: %d hosts, %d internal", seen, len(keep))
    return pa.table({"host": pa.array(sorted(keep), pa.string())})


def firsts(s: Session, counts: Mapping[str, Any], settings: BehaviourSettings) -> Firsts:
    """The first times of the session's current scope (after a `behaviour_scope_*`
    statement, whose row is `counts`)."""
    st = settings
    got = s.table(
        "behaviour_firsts", {"min_client": int(st.min_client), "min_failed": int(st.min_failed)}
    ).to_pandas()
    services = pd.DataFrame(
        {
            "s": got["s"].to_numpy(dtype=object),
            "d": got["d"].to_numpy(dtype=object),
            "p": got["p"].to_numpy(dtype=object),
            "port": got["port"].to_numpy(dtype="int64"),
            "first": got["first_ok"].to_numpy(dtype="float64"),
            "users": got["users"].to_numpy(dtype="int64"),
            **{c: got[c].to_numpy(dtype="int64") > 0 for c in _FLAGS},
        },
        columns=list(SERVICE_COLUMNS),
    )
    pairs = s.table("behaviour_pairs", {"min_periodic": int(st.min_periodic)})
    periodic = pd.DataFrame(columns=list(PERIODIC_COLUMNS))
    if pairs.column("pairs")[0].as_py():
        p = s.table("behaviour_periodic").to_pandas()
        periodic = pd.DataFrame(
            {
                "s": p["s"].to_numpy(dtype=object),
                "d": p["d"].to_numpy(dtype=object),
                "port": p["port"].to_numpy(dtype="int64"),
                "n": p["n"].to_numpy(dtype="int64"),
                "period": p["period"].to_numpy(dtype="float64"),
                "med": pd.to_numeric(p["med"]).to_numpy(dtype="float64"),
                "mad": pd.to_numeric(p["mad"]).to_numpy(dtype="float64"),
            }
        )
    n_int = int(counts["internal_originators"])
    return Firsts(
        services=services,
        periodic=periodic,
        internal_clients=int(counts["internal_clients"]),
        history_rows=int(counts["history_rows"]),
        originators={True: n_int, False: int(counts["originators"]) - n_int},
    )


def first_times(
    s: Session,
    history: Sequence[str],
    settings: BehaviourSettings,
    internal: Callable[[np.ndarray], np.ndarray],
) -> tuple[Firsts, dict[tuple[str, bool], float]]:
    """The window's first times against its history, and the parts' weights learned from
    the history's latest part scored against the rest (`model.learned_bits`; empty: the
    settings' weights). The session binds `conns` (the window), `past` (its `history`) and
    the lookup `b_admin` (`admin_table`); its scope is the window's afterwards."""
    cut = split(s, history, settings)
    s.table(
        "behaviour_learn",
        {
            "split": int(cut is not None),
            "last_win": cut[0] if cut else "",
            "cut_ts": cut[1] if cut else 0.0,
        },
    )
    s.lookup("b_internal", internal_hosts(s, internal))
    bits: dict[tuple[str, bool], float] = {}
    if cut is not None:
        counts = s.table("behaviour_scope_history").to_pylist()[0]
        got = firsts(s, counts, settings)
        bits = learned_bits(shown_by(got, settings), got.originators, internal)
    counts = s.table("behaviour_scope_window").to_pylist()[0]
    return firsts(s, counts, settings), bits


def examples(
    s: Session, keys: Mapping[str, Sequence[tuple[str, int]]], limit: int = EXAMPLES
) -> dict[str, dict[str, Any]]:
    """Per host: up to `limit` uids (earliest first), the count and the first/last time of its
    answered connections in the window to the (peer, port) services of its first times (the
    session's scope is the window's)."""
    rows = [(h, d, int(port)) for h, ks in keys.items() for d, port in ks]
    if not rows:
        return {}
    s.lookup(
        "b_keys",
        pa.table(
            {
                "s": pa.array([r[0] for r in rows], pa.string()),
                "d": pa.array([r[1] for r in rows], pa.string()),
                "port": pa.array([r[2] for r in rows], pa.int64()),
            }
        ),
    )
    got = s.table("behaviour_examples", {"limit": int(limit)}).to_pylist()
    out: dict[str, dict[str, Any]] = {}
    for r in got:
        h = str(r["s"])
        ex = out.setdefault(
            h,
            {
                "uids": [],
                "connections": int(r["cnt"]),
                "first": float(r["first_ts"]),
                "last": float(r["last_ts"]),
            },
        )
        ex["uids"].append(str(r["uid"]))
    return out
