"""RITA-class detection of one window, without history: **beacons**, **long connections** and
**strobes** (after RITA, Real Intelligence Threat Analytics, by Active Countermeasures). Each
judges the window against its own pairs, so it works on a single capture; each finding says
so (`judged_against`).

Out of core: the engine groups the window's connections by (src, dst) once
(`graphnet/sql/rita_pairs.sql`); a beacon candidate's interval and size quartiles and median
absolute deviations are window functions and `percentile_cont` aggregates in standard SQL
(`rita_beacon.sql`); only per-pair rows reach Python.

One concern per module (none imports this `__init__`):

- `model`: `RitaSettings`, the beacon sub-scores (Bowley skew, MAD, histogram, duration), the
  learned thresholds, the sentences;
- `aggregates`: what the steps ask the archive;
- `common`: the session over the window, the Browser query of a pair, host and pair scores;
- `beacon`, `longconn`, `strobe`: the three registry steps (`beacon`, `long_connection`,
  `strobe`).
"""
