"""The pure maths of the RITA-class steps: beacon sub-scores, thresholds learned from the
window's own pairs, and the sentences that explain them. Arrays and frames in, arrays and
frames out, no I/O (`aggregates` asks the archive for the per-pair statistics these take).

Beacons follow RITA's published analyser (activecm/rita, `analysis/beacons.go`, v5; the
earlier `pkg/beacon/analyzer.go` of rita-legacy): per pair,

- **timestamp** score: the mean of the Bowley-skewness score (1 - |skew| of the intervals
  between the pair's distinct whole-second timestamps; a skew computed only when the
  quartile spread is at least `min_bowley_spread` and the median differs from both quartiles)
  and the MAD score ((median - MAD) / median of the intervals, 1 below a median of 1 s);
- **data size** score: the same two on the bytes of each connection (sent + received; the
  MAD score 0 below a median of 1 byte);
- **histogram** score: the window's span cut in equal bins, one an hour and at least `bins`
  (24: a capture shorter than a day is cut like RITA's day), the pair's connections counted per
  bin; the larger of the coefficient-of-variation score (1 - CV of the counts,
  0 when CV > 1) and the bimodal fit (the share of non-empty bins whose heights fall in the
  two most common height classes, classes `mode_sensitivity` of the highest bar wide, one
  outlier bin forgiven, computed with at least `bimodal_min_bins` non-empty bins);
- **duration** score: with at least `min_bins` non-empty bins, the larger of the coverage
  ((last - first connection) / the window's span) and the consistency (the longest run of
  consecutive non-empty bins, wrapping around, over `ideal_run` bins);
- the **beacon score**: the weighted mean of the four (equal weights by default).

Long connections and strobes are judged against the window's own pairs: the threshold is a
robust outlier rule on the logarithm of the per-pair values (median + k x 1.4826 MAD of
ln(value), `learned_threshold`), never below a floor.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

#: the named sub-scores of a beacon, in the order they are shown
BEACON_PARTS = ("timestamp", "size", "histogram", "duration")
#: Zeek states of a connection established and not closed when it was logged: open
OPEN_STATES = ("S1", "S2", "S3")
#: the normal-consistency factor of a MAD (a MAD x 1.4826 estimates a standard deviation)
MAD_SIGMA = 1.4826


@dataclass(frozen=True)
class RitaSettings:
    """The knobs of the beacon, long-connection and strobe steps (`ctx.option(RitaSettings)`)."""

    #: the steps that analyse pairs of two internal hosts too. RITA analyses only traffic with
    #: an external end; graphnet keeps internal pairs for beacons and strobes (a lab or a
    #: network of private addresses has its C2 inside them) but not for long connections:
    #: long internal sessions (file shares, remote desktops, databases) are ordinary, and on
    #: generated networks they pushed unplanted hosts above planted attackers
    internal_pairs: tuple[str, ...] = ("beacon", "strobe")
    #: beacons: a pair needs this many connections (RITA: 4, three intervals)
    min_connections: int = 4
    #: beacons: and this many distinct whole-second timestamps
    min_timestamps: int = 4
    weights: Mapping[str, float] = field(default_factory=lambda: {p: 0.25 for p in BEACON_PARTS})
    #: histogram bins: the window's span in hours, at least `bins` (a capture shorter than a
    #: day is cut in 24 equal bins, as RITA cuts its day) and at most `max_bins`
    bins: int = 24
    max_bins: int = 24 * 31
    min_bowley_spread: float = 10.0
    mode_sensitivity: float = 0.05
    bimodal_outlier_removal: int = 1
    bimodal_min_bins: int = 11
    min_bins: int = 6
    ideal_run: int = 12
    #: a pair scoring this much is a beacon finding; this much raises an alert
    beacon_score: float = 0.7
    beacon_alert: float = 0.9
    #: a host is scored for the ranking from its pairs scoring at least this much
    beacon_host_floor: float = 0.5
    #: RITA's prevalence modifier, for external destinations: one that at most
    #: `prevalence_rare` of the window's internal sources connect to adds
    #: `prevalence_increase` to the score, one that at least `prevalence_common` of them
    #: connect to takes `prevalence_decrease` off (an update server every client polls is
    #: expected to be regular); applied only when the
    #: window has at least `prevalence_min_sources` internal sources (shares of a handful say
    #: nothing)
    prevalence_increase: float = 0.15
    prevalence_rare: float = 0.02
    prevalence_decrease: float = 0.15
    prevalence_common: float = 0.2
    prevalence_min_sources: int = 20
    #: strobes: ln(connections) above median + k x 1.4826 MAD of the window's pairs, and at
    #: least `strobe_floor` connections and `strobe_hourly` an hour over the window's span
    #: (a beacon every minute for a week is a beacon, not a strobe)
    strobe_k: float = 3.5
    strobe_floor: int = 1000
    strobe_hourly: float = 120.0
    #: long connections: ln(cumulative seconds) above median + k x 1.4826 MAD of the window's
    #: pairs with a duration, and at least `long_floor` seconds
    long_k: float = 3.0
    long_floor: float = 600.0
    #: in a window with earlier windows, a pair ranks its hosts only when its best score in
    #: them was at most this share of its score now (new, or much stronger), by the rise
    known_share: float = 0.75
    #: the steps whose pairs rank their hosts (by the rise) in a window with earlier windows;
    #: the others rank only in a window without one. Long connections are left out: on the
    #: generated networks nearly all of a week's long connections are to external hosts the
    #: pair never met before (36 of 38 in one week), so a new one says nothing, and they
    #: pushed unplanted hosts above planted attackers
    history_ranked: tuple[str, ...] = ("beacon", "strobe")
    #: findings per step at most (highest scores first)
    max_findings: int = 50
    #: a long connection or strobe scoring this many times its threshold raises an alert
    alert_ratio: float = 2.0

    def __post_init__(self) -> None:
        if set(self.weights) != set(BEACON_PARTS):
            raise ValueError(f"beacon weights must name {', '.join(BEACON_PARTS)}")
        total = sum(float(w) for w in self.weights.values())
        if any(float(w) < 0 for w in self.weights.values()) or not math.isclose(total, 1.0):
            raise ValueError("beacon weights must be 0 or more and sum to 1")
        unknown = set(self.internal_pairs) - {"beacon", "long_connection", "strobe"}
        if unknown:
            raise ValueError(f"internal_pairs names no RITA-class step: {sorted(unknown)}")
        if not 0.0 <= self.prevalence_rare < self.prevalence_common <= 1.0:
            raise ValueError("prevalence shares must satisfy 0 <= rare < common <= 1")
        if self.min_connections < 4 or self.min_timestamps < 4:
            raise ValueError("a beacon needs at least 4 connections (three intervals)")


# --------------------------------------------------------------------------- beacon parts
def bowley_skew(
    q1: ArrayLike, q2: ArrayLike, q3: ArrayLike, min_spread: float = 10.0
) -> np.ndarray:
    """Bowley's quartile skewness (Q1 + Q3 - 2 Q2) / (Q3 - Q1), 0 where it is unreliable: a
    spread below `min_spread` or a median equal to a quartile (RITA's rule)."""
    q1, q2, q3 = (np.asarray(q, dtype="float64") for q in (q1, q2, q3))
    den = q3 - q1
    ok = (den >= min_spread) & (q2 != q1) & (q2 != q3) & np.isfinite(den)
    with np.errstate(divide="ignore", invalid="ignore"):
        skew = np.where(ok, (q1 + q3 - 2.0 * q2) / np.where(ok, den, 1.0), 0.0)
    return skew


def skew_score(skew: ArrayLike) -> np.ndarray:
    """1 - |skew|, within [0, 1]: symmetric distributions score 1."""
    return np.clip(1.0 - np.abs(np.asarray(skew, dtype="float64")), 0.0, 1.0)


def mad_score(median: ArrayLike, mad: ArrayLike, default: float) -> np.ndarray:
    """(median - MAD) / median, clipped to [0, 1]; `default` where the median is below 1."""
    med = np.asarray(median, dtype="float64")
    m = np.asarray(mad, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(med >= 1.0, (med - m) / np.where(med >= 1.0, med, 1.0), default)
    return np.clip(np.nan_to_num(score, nan=0.0), 0.0, 1.0)


def statistical_score(
    q1: ArrayLike,
    q2: ArrayLike,
    q3: ArrayLike,
    mad: ArrayLike,
    default: float,
    min_spread: float = 10.0,
) -> np.ndarray:
    """The mean of the Bowley-skewness score and the MAD score (RITA's timestamp and data
    size scores)."""
    return (skew_score(bowley_skew(q1, q2, q3, min_spread)) + mad_score(q2, mad, default)) / 2.0


def run_length(bars: ArrayLike) -> np.ndarray:
    """Per row, the longest run of consecutive non-empty bins, wrapping around the end."""
    b = np.asarray(bars) > 0
    if b.ndim != 2 or b.shape[1] == 0:
        return np.zeros(len(b), dtype="int64")
    doubled = np.concatenate([b, b], axis=1)
    run = np.zeros(len(b), dtype="int64")
    best = np.zeros(len(b), dtype="int64")
    for j in range(doubled.shape[1]):
        run = np.where(doubled[:, j], run + 1, 0)
        best = np.maximum(best, run)
    return np.minimum(best, b.shape[1])


def cv_score(bars: ArrayLike) -> np.ndarray:
    """1 - the coefficient of variation (population) of each row's bin counts, 0 when it is
    over 1 or the row is empty."""
    b = np.asarray(bars, dtype="float64")
    mean = b.mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cv = b.std(axis=1) / mean
    return np.where((mean > 0) & (cv <= 1.0), 1.0 - np.nan_to_num(cv, nan=1.0), 0.0)


def bimodal_score(
    bars: ArrayLike, sensitivity: float = 0.05, outliers: int = 1, min_bins: int = 11
) -> np.ndarray:
    """Per row: the share of non-empty bins (less `outliers`) whose height falls in one of the
    two most frequent height classes (classes ceil(sensitivity x highest bar) wide); 0 with
    fewer than `min_bins` non-empty bins. A beacon that alternates between two rates (busy
    hours and quiet hours) scores high."""
    b = np.asarray(bars, dtype="float64")
    out = np.zeros(len(b))
    for i, row in enumerate(b):
        nz = row[row > 0]
        if len(nz) < min_bins:
            continue
        width = max(1.0, math.ceil(float(nz.max()) * sensitivity))
        _, counts = np.unique(np.floor(nz / width), return_counts=True)
        top = np.sort(counts)[::-1][:2].sum()
        out[i] = min(1.0, float(top) / max(len(nz) - outliers, 1))
    return out


def histogram_score(bars: ArrayLike, st: RitaSettings) -> np.ndarray:
    """RITA's histogram score: the larger of `cv_score` and `bimodal_score`."""
    return np.maximum(
        cv_score(bars),
        bimodal_score(bars, st.mode_sensitivity, st.bimodal_outlier_removal, st.bimodal_min_bins),
    )


def duration_score(
    first: ArrayLike,
    last: ArrayLike,
    lo: float,
    hi: float,
    bars: ArrayLike,
    st: RitaSettings,
) -> np.ndarray:
    """RITA's duration score: with at least `min_bins` non-empty bins, the larger of the
    coverage of the window's span and the longest run of bins over `ideal_run`; else 0."""
    span = max(float(hi) - float(lo), 1e-9)
    cover = np.clip((np.asarray(last, dtype="float64") - np.asarray(first)) / span, 0.0, 1.0)
    consistency = np.clip(run_length(bars) / float(st.ideal_run), 0.0, 1.0)
    enough = (np.asarray(bars) > 0).sum(axis=1) >= st.min_bins
    return np.where(enough, np.maximum(cover, consistency), 0.0)


def bin_count(lo: float, hi: float, st: RitaSettings) -> int:
    """How many histogram bins the span [lo, hi] is cut in: one an hour, at least `bins`, at
    most `max_bins` (RITA's duration and histogram parameters are counted in hours)."""
    hours = math.ceil(max(float(hi) - float(lo), 0.0) / 3600.0)
    return int(min(max(st.bins, hours), max(st.max_bins, st.bins)))


# ------------------------------------------------------------------------- scoring pairs
#: the per-pair statistics a beacon is scored from (`aggregates.beacon_stats`)
STAT_COLUMNS = (
    "s", "d", "n", "stamps", "first_ts", "last_ts", "hours",
    "gap_q1", "gap_q2", "gap_q3", "gap_mad", "size_q1", "size_q2", "size_q3", "size_mad",
    "dst_sources", "window_sources", "dst_external",
)  # fmt: skip


def bars_of(rows: ArrayLike, bins: ArrayLike, n: ArrayLike, pairs: int, n_bins: int) -> np.ndarray:
    """The (pairs x n_bins) matrix of connection counts per bin from the long form: `n`
    connections of the pair in row `rows` (-1: not one of the pairs, left out) in bin
    `bins` (clipped to the matrix)."""
    out = np.zeros((int(pairs), int(n_bins)), dtype="float64")
    r = np.asarray(rows, dtype="int64")
    ok = r >= 0
    if not ok.any():
        return out
    b = np.clip(np.asarray(bins, dtype="int64")[ok], 0, n_bins - 1)
    np.add.at(out, (r[ok], b), np.asarray(n, dtype="float64")[ok])
    return out


def score_beacons(
    stats: pd.DataFrame,
    bars: ArrayLike,
    span: tuple[float, float],
    window_hours: int,
    st: RitaSettings,
) -> pd.DataFrame:
    """Score each pair of `stats` (`STAT_COLUMNS`, rows matching `bars`): `score`,
    `part_<name>` for `BEACON_PARTS`, the interval found (`period`, `jitter` = MAD of the
    intervals), the typical size (`size`, `size_mad`), `hours_share` and `explanation`.
    Indexed like `stats`."""
    lo, hi = span
    ts = statistical_score(
        stats["gap_q1"], stats["gap_q2"], stats["gap_q3"], stats["gap_mad"], 1.0,
        st.min_bowley_spread,
    )  # fmt: skip
    ds = statistical_score(
        stats["size_q1"], stats["size_q2"], stats["size_q3"], stats["size_mad"], 0.0,
        st.min_bowley_spread,
    )  # fmt: skip
    hist = histogram_score(bars, st) if len(stats) else np.zeros(0)
    dur = (
        duration_score(stats["first_ts"], stats["last_ts"], lo, hi, bars, st)
        if len(stats)
        else np.zeros(0)
    )
    parts = {"timestamp": ts, "size": ds, "histogram": hist, "duration": dur}
    total = sum(float(st.weights[p]) * np.asarray(parts[p], dtype="float64") for p in parts)
    out = pd.DataFrame(index=stats.index)
    out["beacon"] = np.round(np.asarray(total, dtype="float64"), 4)
    if "dst_sources" in stats:
        share, mod = prevalence_modifier(
            stats["dst_sources"], stats["window_sources"], st, stats.get("dst_external")
        )
    else:
        share, mod = np.full(len(stats), np.nan), np.zeros(len(stats))
    out["prevalence"] = share
    out["modifier"] = mod
    out["score"] = np.round(np.clip(out["beacon"].to_numpy() + mod, 0.0, None), 4)
    for p in BEACON_PARTS:
        out[f"part_{p}"] = np.round(np.asarray(parts[p], dtype="float64"), 4)
    out["period"] = stats["gap_q2"].to_numpy(dtype="float64")
    out["jitter"] = stats["gap_mad"].to_numpy(dtype="float64")
    out["size"] = stats["size_q2"].to_numpy(dtype="float64")
    out["size_mad"] = stats["size_mad"].to_numpy(dtype="float64")
    out["hours_share"] = stats["hours"].to_numpy(dtype="float64") / max(int(window_hours), 1)
    out["explanation"] = [
        beacon_text(r, int(n), window_hours)
        for r, n in zip(out.to_dict("records"), stats["n"], strict=True)
    ]
    return out


def prevalence_modifier(
    dst_sources: ArrayLike,
    window_sources: ArrayLike,
    st: RitaSettings,
    external: ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """RITA's prevalence modifier per pair: (share of the window's internal sources that
    connected to the destination, what it adds to the beacon score): `+prevalence_increase`
    at a share of `prevalence_rare` or less, `-prevalence_decrease` at `prevalence_common` or
    more, else 0; 0 for internal destinations (`external` false: RITA scores the prevalence
    of external hosts) and everywhere when the window has fewer than
    `prevalence_min_sources` internal sources."""
    d = np.asarray(dst_sources, dtype="float64")
    w = np.asarray(window_sources, dtype="float64")
    share = np.divide(d, w, out=np.full(d.shape, np.nan), where=w > 0)
    mod = np.zeros(d.shape)
    counted = w >= st.prevalence_min_sources
    if external is not None:
        counted &= np.asarray(external, dtype=bool)
    mod[counted & (share <= st.prevalence_rare)] = st.prevalence_increase
    mod[counted & (share >= st.prevalence_common)] = -st.prevalence_decrease
    return share, mod


# ---------------------------------------------------------------------------- thresholds
def learned_threshold(
    median_ln: float | None, mad_ln: float | None, k: float, floor: float
) -> float:
    """exp(median + k x 1.4826 x MAD) of the logarithms of the window's per-pair values, never
    below `floor` (the floor alone when the window has no such pairs)."""
    if median_ln is None or mad_ln is None:
        return float(floor)
    if not (math.isfinite(median_ln) and math.isfinite(mad_ln)):
        return float(floor)
    return max(float(floor), math.exp(float(median_ln) + k * MAD_SIGMA * float(mad_ln)))


# ---------------------------------------------------------------------------- sentences
def fmt_seconds(s: float) -> str:
    """A duration for people: 45 s, 260 s, 14.3 min, 2.5 h, 3.1 days."""
    if not math.isfinite(s):
        return "n/a"
    if s < 600:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.1f} min"
    if s < 2 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


def fmt_bytes(b: float) -> str:
    if not math.isfinite(b):
        return "n/a"
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(b) >= size:
            return f"{b / size:.1f} {unit}"
    return f"{b:.0f} B"


def beacon_text(r: Mapping[Any, Any], n: int, window_hours: int) -> str:
    """'every 260 s ± 4 s, 498 times, in 96 % of the window's 168 hours with traffic, same
    1.2 kB each time (timestamp 0.98, size 1.00, histogram 0.93, duration 1.00)'."""
    size = float(r["size"])
    smad = float(r["size_mad"])
    if size > 0 and smad <= 0.1 * size:
        sizes = f"same {fmt_bytes(size)} each time"
    else:
        sizes = f"{fmt_bytes(size)} ± {fmt_bytes(smad)} each time"
    parts = ", ".join(f"{p} {float(r[f'part_{p}']):.2f}" for p in BEACON_PARTS)
    share = 100.0 * min(1.0, float(r["hours_share"]))
    beacon = float(r.get("beacon", r["score"]))
    mod = float(r.get("modifier", 0.0))
    prevalence = ""
    if mod:
        how = "few" if mod > 0 else "many"
        prevalence = (
            f"; {how} sources connect to the destination "
            f"({100.0 * float(r['prevalence']):.1f} %, {mod:+.2f})"
        )
    return (
        f"every {fmt_seconds(float(r['period']))} ± {fmt_seconds(float(r['jitter']))}, "
        f"{n:,} times, in {share:.0f} % of the window's {window_hours:,} hours with traffic, "
        f"{sizes} (beacon score {beacon:.2f}: {parts}{prevalence})"
    )
