"""What the RITA-class steps ask the archive (`graphnet/sql/rita_*.sql`), over a session whose
`conns` is the window: the window's span and its pairs (`window_pairs`, once per session), the
beacon statistics of the candidate pairs, scored a batch at a time (`beacon_pairs`), the
strobes and the long connections above a threshold, and the examples of the findings' pairs.
The connections stay in the engine: only per-pair rows reach Python (and, for one batch of
beacon candidates at a time, their counts in at most `bins` bins).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa

from graphnet.detectors.rita.model import (
    STAT_COLUMNS,
    RitaSettings,
    bars_of,
    bin_count,
    learned_threshold,
)

log = logging.getLogger(__name__)

#: example uids per pair of a finding
EXAMPLES = 10
#: beacon statistics are computed over batches of candidate pairs holding about this many
#: connections each (their quartiles are ordered aggregates, which the engine cannot spill);
#: the candidates' connections are read from the window once, for every batch
#: (`rita_beacon_conns`)
BEACON_BATCH_CONNECTIONS = 1_000_000


class Session(Protocol):
    """The part of an archive session (`Archive.session`) these steps use."""

    def table(self, name: str, params: Mapping[str, Any] | None = None) -> pa.Table: ...

    def lookup(self, table: str, data: pa.Table) -> None: ...


@dataclass(frozen=True)
class WindowPairs:
    """The window's span and what its pairs look like (`rita_pairs`)."""

    lo: float
    hi: float
    connections: int
    hours: int
    pairs: int
    timed: int  # pairs with a cumulative duration over 0
    med_n: float | None  # median of ln(connections per pair)
    mad_n: float | None
    med_dur: float | None  # median of ln(cumulative seconds per pair)
    mad_dur: float | None

    def strobe_threshold(self, st: RitaSettings) -> float:
        floor = max(float(st.strobe_floor), st.strobe_hourly * (self.hi - self.lo) / 3600.0)
        return learned_threshold(self.med_n, self.mad_n, st.strobe_k, floor)

    def long_threshold(self, st: RitaSettings) -> float:
        return learned_threshold(self.med_dur, self.mad_dur, st.long_k, st.long_floor)

    @property
    def span(self) -> tuple[float, float]:
        return self.lo, self.hi

    def bins(self, st: RitaSettings) -> int:
        """The beacon histogram's bins over the window's span (`model.bin_count`)."""
        return bin_count(self.lo, self.hi, st)

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _num(v: Any) -> float | None:
    return None if v is None else float(v)


#: per host id: is it internal? (graphnet's `internal_cidrs`)
Internal = Callable[[np.ndarray], np.ndarray]


def bind_internal(s: Session, internal: Internal) -> int:
    """Bind `r_internal(h)`: the window's hosts that are internal; returns how many."""
    hosts = s.table("rita_hosts").column("h").to_numpy(zero_copy_only=False)
    mask = internal(hosts) if len(hosts) else np.zeros(0, dtype=bool)
    inside = [str(h) for h in hosts[mask]]
    s.lookup("r_internal", pa.table({"h": pa.array(inside, pa.string())}))
    return len(inside)


def window_pairs(s: Session, internal: Internal, internal_pairs: bool) -> WindowPairs:
    """Bind the window's internal hosts (`bind_internal`) and its pairs (`r_pairs`: those
    with an external end, as RITA analyses them, and with `internal_pairs` those of two
    internal hosts too) and return its span and pair statistics."""
    bind_internal(s, internal)
    params = {"internal_pairs": 1 if internal_pairs else 0}
    row = s.table("rita_pairs", params).to_pylist()[0]
    return WindowPairs(
        lo=float(row["lo"]) if row["lo"] is not None else 0.0,
        hi=float(row["hi"]) if row["hi"] is not None else 0.0,
        connections=int(row["n"] or 0),
        hours=int(row["hours"] or 0),
        pairs=int(row["pairs"] or 0),
        timed=int(row["timed"] or 0),
        med_n=_num(row["med_n"]),
        mad_n=_num(row["mad_n"]),
        med_dur=_num(row["med_dur"]),
        mad_dur=_num(row["mad_dur"]),
    )


#: scores one batch of candidate pairs: their `model.STAT_COLUMNS` and their (pairs x bins)
#: connection counts in, a frame indexed like the statistics out
BatchScorer = Callable[[pd.DataFrame, np.ndarray], pd.DataFrame]


def beacon_pairs(
    s: Session, st: RitaSettings, max_n: float, n_bins: int, score: BatchScorer
) -> pd.DataFrame:
    """`score` every candidate pair (at least `min_connections`, fewer than `max_n`
    connections, at least `min_timestamps` distinct seconds), a batch of pairs at a time:
    their `model.STAT_COLUMNS` (with the destination's prevalence among the window's internal
    sources) and their connections per bin of the window's span cut in `n_bins`. The scored
    batches are returned together, in the order of the pairs (s, d), indexed from 0. Only one
    batch's statistics and bins are held at a time. After `window_pairs`."""
    params: dict[str, Any] = {
        "min_n": int(st.min_connections),
        "max_n": float(max_n),
        "min_stamps": int(st.min_timestamps),
    }
    size = s.table("rita_beacon_size", {"min_n": params["min_n"], "max_n": params["max_n"]})
    conns = int(size.column("conns")[0].as_py() or 0)
    buckets = max(1, -(-conns // BEACON_BATCH_CONNECTIONS))
    s.table("rita_beacon_conns", {**params, "buckets": buckets})
    order, parts = [], []
    for bucket in range(buckets):
        got = s.table("rita_beacon", {**params, "bucket": bucket})
        binned = s.table("rita_beacon_bins", {"bins": int(n_bins)})
        pid = got.column("pid").to_numpy().astype("int64")
        rows = pd.Index(pid).get_indexer(binned.column("pid").to_numpy().astype("int64"))
        bars = bars_of(
            rows,
            binned.column("bin").to_numpy(),
            binned.column("n").to_numpy(),
            len(pid),
            n_bins,
        )
        del binned
        parts.append(score(_stats_frame(got), bars))
        order.append(pid)
        del got, bars
    s.table("rita_beacon_done")
    log.debug("beacon: %d candidate connections in %d batch(es)", conns, buckets)
    # an empty batch's frame has no inferred string columns: concatenated, it would make the
    # pairs' columns objects
    kept = [i for i, part in enumerate(parts) if len(part)] or [0]
    parts, order = [parts[i] for i in kept], [order[i] for i in kept]
    out = pd.concat(parts, ignore_index=True)
    if len(parts) > 1:
        out = out.take(np.argsort(np.concatenate(order), kind="stable")).reset_index(drop=True)
    log.debug("beacon: %d candidate pairs", len(out))
    return out


def _stats_frame(got: pa.Table) -> pd.DataFrame:
    """The `model.STAT_COLUMNS` of a batch (`rita_beacon`), with their dtypes."""
    stats = pd.DataFrame(
        {
            c: got.column(c)
            .to_numpy(zero_copy_only=False)
            .astype(object if c in ("s", "d") else "float64")
            for c in STAT_COLUMNS
        }
    )
    for c in ("n", "stamps", "hours", "dst_sources", "window_sources", "dst_external"):
        stats[c] = stats[c].astype("int64")
    return stats


def strobes(s: Session, min_n: float) -> pd.DataFrame:
    """The pairs with at least `min_n` connections (s, d, n, first_ts, last_ts, bytes)."""
    got = s.table("rita_strobes", {"min_n": float(min_n)}).to_pandas()
    return pd.DataFrame(
        {
            "s": got["s"].to_numpy(dtype=object),
            "d": got["d"].to_numpy(dtype=object),
            "n": got["n"].to_numpy(dtype="int64"),
            "first_ts": got["first_ts"].to_numpy(dtype="float64"),
            "last_ts": got["last_ts"].to_numpy(dtype="float64"),
            "bytes": got["bytes"].to_numpy(dtype="float64"),
        }
    )


def long_connections(s: Session, min_dur: float) -> pd.DataFrame:
    """The pairs whose cumulative duration is at least `min_dur` seconds (s, d, n, dur,
    longest, open_n, first_ts, last_ts, bytes)."""
    got = s.table("rita_long", {"min_dur": float(min_dur)}).to_pandas()
    out = pd.DataFrame(
        {
            "s": got["s"].to_numpy(dtype=object),
            "d": got["d"].to_numpy(dtype=object),
        }
    )
    for c in ("n", "open_n"):
        out[c] = got[c].to_numpy(dtype="int64")
    for c in ("dur", "longest", "first_ts", "last_ts", "bytes"):
        out[c] = got[c].to_numpy(dtype="float64")
    return out


def examples(
    s: Session, pairs: Sequence[tuple[str, str]], limit: int = EXAMPLES
) -> dict[tuple[str, str], dict[str, Any]]:
    """Per pair: its most used destination port (`port`), its distinct ports (`ports`) and up
    to `limit` example uids (earliest first). After `window_pairs`."""
    if not pairs:
        return {}
    s.lookup(
        "r_sel",
        pa.table(
            {
                "s": pa.array([p[0] for p in pairs], pa.string()),
                "d": pa.array([p[1] for p in pairs], pa.string()),
            }
        ),
    )
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in s.table("rita_examples", {"limit": int(limit)}).to_pylist():
        key = (str(r["s"]), str(r["d"]))
        ex = out.setdefault(key, {"uids": [], "port": int(r["port"]), "ports": int(r["ports"])})
        ex["uids"].append(str(r["uid"]))
    return out
