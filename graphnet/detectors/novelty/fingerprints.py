"""Per-pair categorical fingerprints: what "normal" is for each directed host pair.

A fingerprint is built from the per-edge component histograms (`histograms`) of a trailing
baseline of windows *before* the window it is used for (`as_of`); the window being scored is
never part of its own baseline. Next to the pair level a fingerprint keeps the backoff levels
used for sparse or new pairs:

    pair         (src, dst)            all connections of the pair
    client       src                   all outgoing connections of the source host
    server       dst                   all incoming connections of the destination host
    subnet_pair  (subnet(src), subnet(dst))   subnet of both ends (no subnet -> host id)
    zone_pair    (zone(src), zone(dst))       zone = internal or external
    global       -                     everything

Subnet and zone of a host are ingest's classification (`ingest.host_classifier` with the
settings' internal CIDRs: what the Host nodes hold).

Everything here is vectorised over integer codes: hosts, pairs and component values are
factorised once, histograms are (key, value, count) arrays aggregated with bincount.

The pair and subnet-pair levels can be stored apart and read back for the keys a batch needs
(`pairlevel`).

Fingerprints are written to Neo4j as `(:Fingerprint {level, as_of, ...})` nodes (see
docs/novelty.md) so a Browser user can look at what normal is for a pair.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from graphnet import features, ingest, windows
from graphnet.config import Settings
from graphnet.detectors.novelty.histograms import (
    COMPONENTS,
    FOLDED,
    OTHER,
    CompSource,
    EdgeHistograms,
    concat_histograms,
    edge_histograms_from_connections,
)
from graphnet.memory import return_free_memory

log = logging.getLogger(__name__)

LEVELS: tuple[str, ...] = ("pair", "client", "server", "subnet_pair", "zone_pair", "global")
ZONES: tuple[str, ...] = ("external", "internal")
DEFAULT_BASELINE = 4
# the (proto, service, dport, conn_state) tuple whose global rarity is the "uniqueness" score
JOINT: tuple[str, ...] = ("proto", "service", "dport", "conn_state")
DENSE_MAX = 1 << 21  # largest (keys x values) float32 table (8 MiB) kept for O(1) lookups


# --------------------------------------------------------------------------------------------
# the fingerprint
# --------------------------------------------------------------------------------------------
@dataclass
class LevelHist:
    """One component's histograms at one level: per key (pair / host / subnet pair / global)."""

    V: int  # size of the value vocabulary (codes 0..V-1)
    keys: np.ndarray  # sorted int64 key * V + value
    n: np.ndarray  # float64 count of each (key, value)
    total: np.ndarray  # per key: number of connections
    entropy: np.ndarray  # per key: empirical entropy in bits
    other_n: np.ndarray  # per key: count in the 'other' bucket (folded components)
    other_m: np.ndarray  # per key: estimated distinct values hidden in 'other' (>= 1)
    #: a view's level of some keys only (`pairlevel`): the sorted codes of the keys it holds,
    #: its key k being the key index[k]; None: every key, numbered by its own code
    index: np.ndarray | None = None

    def local(self, key: np.ndarray) -> np.ndarray:
        """Key codes as this level numbers them (-1, an unknown key, stays -1). A key that a
        view does not hold is an error: a view must hold every key it is asked for."""
        if self.index is None:
            return key
        out = np.full(len(key), -1, dtype=np.int64)
        ok = key >= 0
        if ok.any():
            wanted = key[ok]
            pos = np.searchsorted(self.index, wanted)
            found = len(self.index) > 0 and np.array_equal(
                self.index[np.minimum(pos, len(self.index) - 1)], wanted
            )
            if not found:
                raise ValueError("a key is not among the keys this view of a level holds")
            out[ok] = pos
        return out

    def _dense(self) -> np.ndarray | None:
        """A (keys x V) table of counts, NaN where a value is not kept explicitly, when it is
        small enough: O(1) lookups instead of binary searches."""
        cached = self.__dict__.get("_dense_table", False)
        if cached is not False:
            return cached
        table: np.ndarray | None = None
        n_keys = len(self.total)
        if n_keys and n_keys * self.V <= DENSE_MAX:
            flat = np.full(n_keys * self.V, np.nan, dtype=np.float32)
            flat[self.keys] = self.n
            table = flat.reshape(n_keys, self.V)
        self.__dict__["_dense_table"] = table
        return table

    def whole(self) -> bool:
        """Whether the counts are whole numbers (to 3 decimals): how Neo4j lists them (feedback
        weights make fractions)."""
        rounded = np.round(self.n, 3)
        return bool(np.all(rounded == np.floor(rounded)))

    def lookup(self, key: np.ndarray, value: np.ndarray) -> np.ndarray:
        """Counts n(key, value); -1 keys/values give 0; values not kept explicitly at a key get
        an equal share of the key's 'other' bucket."""
        out = np.zeros(len(key), dtype="float64")
        key = self.local(key)
        ok = key >= 0
        if not ok.any() or len(self.keys) == 0:
            return out
        k = key[ok].astype(np.int64)
        v = value[ok].astype(np.int64)
        if self.__dict__.get("_has_other") is None:
            self.__dict__["_has_other"] = bool(self.other_n.any())
        share = self.other_n[k] / self.other_m[k] if self.__dict__["_has_other"] else 0.0
        dense = self._dense()
        if dense is not None:
            got = dense[k, np.maximum(v, 0)].astype(np.float64)
            got = np.where((v >= 0) & ~np.isnan(got), got, share)
        else:
            combined = k * self.V + np.where(v >= 0, v, 0)
            pos = np.searchsorted(self.keys, combined)
            pos = np.minimum(pos, len(self.keys) - 1)
            found = (self.keys[pos] == combined) & (v >= 0)
            got = np.where(found, self.n[pos], share)
        out[ok] = got
        return out


@dataclass
class Fingerprints:
    """Per-pair component distributions with backoff levels, as of a window."""

    as_of: str
    windows: list[str]  # baseline windows that held data, oldest first
    hosts: pd.Index  # host ids (code = position)
    host_subnet: np.ndarray  # host code -> subnet code
    host_zone: np.ndarray  # host code -> 1 internal (Host.internal), 0 external
    subnets: pd.Index  # subnet labels (Host.subnet, or the host id when it has none)
    pair_keys: np.ndarray  # sorted int64 src * len(hosts) + dst; pair code = position
    pairs: pd.DataFrame  # per pair code: src, dst (host codes), sp (subnet pair code),
    #                      zp (zone pair code: 2 * zone(src) + zone(dst)), conns,
    #                      windows (baseline windows with an edge), injected (feedback weight)
    sp_keys: np.ndarray  # sorted int64 subnet_src * len(subnets) + subnet_dst
    vocab: dict[str, pd.Index]  # component -> value strings (code = position)
    levels: dict[str, dict[str, LevelHist]]  # component -> level -> histogram
    who: dict[str, np.ndarray | float]  # new-pair / new-host statistics (see _who_stats)
    joint: pd.DataFrame | None = None  # counts of (proto, service, dport, conn_state) tuples
    feedback: tuple[str, ...] = ()
    build_seconds: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)
    #: where each level not held here is (`pairlevel.detach_levels`): level -> a stored result
    #: (window, name) of LEVEL_SCHEMA rows; scoring then reads the keys of each batch into a
    #: view (`pair_view`), which holds them
    apart: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: the pairs of every host, for explanations (a view's `pairs` holds only its own)
    peer_pairs: pd.DataFrame | None = None

    # -- lookups of observation keys ---------------------------------------------------------
    def host_codes(self, hosts: np.ndarray | pd.Series) -> np.ndarray:
        return self.hosts.get_indexer(pd.Index(hosts, dtype=object)).astype(np.int64)

    def pair_codes(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Host codes -> pair codes (-1 when the pair has no baseline)."""
        out = np.full(len(src), -1, dtype=np.int64)
        ok = (src >= 0) & (dst >= 0)
        if not ok.any() or len(self.pair_keys) == 0:
            return out
        combined = src[ok] * len(self.hosts) + dst[ok]
        pos = np.minimum(np.searchsorted(self.pair_keys, combined), len(self.pair_keys) - 1)
        out[ok] = np.where(self.pair_keys[pos] == combined, pos, -1)
        return out

    def subnet_pair_codes(self, ssub: np.ndarray, dsub: np.ndarray) -> np.ndarray:
        out = np.full(len(ssub), -1, dtype=np.int64)
        ok = (ssub >= 0) & (dsub >= 0)
        if not ok.any() or len(self.sp_keys) == 0:
            return out
        combined = ssub[ok] * len(self.subnets) + dsub[ok]
        pos = np.minimum(np.searchsorted(self.sp_keys, combined), len(self.sp_keys) - 1)
        out[ok] = np.where(self.sp_keys[pos] == combined, pos, -1)
        return out

    @property
    def n_pairs(self) -> int:
        return len(self.pairs)

    @property
    def conns(self) -> float:
        return float(self.pairs["conns"].sum()) if len(self.pairs) else 0.0

    def distribution(
        self, comp: str, level: str, key: int, top: int | None = None
    ) -> list[tuple[str, float]]:
        """(value, count) of one key at one level, most frequent first, equally frequent ones
        by value (reports, explanations: whatever the order of the value codes)."""
        lh = self.levels[comp][level]
        key = int(lh.local(np.asarray([key], dtype=np.int64))[0])
        lo = np.searchsorted(lh.keys, key * lh.V)
        hi = np.searchsorted(lh.keys, (key + 1) * lh.V)
        vals = lh.keys[lo:hi] % lh.V
        ns = lh.n[lo:hi]
        voc = self.vocab[comp]
        out = sorted(
            ((str(voc[int(v)]), float(n)) for v, n in zip(vals, ns, strict=True)),
            key=lambda vn: (-vn[1], vn[0]),
        )
        return out[:top] if top else out


def _sum_runs(combined: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of `combined`, ascending, and the sum of `n` over each: the rows are
    sorted (stably: each value's rows keep their order, so every sum adds the same numbers in
    the same order as a sum over the unsorted rows) and summed over the runs of equal values,
    without a hash table of the values."""
    order = np.argsort(combined, kind="stable")
    combined = combined[order]
    weights = n[order]
    del order
    starts = np.empty(len(combined), dtype=bool)
    starts[:1] = True
    np.not_equal(combined[1:], combined[:-1], out=starts[1:])
    uniq = combined[starts]
    run = np.cumsum(starts) - 1
    del starts, combined
    return uniq, np.bincount(run, weights=weights, minlength=len(uniq))


def _sum_dense(codes: np.ndarray, n: np.ndarray, n_codes: int) -> tuple[np.ndarray, np.ndarray]:
    """The codes (0..n_codes-1) whose sum of `n` is positive, ascending, and those sums, by
    counting into an array of every code: `np.bincount` adds each code's numbers in the rows'
    order, so every sum is bit for bit the one `_sum_runs` gives, without a sort or a copy of
    the rows (for few codes: a level with few keys, or few values)."""
    sums = np.bincount(codes, weights=n, minlength=n_codes)
    uniq = np.flatnonzero(sums > 0)
    return uniq, sums[uniq]


#: a range of keys whose (key, value) codes number at most this many is summed by
#: `_sum_dense` (an array of this many sums: 32 MiB), else by `_sum_runs`
DENSE_CODES = 1 << 22


#: the columns of an edges frame that name things (hosts, windows, subnets, zones): `build`
#: turns them into codes first, then (with `consume`) drops them
NAMED = ("src", "dst", "window", "src_subnet", "dst_subnet", "src_internal", "dst_internal")

#: (key, value) rows summed at a time: a level's rows are summed a range of keys at a time, so
#: that the sort's working arrays stay bounded however many rows a component has
AGGREGATE_ROWS = 2_000_000


def key_ranges(key: np.ndarray, n_keys: int, rows: int) -> list[tuple[int, int]]:
    """Ranges [a, b) of key codes 0..n_keys-1 holding about `rows` of the rows each (a key is
    never split: one key with more rows is a range of its own); one range when all fit."""
    if len(key) <= rows or n_keys <= 1:
        return [(0, n_keys)]
    upto = np.cumsum(np.bincount(key, minlength=n_keys))  # rows with a key <= k
    cuts = np.unique(np.searchsorted(upto, np.arange(rows, len(key), rows), side="left") + 1)
    cuts = cuts[(cuts > 0) & (cuts < n_keys)]
    bounds = [0, *cuts.tolist(), n_keys]
    return list(itertools.pairwise(bounds))


def _aggregate(
    key: np.ndarray,
    value: np.ndarray,
    n: np.ndarray,
    n_keys: int,
    V: int,
    other_code: int,
    m_per_key: np.ndarray | None,
) -> LevelHist:
    """(key, value, n) rows -> LevelHist, summing duplicates; a range of keys at a time
    (`key_ranges`, `AGGREGATE_ROWS`), each counted into its codes when they are few
    (`DENSE_CODES`, `_sum_dense`), else sorted (`_sum_runs`): each range's rows keep their
    order, so every sum, total and entropy is the one over all rows at once, and only the
    result grows with the rows."""
    V = max(V, 1)
    if len(key) == 0:
        z = np.zeros(n_keys)
        return LevelHist(V, np.zeros(0, np.int64), np.zeros(0), z, z.copy(), z.copy(), z + 1)
    # a level with few codes is counted at once: no range's copy of its rows
    ranges = [(0, n_keys)] if n_keys * V <= DENSE_CODES else key_ranges(key, n_keys, AGGREGATE_ROWS)
    one = len(ranges) == 1
    total = np.zeros(n_keys)
    entropy = np.zeros(n_keys)
    other_n = np.zeros(n_keys) if other_code >= 0 else None
    # over several ranges the result (at most a row per row) is filled in place, range by
    # range, and cut to its size: pages never written are never resident, and the ranges'
    # parts are not held beside their concatenation
    keys = np.empty(0 if one else len(key), dtype=np.int64)
    n_sum = np.empty(len(keys))
    filled = 0
    for a, b in ranges:
        if one:
            r_key, r_value, r_n = key, value, n
        else:
            rows = np.flatnonzero((key >= a) & (key < b))
            r_key, r_value, r_n = key[rows], value[rows], n[rows]
            del rows
        if (b - a) * V <= DENSE_CODES:
            if b - a == 1:  # one key (the global level): its codes are its values
                codes = r_value
            else:  # made in one array (astype copies)
                codes = r_key.astype(np.int64)
                codes -= a
                codes *= V
                codes += r_value
            uniq, counts = _sum_dense(codes, r_n, (b - a) * V)
            uniq += a * V
            del codes
        else:
            uniq, counts = _sum_runs(r_key.astype(np.int64) * V + r_value, r_n)
        del r_key, r_value, r_n
        keep = counts > 0
        uniq, counts = uniq[keep], counts[keep]
        k = uniq // V - a  # the key within the range
        part_total = np.bincount(k, weights=counts, minlength=b - a)
        p = counts / part_total[k]
        total[a:b] = part_total
        entropy[a:b] = np.bincount(k, weights=-p * np.log2(p), minlength=b - a)
        del p
        if other_n is not None:
            o = uniq % V == other_code
            other_n[a + k[o]] = counts[o]
        if one:
            keys, n_sum = uniq, counts
        else:
            keys[filled : filled + len(uniq)] = uniq
            n_sum[filled : filled + len(uniq)] = counts
            filled += len(uniq)
        del uniq, counts, keep, k
    if not one:  # nothing else refers to them
        keys.resize(filled, refcheck=False)
        n_sum.resize(filled, refcheck=False)
    # nothing folded: one read-only zero for every key
    other = np.broadcast_to(np.float64(0.0), (n_keys,)) if other_n is None else other_n
    # without folded values every key's estimate is 1: one read-only number for all of them
    other_m = (
        np.broadcast_to(np.float64(1.0), (n_keys,))
        if m_per_key is None
        else np.maximum(m_per_key, 1.0)
    )
    return LevelHist(V, keys, n_sum, total, entropy, other, other_m)


def _empty_level(V: int) -> LevelHist:
    z = np.zeros(0)
    return LevelHist(V, np.zeros(0, dtype=np.int64), z, z, z, z, z)


#: the levels keyed by a host
HOST_LEVELS: tuple[str, ...] = ("client", "server")


def detached(lh: LevelHist) -> LevelHist:
    """What a fingerprint keeps of a level once the level is stored apart: nothing
    but its vocabulary's size (a view reads back the keys it needs, `pairlevel.pair_view`)."""
    return _empty_level(lh.V)


#: with a single baseline window, its last share of time in which new pairs and hosts are
#: counted against the earlier rest (see _who_stats)
WHO_HOLDOUT = 0.3


def _who_stats(
    win_idx: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    pair: np.ndarray,
    zone: np.ndarray,
    host_subnet: np.ndarray,
    pair_sp: np.ndarray,
    sizes: tuple[int, int, int, int],
    first_ts: np.ndarray | None = None,
    last_ts: np.ndarray | None = None,
) -> dict[str, np.ndarray | float]:
    """How often new pairs, new clients and new servers appeared within the baseline itself.

    From the second baseline window on, an edge is a "new pair" event when its pair did not
    appear in an earlier baseline window; a host appearing as a source (destination) is a "new
    client" ("new server") event when it was never a source (destination) before. Events and
    opportunities are counted per level, so that scoring can back rates off like components:

        new pair:   client (src, zone of dst) / server (dst, zone of src) <- subnet pair
                    <- zone pair <- global
        new client: subnet of src <- zone of src <- global   (new server likewise)

    The zone split keeps the churn of external addresses from making a new internal host or
    a new internal pair look ordinary.

    With a single baseline window and the edges' first / last connection times (`first_ts`,
    `last_ts`), the window's last `WHO_HOLDOUT` share of time plays the later window: an edge
    active then is an opportunity, and a new pair when its first connection falls in it (a
    host likewise, by its first and last connection in that role). Without either, every rate
    is its prior (one bit for a new pair)."""
    n_hosts, n_pairs, n_sub, n_sp = sizes
    big = np.iinfo(np.int64).max
    nw = int(win_idx.max(initial=0)) + 1
    split = (
        nw == 1
        and first_ts is not None
        and last_ts is not None
        and len(first_ts) > 0
        and bool(np.isfinite(first_ts).all() and np.isfinite(last_ts).all())
    )
    if split:
        assert first_ts is not None and last_ts is not None
        lo, hi = float(first_ts.min()), float(last_ts.max())
        cut = lo + (1.0 - WHO_HOLDOUT) * (hi - lo)
        later = (last_ts >= cut) & (hi > lo)
        new = later & (first_ts >= cut)  # one edge per pair in a single window
    else:
        first_pair = np.full(n_pairs, big, dtype=np.int64)
        np.minimum.at(first_pair, pair, win_idx)
        later = win_idx >= 1
        new = later & (first_pair[pair] == win_idx)
    # each edge's ends' zones as bytes (0 or 1): two per-edge arrays an eighth of int64's
    zone8 = zone.astype(np.int8)
    zs, zd = zone8[src], zone8[dst]

    def count(key: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.bincount(key[new], minlength=size).astype("float64"),
            np.bincount(key[later], minlength=size).astype("float64"),
        )

    out: dict[str, np.ndarray | float] = {}
    for name, key, size in (
        ("c", src * 2 + zd, 2 * n_hosts),
        ("s", dst * 2 + zs, 2 * n_hosts),
        ("sp", pair_sp[pair], n_sp),
        ("zp", zs * 2 + zd, 4),
    ):
        out[f"{name}_new"], out[f"{name}_opp"] = count(key, size)
    out["g_new"], out["g_opp"] = float(new.sum()), float(later.sum())
    for side, h in (("src", src), ("dst", dst)):
        first = np.full(n_hosts, big, dtype=np.int64)
        np.minimum.at(first, h, win_idx)
        if split:
            assert first_ts is not None and last_ts is not None
            t_first = np.full(n_hosts, np.inf)
            t_last = np.full(n_hosts, -np.inf)
            np.minimum.at(t_first, h, first_ts)
            np.maximum.at(t_last, h, last_ts)
            hh = np.flatnonzero(np.isfinite(t_first) & (t_last >= cut) & (hi > lo))
            is_new = t_first[hh] >= cut
        else:
            appear = np.unique(h[later] * nw + win_idx[later])
            hh, ww = appear // nw, appear % nw
            is_new = first[hh] == ww
        p = "hc" if side == "src" else "hs"
        out[f"{p}_sub_new"] = np.bincount(host_subnet[hh][is_new], minlength=n_sub).astype(float)
        out[f"{p}_sub_opp"] = np.bincount(host_subnet[hh], minlength=n_sub).astype(float)
        out[f"{p}_zone_new"] = np.bincount(zone[hh][is_new], minlength=2).astype(float)
        out[f"{p}_zone_opp"] = np.bincount(zone[hh], minlength=2).astype(float)
        out[f"{p}_g_new"], out[f"{p}_g_opp"] = float(is_new.sum()), float(len(hh))
        out[f"is_{side}"] = first < big  # host seen in this role in the baseline
    return out


def _as_strings(values: np.ndarray) -> np.ndarray:
    """Names as an object array of Python strings: `values` itself when they are strings
    already (no new string made), else each one's `str`."""
    if pd.api.types.infer_dtype(values, skipna=False) == "string":
        return values
    out: np.ndarray = values.astype(str).astype(object)
    return out


def _compacted(names: pd.Index) -> pd.Index:
    """The same names as new Python strings, made one after the other (so that they sit
    together in memory)."""
    fresh = pa.array(names.to_numpy(dtype=object), type=pa.string()).to_pylist()
    return pd.Index(fresh, dtype=object)


def build(
    as_of: str,
    hist: EdgeHistograms,
    injected: EdgeHistograms | None = None,
    hosts_info: Mapping[str, Mapping[str, Any]] | None = None,
    joint: pd.DataFrame | None = None,
    feedback: Sequence[str] = (),
    settings: Settings | None = None,
    split: bool = False,
    consume: bool = False,
    sinks: Mapping[str, Callable[[int, LevelHist], None]] | None = None,
) -> Fingerprints:
    """Edge histograms of the baseline windows (+ feedback pseudo-edges) -> Fingerprints.

    With `consume`, each component's edge histograms are dropped from `hist` (and `injected`)
    once aggregated, so the edge rows and the fingerprint are not held in full together, and
    the edges' names (`NAMED` columns) once they are codes, their times once the baseline's
    new pairs and hosts are counted (`_who_stats`, before the components).
    With `sinks` ({level: sink}, levels of `pairlevel.APART`), each component's level is handed
    to its sink (with the component's position in COMPONENTS) as soon as it is made, and not
    kept: the caller stores it (see `level_batches`) and sets `apart`; `meta["whole"][level]`
    says per component whether the level's counts are whole numbers (how Neo4j lists them).

    `hist.edges.window` must be baseline windows (all before `as_of`; with `split`, `as_of`
    itself: the window's first part, a time split of a window without history); `injected`
    edges carry approved (benign) observations with their weight already applied to the
    counts. Subnet and zone of a host: Host.subnet / Host.internal carried by the edges, else
    `hosts_info` ({id: {"subnet", "internal"}}), else ingest's classification
    (settings.internal_cidrs)."""
    t0 = time.perf_counter()
    real = hist
    allh = concat_histograms([hist, injected]) if injected is not None else hist
    if consume and allh is not hist and not isinstance(allh.comps, CompSource):
        hist.comps.clear()  # the concatenation holds them
        if injected is not None:
            injected.comps.clear()
    edges = allh.edges
    n_real = len(real.edges)
    bad = [
        w
        for w in pd.unique(real.edges["window"])
        if str(w) > as_of or (str(w) == as_of and not split)
    ]
    if bad:
        raise ValueError(f"baseline of {as_of} contains windows not before it: {bad}")
    # hosts in id order: pair codes then follow (src, dst) order, the order in which the engine
    # gives a window's combinations, so a batch of them needs one range of pairs (`pair_view`)
    ends = _as_strings(
        pd.unique(np.concatenate([edges["src"].to_numpy(), edges["dst"].to_numpy()]))
    )
    # strings sorted as the Python objects they are (code point order, as numpy's str sort):
    # no fixed-width copy of every name
    hosts: pd.Index = pd.Index(np.sort(ends), dtype=object)
    del ends
    H = len(hosts)
    src = hosts.get_indexer(pd.Index(edges["src"], copy=False)).astype(np.int64)
    dst = hosts.get_indexer(pd.Index(edges["dst"], copy=False)).astype(np.int64)

    # subnet and zone of each host
    sub = pd.Series([None] * H, index=hosts, dtype=object)
    internal = pd.Series([None] * H, index=hosts, dtype=object)
    for side, h in (("src", src), ("dst", dst)):
        for col, target in ((f"{side}_subnet", sub), (f"{side}_internal", internal)):
            if col in edges.columns:
                vals = edges[col].to_numpy(dtype=object)
                ok = pd.notna(vals)
                target.iloc[h[ok]] = vals[ok]
    classify = ingest.host_classifier(settings.internal_cidrs if settings else ())
    missing = [h for h, i, z in zip(hosts, sub, internal, strict=True) if i is None or z is None]
    for h in missing:
        info = (hosts_info or {}).get(str(h)) or classify(str(h))
        if sub[h] is None:
            sub[h] = info.get("subnet")
        if internal[h] is None:
            internal[h] = info.get("internal")
    sub = sub.where(sub.notna(), pd.Series(hosts.to_numpy(dtype=object), index=hosts))
    host_subnet_codes, subnet_labels = pd.factorize(
        _as_strings(sub.to_numpy(dtype=object)), sort=False
    )
    host_subnet = host_subnet_codes.astype(np.int64)
    host_zone = internal.fillna(False).astype(bool).to_numpy().astype(np.int64)
    del sub, internal, missing, host_subnet_codes
    S = max(len(subnet_labels), 1)

    pair_combined = src * max(H, 1) + dst
    pair_of_edge, pair_keys = pd.factorize(pair_combined, sort=True)
    del pair_combined
    pair_keys = np.asarray(pair_keys, dtype=np.int64)
    P = len(pair_keys)
    p_src = pair_keys // max(H, 1)
    p_dst = pair_keys % max(H, 1)
    sp_combined = host_subnet[p_src] * S + host_subnet[p_dst]
    pair_sp, sp_keys = pd.factorize(sp_combined, sort=True)
    del sp_combined
    pair_sp = pair_sp.astype(np.int64)
    sp_keys = np.asarray(sp_keys, dtype=np.int64)
    pair_zp = host_zone[p_src] * 2 + host_zone[p_dst]

    conns = edges["conns"].to_numpy(dtype="float64")
    is_real = np.arange(len(edges)) < n_real
    # each edge's window by the codes of its distinct windows: no string made per edge
    win_codes, win_names = pd.factorize(
        real.edges["window"].to_numpy(dtype=object), use_na_sentinel=False
    )
    win_text = [str(w) for w in win_names]
    windows_sorted = sorted(set(win_text))
    widx = pd.Index(windows_sorted)
    real_win = widx.get_indexer(pd.Index(win_text))[win_codes].astype(np.int64)
    del win_codes, win_names, win_text
    subnets: pd.Index = pd.Index(subnet_labels, dtype=object)
    del subnet_labels
    if consume:  # the names are codes now: the edges' string columns go from the input frames
        for frame in {id(f): f for f in (real.edges, edges)}.values():
            for c in [c for c in NAMED if c in frame.columns]:
                del frame[c]
        # the names the fingerprints keep made again, side by side: those they replace were
        # made among the edges' transient objects, and would keep the memory those left
        # pinned in Python's small-object arenas (at 32 M connections a week, hundreds of
        # MiB); then what making the codes freed goes back to the system before the pairs'
        # and the new-pair counts' arrays are made (the C heap and Arrow's pool would keep it)
        hosts, subnets = _compacted(hosts), _compacted(subnets)
        return_free_memory()
    pair_windows = np.zeros(P, dtype=np.int64)
    if n_real:
        pw = np.unique(pair_of_edge[:n_real] * (len(widx) + 1) + real_win)
        pair_windows = np.bincount(pw // (len(widx) + 1), minlength=P)
    pairs = pd.DataFrame(
        {
            "src": p_src,
            "dst": p_dst,
            "sp": pair_sp,
            "zp": pair_zp,
            "conns": np.bincount(pair_of_edge, weights=conns, minlength=P),
            "windows": pair_windows,
            "injected": np.bincount(
                pair_of_edge, weights=np.where(is_real, 0.0, conns), minlength=P
            ),
        }
    )
    del conns, is_real, pair_windows
    # the pairs' ends, subnet pairs and zone pairs as the frame holds them: one copy of each
    p_src, p_dst = pairs["src"].to_numpy(), pairs["dst"].to_numpy()
    pair_sp, pair_zp = pairs["sp"].to_numpy(), pairs["zp"].to_numpy()
    level_key = {
        "pair": np.arange(P, dtype=np.int64),
        "client": p_src,
        "server": p_dst,
        "subnet_pair": pair_sp,
        "zone_pair": pair_zp,
        "global": np.zeros(P, dtype=np.int64),
    }
    # how new pairs and hosts appeared within the baseline: from the edges alone, made before
    # the components, so that the edges' own columns go first
    timed = {"first", "last"} <= set(real.edges.columns)
    who = _who_stats(
        real_win,
        src[:n_real],
        dst[:n_real],
        pair_of_edge[:n_real].astype(np.int64, copy=False),
        host_zone,
        host_subnet,
        pair_sp,
        (H, P, len(subnets), len(sp_keys)),
        first_ts=real.edges["first"].to_numpy(dtype="float64") if timed else None,
        last_ts=real.edges["last"].to_numpy(dtype="float64") if timed else None,
    )
    n_edges = len(edges)
    del src, dst, real_win
    if consume:  # what the components still need of the edges is `pair_of_edge`
        for frame in {id(f): f for f in (real.edges, edges)}.values():
            for c in [c for c in ("first", "last") if c in frame.columns]:
                del frame[c]
    level_size = {
        "pair": P,
        "client": H,
        "server": H,
        "subnet_pair": len(sp_keys),
        "zone_pair": 4,
        "global": 1,
    }

    vocab: dict[str, pd.Index] = {}
    levels: dict[str, dict[str, LevelHist]] = {}
    whole: dict[str, dict[str, bool]] = {lvl: {} for lvl in sinks or {}}
    totals: dict[str, np.ndarray] = {}  # per level, the first component's per-key totals
    for comp in COMPONENTS:
        ce = allh.comps.pop(comp) if consume else allh.comps[comp]
        if consume:
            # what reading the component freed (the engine's sort of its rows, the batches'
            # parts) goes back to the system before its levels are summed: the C heap keeps
            # it otherwise (at 32 M connections a week, about 400 MiB through the components)
            return_free_memory()
        voc = ce.vocab
        vocab[comp] = voc
        V = max(len(voc), 1)
        other_code = (
            int(np.flatnonzero(voc == OTHER)[0]) if (comp in FOLDED and OTHER in voc) else -1
        )
        pair_rows = pair_of_edge[ce.edge] if len(ce.edge) else np.zeros(0, np.int64)
        m_pair: np.ndarray | None = None
        if comp in FOLDED and other_code >= 0 and ce.distinct is not None:
            # distinct values folded into 'other' per edge = distinct - explicit keys kept
            explicit = np.bincount(ce.edge[ce.value != other_code], minlength=n_edges).astype(
                "float64"
            )
            has_other = np.bincount(ce.edge[ce.value == other_code], minlength=n_edges) > 0
            m_edge = np.where(has_other, np.maximum(ce.distinct - explicit, 1.0), 0.0)
            m_pair = np.zeros(P)
            np.maximum.at(m_pair, pair_of_edge, m_edge)
        # the pair level from the edges' rows; every coarser level sums the pair level's
        # (pair, value) counts, which are fewer than the edges' rows (a pair has an edge per
        # window)
        levels[comp] = {"pair": _aggregate(pair_rows, ce.value, ce.n, P, V, other_code, m_pair)}
        del ce, pair_rows  # before the coarser levels' rows are made
        by_pair = levels[comp]["pair"]
        pk, pv = by_pair.keys // V, by_pair.keys % V
        for lvl in LEVELS:
            if lvl == "pair":
                continue
            m = None
            if m_pair is not None:
                m = np.zeros(level_size[lvl])
                np.maximum.at(m, level_key[lvl], m_pair)
            key = level_key[lvl][pk]
            lh = _aggregate(key, pv, by_pair.n, level_size[lvl], V, other_code, m)
            del key
            # a key's total is its connections, the same for every component: one array
            seen = totals.get(lvl)
            if seen is not None and np.array_equal(seen, lh.total):
                lh.total = seen
            else:
                totals[lvl] = lh.total
            levels[comp][lvl] = lh
        del by_pair, pk, pv
        for lvl, sink in (sinks or {}).items():
            lh = levels[comp][lvl]
            sink(COMPONENTS.index(comp), lh)
            whole[lvl][comp] = lh.whole()
            levels[comp][lvl] = detached(lh)
            del lh
    fp = Fingerprints(
        as_of=as_of,
        windows=windows_sorted,
        hosts=hosts,
        host_subnet=host_subnet,
        host_zone=host_zone,
        subnets=subnets,
        pair_keys=pair_keys,
        pairs=pairs,
        sp_keys=sp_keys,
        vocab=vocab,
        levels=levels,
        who=who,
        joint=joint,
        feedback=tuple(feedback),
    )
    if sinks:
        fp.meta["whole"] = whole
    fp.build_seconds = time.perf_counter() - t0
    log.debug("fingerprints as of %s: %d pairs in %.2fs", as_of, P, fp.build_seconds)
    return fp


def joint_counts(comps: pd.DataFrame) -> pd.DataFrame:
    """Counts of each (proto, service, dport, conn_state) tuple in a components frame."""
    if comps.empty:
        return pd.DataFrame({**{c: pd.Series([], dtype=object) for c in JOINT}, "n": []})
    out = comps.groupby(list(JOINT), sort=False).size().rename("n").reset_index()
    out["n"] = out["n"].astype("float64")
    return out


def fingerprints_from_connections(
    baseline: pd.DataFrame,
    as_of: str,
    settings: Settings | None = None,
    *,
    window_kind: str | None = None,
    injected: EdgeHistograms | None = None,
) -> Fingerprints:
    """Pure path (tests, benchmarks): baseline connections -> Fingerprints, through exactly the
    aggregation ingest stores on the edges."""
    settings = settings or Settings(home=Path("."))
    kind = window_kind or windows.kind_of(as_of)
    hist = edge_histograms_from_connections(baseline, kind, settings)
    joint = joint_counts(features.components(baseline)) if len(baseline) else None
    return build(as_of, hist, injected=injected, joint=joint, settings=settings)
