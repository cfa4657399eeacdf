"""Snapshot metrics: a window's host graph as arrays in, per-host metrics out (pure).

Every host gets degree, peer, port and volume counts, PageRank (weighted by connections),
betweenness (exact on small graphs, sampled with a fixed seed above a size threshold), HITS hub
and authority scores and a Louvain community.

Two engines compute the same metrics: `networkx` (the reference, used for small windows) and
`fast` (scipy sparse power iteration for PageRank, scipy ARPACK for HITS exactly as networkx
calls it, igraph for betweenness and Louvain) for large windows. The unit tests hold them to the
same results on small graphs. `compute` takes a `WindowGraph` (what `edges.window_graph` reads
from the archive) or a DataFrame of edges (tests, benchmarks).
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.linalg import ArpackNoConvergence, svds

log = logging.getLogger(__name__)

Engine = Literal["auto", "networkx", "fast"]

#: metric name -> what it means (docs, explanations, JSON consumers)
METRICS: dict[str, str] = {
    "out_degree": "distinct hosts it connected to",
    "in_degree": "distinct hosts that connected to it",
    "peers": "distinct hosts it talked with, either direction",
    "dports_out": "distinct destination ports it connected to",
    "dports_in": "distinct ports it was connected on",
    "conns_out": "connections it initiated",
    "conns_in": "connections it answered",
    "bytes_out": "bytes (both directions) of connections it initiated",
    "bytes_in": "bytes (both directions) of connections it answered",
    "pagerank": "PageRank on the connection-weighted directed graph (sums to 1)",
    "betweenness": "normalised directed betweenness (hop count shortest paths)",
    "hub": "HITS hub score (unweighted, sums to 1): points at many authorities",
    "authority": "HITS authority score (unweighted, sums to 1): pointed at by many hubs",
    "community": "Louvain community (weights log(1 + connections)) label, 0 = largest",
    "community_size": "hosts in its community",
}
INT_METRICS = (
    "out_degree",
    "in_degree",
    "peers",
    "dports_out",
    "dports_in",
    "conns_out",
    "conns_in",
    "community",
    "community_size",
)
#: port keys of the graph's folded per-edge lists that are not ports (DataFrame input only)
IGNORED_PORTS = ("other", "-")


@dataclass(frozen=True)
class SnapshotSettings:
    """How metrics are computed. The defaults are what `graphnet snapshot` uses."""

    engine: Engine = "auto"
    # "auto": networkx up to this many edges, the fast engine above (same results, tested)
    networkx_max_edges: int = 2_000
    # exact betweenness up to this many hosts, sampled with `betweenness_k` sources above: a
    # source costs one BFS (about 25 ms at 10^5 hosts and 7 * 10^5 edges, igraph, 2 cores), so
    # exact there would take some 40 minutes, 256 sources some 6 seconds
    betweenness_exact_nodes: int = 1_000
    betweenness_k: int = 256
    seed: int = 0
    pagerank_alpha: float = 0.85
    # networkx semantics: stop when the L1 change of an iteration is below hosts * tol
    pagerank_tol: float = 1e-10
    pagerank_max_iter: int = 500
    hits_tol: float = 1e-8
    hits_max_iter: int = 1000
    louvain_resolution: float = 1.0
    batch_size: int = 5000


@dataclass
class HostMetrics:
    """The metrics of one window's host graph (output of `compute`)."""

    hosts: pd.DataFrame  # index: host id (str, sorted); columns: METRICS
    edges: int  # directed host pairs used (self-loops dropped)
    talked_edges: int  # edge rows read
    connections: int
    engine: str
    betweenness_k: int  # sources used for betweenness (= hosts when exact)
    betweenness_exact: bool
    communities: int
    modularity: float
    seconds: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# the graph as arrays
# --------------------------------------------------------------------------------------------
@dataclass
class WindowGraph:
    """A window's host graph as arrays: sorted host ids, one row per directed pair of distinct
    hosts (host codes = positions in `hosts`, each pair once), and per host its distinct
    destination ports. What `compute` measures."""

    hosts: np.ndarray  # object array of host ids, sorted
    src: np.ndarray  # int64 codes, one per directed pair
    dst: np.ndarray
    conns: np.ndarray  # float64
    bytes: np.ndarray  # float64 (src_bytes + dst_bytes)
    dports_out: np.ndarray  # per host
    dports_in: np.ndarray
    #: host pairs of the window before self-loops were dropped (the graph's TALKED edges)
    talked_edges: int = 0

    @property
    def n(self) -> int:
        return len(self.hosts)

    @property
    def m(self) -> int:
        return len(self.src)


def _column(edges: pd.DataFrame, name: str, default: float = 0.0) -> np.ndarray:
    if name not in edges.columns:
        return np.full(len(edges), default, dtype="float64")
    v = pd.to_numeric(edges[name], errors="coerce").to_numpy(dtype="float64")
    return np.nan_to_num(v, nan=default)


def _distinct_ports(
    owner: np.ndarray, lists: Sequence[Any] | None, per_edge: np.ndarray, n: int
) -> np.ndarray:
    """Per host: max(|union of the named ports on its edges|, max per-edge distinct count).

    Edges keep their top N ports and fold the rest into `other`; the per-edge count made before
    folding (`dport_distinct`) keeps a single edge's fan-out exact, the union covers fan-out over
    many edges. The result is a lower bound of the true number of distinct ports."""
    out = np.zeros(n, dtype=np.int64)
    if lists is not None and len(owner):
        lengths = np.fromiter(
            (len(x) if isinstance(x, list | tuple | np.ndarray) else 0 for x in lists),
            dtype=np.int64,
            count=len(owner),
        )
        if lengths.sum():
            flat = np.asarray(
                list(
                    chain.from_iterable(
                        x for x in lists if isinstance(x, list | tuple | np.ndarray)
                    )
                ),
                dtype=object,
            )
            hosts = np.repeat(owner, lengths)
            keep = ~pd.Series(flat).astype(str).isin(IGNORED_PORTS).to_numpy()
            pcodes, uniques = pd.factorize(flat[keep])
            pairs = np.unique(hosts[keep] * max(len(uniques), 1) + pcodes)
            out = np.bincount(pairs // max(len(uniques), 1), minlength=n).astype(np.int64)
    if len(owner):
        best = np.zeros(n, dtype=np.int64)
        np.maximum.at(best, owner, per_edge.astype(np.int64))
        out = np.maximum(out, best)
    return out


def empty_graph() -> WindowGraph:
    """The graph of a window without edges."""
    empty = np.zeros(0, dtype=np.int64)
    return WindowGraph(
        np.zeros(0, dtype=object), empty, empty, empty * 1.0, empty * 1.0, empty, empty
    )


def frame_graph(edges: pd.DataFrame) -> WindowGraph:
    """Edge rows -> coded arrays; self-loops dropped, duplicate pairs summed.

    `edges` has one row per directed host pair: `src`, `dst`, `conns`, optionally `src_bytes`,
    `dst_bytes`, and the ports as the graph's edges used to hold them: `dport_k` (the edge's top
    port keys, `other` = folded) and `dport_distinct` (its distinct ports before folding); a
    host's distinct ports are then a lower bound (see `_distinct_ports`)."""
    talked = len(edges)
    if talked == 0:
        return empty_graph()
    src = edges["src"].astype(str).to_numpy(dtype=object)
    dst = edges["dst"].astype(str).to_numpy(dtype=object)
    keep = src != dst
    if not keep.all():
        log.info("dropping %d self-loop edge(s)", int((~keep).sum()))
    src, dst = src[keep], dst[keep]
    codes, hosts = pd.factorize(np.concatenate([src, dst]), sort=True)
    hosts = np.asarray(hosts, dtype=object)
    n = len(hosts)
    s, d = codes[: len(src)].astype(np.int64), codes[len(src) :].astype(np.int64)
    conns = _column(edges, "conns")[keep]
    nbytes = (_column(edges, "src_bytes") + _column(edges, "dst_bytes"))[keep]
    per_edge = _column(edges, "dport_distinct")[keep]
    lists = None
    if "dport_k" in edges.columns:
        lists = edges["dport_k"].to_numpy(dtype=object)[keep]
    dports_out = _distinct_ports(s, lists, per_edge, n)
    dports_in = _distinct_ports(d, lists, per_edge, n)
    pair = s * n + d
    uniq, inverse = np.unique(pair, return_inverse=True)
    # sums per distinct pair, in the sorted order of `uniq`
    conns = np.bincount(inverse, weights=conns, minlength=len(uniq))
    nbytes = np.bincount(inverse, weights=nbytes, minlength=len(uniq))
    s, d = uniq // n, uniq % n
    return WindowGraph(hosts, s, d, conns, nbytes, dports_out, dports_in, talked)


def _undirected(g: WindowGraph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Undirected pairs (a < b) weighted by log(1 + connections of both directions): the
    community weight. The log keeps one flood of connections from deciding every host's
    community while heavier ties still count more."""
    a, b = np.minimum(g.src, g.dst), np.maximum(g.src, g.dst)
    uniq, inverse = np.unique(a * g.n + b, return_inverse=True)
    w = np.log1p(np.bincount(inverse, weights=g.conns, minlength=len(uniq)))
    return uniq // g.n, uniq % g.n, w


def modularity(
    n: int, a: np.ndarray, b: np.ndarray, w: np.ndarray, labels: np.ndarray, resolution: float
) -> float:
    """Weighted modularity of an undirected graph given as pairs (a, b, w) and node labels."""
    total = float(w.sum())
    if total <= 0:
        return 0.0
    k = np.bincount(labels, minlength=0)
    c = len(k)
    internal = np.bincount(labels[a], weights=np.where(labels[a] == labels[b], w, 0.0), minlength=c)
    degree = np.bincount(a, weights=w, minlength=n) + np.bincount(b, weights=w, minlength=n)
    dc = np.bincount(labels, weights=degree, minlength=c)
    return float((internal / total - resolution * (dc / (2.0 * total)) ** 2).sum())


def _labels(n: int, communities: Sequence[Sequence[int]]) -> np.ndarray:
    """Community sets -> labels numbered by size (0 = largest), ties by smallest member."""
    order = sorted(
        range(len(communities)), key=lambda i: (-len(communities[i]), min(communities[i]))
    )
    labels = np.full(n, -1, dtype=np.int64)
    for new, i in enumerate(order):
        labels[np.fromiter(communities[i], dtype=np.int64)] = new
    return labels


def _betweenness_plan(n: int, settings: SnapshotSettings) -> list[int] | None:
    """Sources for betweenness: None = exact; else the sample networkx would draw."""
    if n <= settings.betweenness_exact_nodes or settings.betweenness_k >= n:
        return None
    return random.Random(settings.seed).sample(range(n), settings.betweenness_k)


def _rescale_betweenness(raw: np.ndarray, sources: list[int] | None) -> np.ndarray:
    """networkx's normalisation (directed, endpoints excluded), sampled or exact."""
    n = len(raw)
    big_n = n - 1
    if big_n < 2:
        return raw
    if sources is None:
        return raw / (big_n * (big_n - 1))
    k = len(sources)
    scale = np.full(n, 1.0 / (k * (big_n - 1)))
    scale[np.asarray(sources, dtype=np.int64)] = (
        1.0 / ((k - 1) * (big_n - 1)) if k > 1 else math.nan
    )
    return raw * scale


# --------------------------------------------------------------------------------------------
# engines
# --------------------------------------------------------------------------------------------
def _hits_dense(n: int, src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a_mat = np.zeros((n, n))
    a_mat[src, dst] = 1.0
    _, _, vt = np.linalg.svd(a_mat)
    a = np.abs(vt[0]) if n else np.zeros(0)
    h = a_mat @ a
    return _unit_sum(h), _unit_sum(a)


def _unit_sum(x: np.ndarray) -> np.ndarray:
    s = x.sum()
    return x / s if s else x


class _Clock:
    """Seconds per phase, for the result's `seconds` (and the benchmark)."""

    def __init__(self, seconds: dict[str, float]) -> None:
        self.seconds = seconds
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self.last
        self.last = now


def _networkx_engine(
    g: WindowGraph, settings: SnapshotSettings, sources: list[int] | None, clock: _Clock
) -> dict[str, np.ndarray]:
    import networkx as nx

    n = g.n
    graph: nx.DiGraph[int] = nx.DiGraph()
    graph.add_nodes_from(range(n))
    graph.add_weighted_edges_from(
        zip(g.src.tolist(), g.dst.tolist(), g.conns.tolist(), strict=True), weight="conns"
    )
    clock.lap("graph")
    pr = nx.pagerank(
        graph,
        alpha=settings.pagerank_alpha,
        weight="conns",
        tol=settings.pagerank_tol,
        max_iter=settings.pagerank_max_iter,
    )
    clock.lap("pagerank")
    if n < 3 or g.m == 0:
        hub, auth = _hits_dense(n, g.src, g.dst)
    else:
        try:
            with np.errstate(divide="raise", invalid="raise"):
                hubs, auths = nx.hits(
                    graph,
                    max_iter=settings.hits_max_iter,
                    tol=settings.hits_tol,
                    nstart=dict.fromkeys(range(n), 1.0),
                )
            hub = np.array([hubs[i] for i in range(n)])
            auth = np.array([auths[i] for i in range(n)])
        except (FloatingPointError, nx.PowerIterationFailedConvergence):
            hub = auth = np.full(n, np.nan)
        if not _hits_ok(hub, auth):
            a_mat = sparse.csr_array((np.ones(g.m), (g.src, g.dst)), shape=(n, n))
            hub, auth = _hits_power(a_mat, settings.hits_tol, settings.hits_max_iter)
    clock.lap("hits")
    if sources is None:
        bc = nx.betweenness_centrality(graph, normalized=True)
    else:
        bc = nx.betweenness_centrality(graph, k=len(sources), normalized=True, seed=settings.seed)
    clock.lap("betweenness")
    a, b, w = _undirected(g)
    und: nx.Graph[int] = nx.Graph()
    und.add_nodes_from(range(n))
    und.add_weighted_edges_from(
        zip(a.tolist(), b.tolist(), w.tolist(), strict=True), weight="conns"
    )
    comms = nx.community.louvain_communities(
        und, weight="conns", resolution=settings.louvain_resolution, seed=settings.seed
    )
    clock.lap("louvain")
    return {
        "pagerank": np.array([pr[i] for i in range(n)]),
        "hub": hub,
        "authority": auth,
        "betweenness": np.array([bc[i] for i in range(n)]),
        "community": _labels(n, [sorted(c) for c in comms]),
    }


def pagerank(
    n: int,
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
    alpha: float = 0.85,
    tol: float = 1e-10,
    max_iter: int = 500,
) -> np.ndarray:
    """PageRank by sparse power iteration, the algorithm of networkx's `pagerank` (uniform
    teleport, dangling mass spread uniformly, stop when the L1 change < n * tol)."""
    if n == 0:
        return np.zeros(0)
    w = sparse.csr_array((weight, (src, dst)), shape=(n, n))
    out = np.asarray(w.sum(axis=1)).ravel()
    inv = np.divide(1.0, out, out=np.zeros(n), where=out != 0)
    # transpose of the row-stochastic matrix, so that x @ A == at @ x
    at = sparse.csr_array((weight * inv[src], (dst, src)), shape=(n, n))
    dangling = out == 0
    x = np.full(n, 1.0 / n)
    p = np.full(n, 1.0 / n)
    for _ in range(max_iter):
        last = x
        x = alpha * (at @ x + x[dangling].sum() * p) + (1 - alpha) * p
        if np.abs(x - last).sum() < n * tol:
            return np.asarray(x)
    log.warning("PageRank did not converge in %d iterations; using the last iterate", max_iter)
    return np.asarray(x)


def _hits_power(
    a_mat: sparse.csr_array, tol: float, max_iter: int
) -> tuple[np.ndarray, np.ndarray]:
    """Kleinberg's iteration from a uniform start: a <- A^T A a. Deterministic and non-negative
    also when the leading singular value is not unique (where ARPACK returns an arbitrary,
    possibly mixed-sign, vector of the leading subspace)."""
    n = a_mat.shape[0]
    at = a_mat.T.tocsr()
    a = np.full(n, 1.0 / n)
    for _ in range(max_iter):
        last = a
        a = at @ (a_mat @ a)
        a = _unit_sum(a)
        if np.abs(a - last).sum() < tol * n:
            break
    return _unit_sum(a_mat @ a), a


def _hits_ok(hub: np.ndarray, auth: np.ndarray) -> bool:
    """A usable HITS result: finite, non-negative (up to round-off), summing to 1."""
    for x in (hub, auth):
        if not np.isfinite(x).all() or x.min() < -1e-9 or abs(x.sum() - 1.0) > 1e-6:
            return False
    return True


def hits(
    n: int, src: np.ndarray, dst: np.ndarray, tol: float = 1e-8, max_iter: int = 1000
) -> tuple[np.ndarray, np.ndarray]:
    """HITS hub and authority scores (unweighted), computed as networkx does: the leading
    right singular vector of the adjacency matrix (ARPACK) from a uniform start vector. When
    that is not usable (the leading singular value is not unique), Kleinberg's iteration."""
    if n < 3 or len(src) == 0:
        return _hits_dense(n, src, dst)
    a_mat = sparse.csr_array((np.ones(len(src)), (src, dst)), shape=(n, n))
    try:
        _, _, vt = svds(a_mat, k=1, v0=np.ones(n), maxiter=max_iter, tol=tol)
    except ArpackNoConvergence:
        log.info("HITS: ARPACK did not converge; using Kleinberg's iteration")
        return _hits_power(a_mat, tol, max_iter)
    a = vt.flatten().real
    h = a_mat @ a
    with np.errstate(divide="ignore", invalid="ignore"):
        hub, auth = h / h.sum(), a / a.sum()
    if not _hits_ok(hub, auth):
        return _hits_power(a_mat, tol, max_iter)
    return hub, auth


def _louvain_igraph(
    n: int, a: np.ndarray, b: np.ndarray, w: np.ndarray, resolution: float, seed: int
) -> np.ndarray:
    import igraph as ig

    und = ig.Graph(n=n, edges=np.column_stack([a, b]).tolist(), directed=False)
    ig.set_random_number_generator(random.Random(seed))
    try:
        clustering = und.community_multilevel(weights=w.tolist(), resolution=resolution)
    finally:
        ig.set_random_number_generator(random)
    membership = np.asarray(clustering.membership, dtype=np.int64)
    order = np.argsort(membership, kind="stable")
    bounds = np.flatnonzero(np.diff(membership[order])) + 1
    return _labels(n, [c.tolist() for c in np.split(order, bounds)])


def _fast_engine(
    g: WindowGraph, settings: SnapshotSettings, sources: list[int] | None, clock: _Clock
) -> dict[str, np.ndarray]:
    import igraph as ig

    n = g.n
    pr = pagerank(
        n,
        g.src,
        g.dst,
        g.conns,
        settings.pagerank_alpha,
        settings.pagerank_tol,
        settings.pagerank_max_iter,
    )
    clock.lap("pagerank")
    hub, auth = hits(n, g.src, g.dst, settings.hits_tol, settings.hits_max_iter)
    clock.lap("hits")
    directed = ig.Graph(n=n, edges=np.column_stack([g.src, g.dst]).tolist(), directed=True)
    raw = np.asarray(directed.betweenness(directed=True, sources=sources), dtype="float64")
    clock.lap("betweenness")
    a, b, w = _undirected(g)
    community = _louvain_igraph(n, a, b, w, settings.louvain_resolution, settings.seed)
    clock.lap("louvain")
    return {
        "pagerank": pr,
        "hub": hub,
        "authority": auth,
        "betweenness": _rescale_betweenness(raw, sources),
        "community": community,
    }


def _choose_engine(m: int, settings: SnapshotSettings) -> str:
    engine = settings.engine
    if engine == "auto":
        engine = "networkx" if m <= settings.networkx_max_edges else "fast"
    if engine == "fast":
        try:
            import igraph  # noqa: F401
        except ImportError:
            log.warning("igraph is not installed; computing with networkx (slow on large graphs)")
            return "networkx"
    elif engine != "networkx":
        raise ValueError(f"unknown engine {engine!r}; expected auto, networkx or fast")
    return engine


def compute(
    edges: WindowGraph | pd.DataFrame, settings: SnapshotSettings | None = None
) -> HostMetrics:
    """Per-host metrics of one window's graph: a `WindowGraph` (as `edges.window_graph` reads
    it from the archive) or a DataFrame of edge rows (see `frame_graph`)."""
    settings = settings or SnapshotSettings()
    t0 = time.perf_counter()
    seconds: dict[str, float] = {}
    clock = _Clock(seconds)
    g = frame_graph(edges) if isinstance(edges, pd.DataFrame) else edges
    n = g.n
    clock.lap("graph")
    engine = _choose_engine(g.m, settings)
    sources = _betweenness_plan(n, settings)
    if n == 0:
        cent: dict[str, np.ndarray] = {
            k: np.zeros(0) for k in ("pagerank", "hub", "authority", "betweenness")
        }
        cent["community"] = np.zeros(0, dtype=np.int64)
    elif engine == "networkx":
        cent = _networkx_engine(g, settings, sources, clock)
    else:
        cent = _fast_engine(g, settings, sources, clock)

    out_deg = np.bincount(g.src, minlength=n)
    in_deg = np.bincount(g.dst, minlength=n)
    a, b, w = _undirected(g)
    peers = np.bincount(a, minlength=n) + np.bincount(b, minlength=n)
    labels = cent["community"]
    sizes = np.bincount(labels, minlength=1) if n else np.zeros(0, dtype=np.int64)
    hosts = pd.DataFrame(
        {
            "out_degree": out_deg,
            "in_degree": in_deg,
            "peers": peers,
            "dports_out": g.dports_out,
            "dports_in": g.dports_in,
            "conns_out": np.bincount(g.src, weights=g.conns, minlength=n),
            "conns_in": np.bincount(g.dst, weights=g.conns, minlength=n),
            "bytes_out": np.bincount(g.src, weights=g.bytes, minlength=n),
            "bytes_in": np.bincount(g.dst, weights=g.bytes, minlength=n),
            "pagerank": cent["pagerank"],
            "betweenness": cent["betweenness"],
            "hub": cent["hub"],
            "authority": cent["authority"],
            "community": labels,
            "community_size": sizes[labels] if n else np.zeros(0, dtype=np.int64),
        },
        index=pd.Index(g.hosts, name="host", dtype=object),
    )
    for col in INT_METRICS:
        hosts[col] = np.rint(hosts[col].to_numpy(dtype="float64")).astype(np.int64)
    q = modularity(n, a, b, w, labels, settings.louvain_resolution) if n else 0.0
    clock.lap("assemble")
    seconds["total"] = time.perf_counter() - t0
    return HostMetrics(
        hosts=hosts,
        edges=g.m,
        talked_edges=g.talked_edges,
        connections=round(float(g.conns.sum())),
        engine=engine,
        betweenness_k=n if sources is None else len(sources),
        betweenness_exact=sources is None,
        communities=len(sizes) if n else 0,
        modularity=q,
        seconds=seconds,
    )
