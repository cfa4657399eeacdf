"""A fingerprint's pair level out of memory: stored rows, and views of the pairs a batch needs.

The pair level is written as rows of `PAIR_SCHEMA` (pair code, component, value code, count,
folded-value estimate): from a whole fingerprint (`pair_batches`) or one component at a time as
`build(pair_sink=...)` makes it (`level_batches`); the caller stores them as a result through
the archive door (see `baseline`). `detach_pairs` then drops the pair level from the
fingerprint, which keeps per pair only its key and its row of `pairs`. Scoring reads back the
rows of the pairs of each batch and scores against a view of the fingerprint holding only those
pairs (`pair_view`), which gives what the whole fingerprint gives for them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pyarrow as pa

from graphnet.detectors.novelty.fingerprints import (
    Fingerprints,
    LevelHist,
    _aggregate,
    _empty_level,
)
from graphnet.detectors.novelty.histograms import COMPONENTS, FOLDED, OTHER

# --------------------------------------------------------------------------------------------
# the pair level out of memory: stored rows, and views of the pairs a batch needs
# --------------------------------------------------------------------------------------------
#: the pair level as rows: pair code, component (position in COMPONENTS), value code, count,
#: and the pair's estimate of distinct values folded into 'other' (1 when none)
PAIR_SCHEMA = pa.schema(
    [
        ("pair", pa.int64()),
        ("comp", pa.int8()),
        ("value", pa.int64()),
        ("n", pa.float64()),
        ("m", pa.float64()),
    ]
)
#: pairs whose rows make one batch of PAIR_SCHEMA rows
PAIR_CHUNK = 50_000


def pair_batches(fp: Fingerprints, chunk: int = PAIR_CHUNK) -> Iterator[pa.RecordBatch]:
    """The pair level of every component as PAIR_SCHEMA rows, by (pair, comp, value), `chunk`
    pairs at a time."""
    for lo in range(0, fp.n_pairs, max(chunk, 1)):
        hi = min(lo + chunk, fp.n_pairs)
        cols: dict[str, list[np.ndarray]] = {name: [] for name in PAIR_SCHEMA.names}
        for ci, comp in enumerate(COMPONENTS):
            lh = fp.levels[comp]["pair"]
            a = int(np.searchsorted(lh.keys, lo * lh.V))
            b = int(np.searchsorted(lh.keys, hi * lh.V))
            k = lh.keys[a:b] // lh.V
            cols["pair"].append(k)
            cols["comp"].append(np.full(b - a, ci, dtype=np.int8))
            cols["value"].append(lh.keys[a:b] % lh.V)
            cols["n"].append(lh.n[a:b])
            cols["m"].append(np.asarray(lh.other_m, dtype="float64")[k])
        pair = np.concatenate(cols["pair"])
        order = np.lexsort((np.concatenate(cols["value"]), np.concatenate(cols["comp"]), pair))
        yield pa.record_batch(
            [pa.array(np.concatenate(cols[name])[order]) for name in PAIR_SCHEMA.names],
            schema=PAIR_SCHEMA,
        )


def level_batches(ci: int, lh: LevelHist, chunk: int = 1 << 20) -> Iterator[pa.RecordBatch]:
    """One component's pair level (`ci`: its position in COMPONENTS) as PAIR_SCHEMA rows, by
    (pair, value), `chunk` rows at a time (`build(pair_sink=...)` stores them)."""
    for a in range(0, len(lh.keys), max(chunk, 1)):
        keys = lh.keys[a : a + chunk]
        k = keys // lh.V
        yield pa.record_batch(
            [
                pa.array(k),
                pa.array(np.full(len(keys), ci, dtype=np.int8)),
                pa.array(keys % lh.V),
                pa.array(lh.n[a : a + chunk]),
                pa.array(np.asarray(lh.other_m, dtype="float64")[k]),
            ],
            schema=PAIR_SCHEMA,
        )


def detach_pairs(fp: Fingerprints, where: tuple[str, str]) -> None:
    """Drop the pair level from `fp` (its rows were stored as the result `where`, from
    `pair_batches`): what stays in memory per pair is its key and its row of `pairs`."""
    whole: dict[str, bool] = {}
    for comp in COMPONENTS:
        lh = fp.levels[comp]["pair"]
        rounded = np.round(lh.n, 3)
        whole[comp] = bool(np.all(rounded == np.floor(rounded)))
        fp.levels[comp]["pair"] = _empty_level(lh.V)
    fp.meta["pair_whole"] = whole
    for cached in ("_pair_weights", "_pair_coefficients"):
        fp.meta.pop(cached, None)
    fp.pairs_result = where


def pair_view(fp: Fingerprints, sel: np.ndarray, rows: pa.Table) -> Fingerprints:
    """`fp` restricted to the pairs `sel` (sorted global pair codes), their pair level made of
    their stored rows (PAIR_SCHEMA, by pair, comp, value): scoring through the view gives what
    the whole fingerprint gives for those pairs (each pair's numbers come from its own rows,
    summed in the same order). Pair codes of the view are positions in `sel`."""
    sel = np.asarray(sel, dtype=np.int64)
    pair = rows.column("pair").to_numpy()
    local = np.searchsorted(sel, pair).astype(np.int64)
    comp_col = rows.column("comp").to_numpy()
    value = rows.column("value").to_numpy().astype(np.int64)
    n = rows.column("n").to_numpy()
    m = rows.column("m").to_numpy()
    levels: dict[str, dict[str, LevelHist]] = {}
    for ci, comp in enumerate(COMPONENTS):
        mask = comp_col == ci
        voc = fp.vocab[comp]
        other_code = (
            int(np.flatnonzero(voc == OTHER)[0]) if (comp in FOLDED and OTHER in voc) else -1
        )
        m_key = None
        if other_code >= 0:
            m_key = np.zeros(len(sel))
            np.maximum.at(m_key, local[mask], m[mask])
        V = fp.levels[comp]["pair"].V
        lh = _aggregate(local[mask], value[mask], n[mask], len(sel), V, other_code, m_key)
        levels[comp] = {**fp.levels[comp], "pair": lh}
    return replace(
        fp,
        pair_keys=fp.pair_keys[sel],
        pairs=fp.pairs.iloc[sel].reset_index(drop=True),
        levels=levels,
        meta={},
        pairs_result=None,
        peer_pairs=fp.pairs if fp.peer_pairs is None else fp.peer_pairs,
    )
