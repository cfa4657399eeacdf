"""Per-host (and per-edge) time baselines: is this 5-minute bucket out of band?

Every host (either endpoint of a connection) and every busy edge (src -> dst with enough
history) gets a series of flows per bucket (default 5 minutes). Three baselines are learned on
earlier windows and each gives a band and a two-sided tail probability for every bucket:

1. mean ± 3σ per (hour of day, weekday/weekend) group (σ floored at max(√μ, 0.5): counts are
   at least Poisson-noisy);
2. a density per group, chosen among normal, exponential and Gaussian kernel density by
   AIC (parametric) / leave-one-out log-likelihood (kernel); out of band below a probability
   of 0.003 (two-sided);
3. a ridge regression (scikit-learn) of log(1 + flows) on the previous three buckets' flows,
   bytes and distinct peers (log scale), hour (sin/cos), weekend and the group mean; its 99 %
   prediction interval comes from quantiles of held-out residuals (split-conformal: fit on the
   first 75 % of the history, calibrate and report R² / RMSE on the last 25 %), scaled per
   entity by its own held-out residual spread.

A bucket is out of band when at least `vote` (default 2) of the three agree on the direction
and, for high buckets, it has at least `min_count` flows (for low ones, at least that many were
expected). Consecutive out-of-band buckets of one host or edge become one `volume_anomaly`
finding with the expected band. Groups with too little history fall back to the entity's
pooled distribution; entities without history are compared to silence.

All statistics come from sparse (entity, bucket) cells: zero buckets are counted, never
materialised, so 10^4 hosts over four weeks fit in seconds. The step never holds a window's
connections: the analytical engine aggregates the archive into those cells (SQL, in bounded
memory), and the top peers and ports of the findings, and every connection's score when the
evaluation asks for it, are SQL joins of the scored cells back to the connections.

The package, one concern per module (none imports this `__init__`):

- `buckets`: sparse (entity, bucket) cells, busy edges and the (hour, weekend) group of a
  bucket, in memory;
- `aggregates`: the same cells and busy edges, the findings' top peers and ports and the
  connection scores as SQL aggregations over the archive (`graphnet/sql/volume_*.sql`);
- `density`: the kernel-density maths of baseline 2 (supports, leave-one-out likelihood,
  CDFs and log tails);
- `model`: `VolumeSettings`, `FitReport` and the pure model `VolumeBaselines`;
- `findings`: out-of-band runs, the finding threshold, `volume_anomaly` findings and per-host
  scores;
- `charts`: time charts with their bands (`series`, `series_from_cells`) and those stored for
  the report;
- `step`: `fit_window`, `VolumeResult` and the `volume` step's `run`.
"""

from __future__ import annotations

from graphnet.detectors.volume.buckets import (
    NG,
    POOLED,
    SHIFT,
    busy_edges,
    cells,
    day_span,
    group_of,
)
from graphnet.detectors.volume.charts import (
    SERIES_KEPT,
    SERIES_RESULT,
    finding_entity,
    finding_series,
    series,
    series_from_cells,
    stored_series,
)
from graphnet.detectors.volume.density import _kde_cdf as _kde_cdf
from graphnet.detectors.volume.density import _kde_logtails as _kde_logtails
from graphnet.detectors.volume.density import _kde_loo_loglik as _kde_loo_loglik
from graphnet.detectors.volume.findings import (
    finding_runs,
    finding_threshold,
    findings_from_cells,
    findings_from_runs,
    host_scores,
    runs,
    tops_from_connections,
)
from graphnet.detectors.volume.model import (
    BASELINES,
    FAMILIES,
    KDE_FACTORS,
    P_FLOOR,
    FitReport,
    VolumeBaselines,
    VolumeSettings,
)
from graphnet.detectors.volume.step import VolumeResult, fit_window, run

__all__ = [
    "BASELINES",
    "FAMILIES",
    "KDE_FACTORS",
    "NG",
    "POOLED",
    "P_FLOOR",
    "SERIES_KEPT",
    "SERIES_RESULT",
    "SHIFT",
    "FitReport",
    "VolumeBaselines",
    "VolumeResult",
    "VolumeSettings",
    "busy_edges",
    "cells",
    "day_span",
    "finding_entity",
    "finding_runs",
    "finding_series",
    "finding_threshold",
    "findings_from_cells",
    "findings_from_runs",
    "fit_window",
    "group_of",
    "host_scores",
    "run",
    "runs",
    "series",
    "series_from_cells",
    "stored_series",
    "tops_from_connections",
]
