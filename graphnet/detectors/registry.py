"""The registry: every analysis step of a window, in the order the pipeline runs them.

Listed once, by direct reference to each step's `run` (as cartography's `build_default_sync`
lists its syncs): nothing is looked up by name or by inspecting signatures. A step's name is
its one name everywhere: `graphnet analyse --only NAME`, the scheduler's `steps`, the
`detector` of its findings, the combined ranking, the evaluation and every JSON output.
"""

from __future__ import annotations

from graphnet.detectors import applogs, behaviour, labels, lda, shifts, snapshots, volume
from graphnet.detectors.contract import Step
from graphnet.detectors.novelty import baseline, paths, scoring
from graphnet.detectors.rita import beacon, longconn, strobe


def default_steps() -> tuple[Step, ...]:
    """The steps of a window's analysis; each comes after the steps it `needs`."""
    return (
        Step(
            "snapshot",
            snapshots.run,
            "centrality snapshot of the window (and of earlier windows without one)",
        ),
        Step(
            "shifts",
            shifts.run,
            "hosts whose role in the graph changed against their earlier snapshots",
            kind="centrality_shift",
            needs=("snapshot",),
        ),
        Step(
            "fingerprints",
            baseline.run,
            "per-pair fingerprints from the earlier windows, stored for Neo4j Browser",
            self_baseline=True,
        ),
        Step(
            "novelty",
            scoring.run,
            "every connection scored against its pair's fingerprint; novel conversations",
            kind="novel_connection",
            uses=("fingerprints",),
            self_baseline=True,
        ),
        Step(
            "paths",
            paths.run,
            "novel connections chained into deviating multi-hop paths",
            kind="deviating_path",
            needs=("novelty",),
        ),
        Step(
            "lda",
            lda.run,
            "Spot-style suspicious connects (topic model of connection words)",
            kind="suspicious_connect",
        ),
        Step(
            "volume",
            volume.run,
            "per-host traffic against its time baselines",
            kind="volume_anomaly",
        ),
        Step(
            "behaviour",
            behaviour.run,
            "hosts doing something for the first time",
            kind="first_behaviour",
            self_baseline=True,
        ),
        Step(
            "beacon",
            beacon.run,
            "RITA-class beacons: pairs connecting at regular intervals with regular sizes "
            "(judged against the window alone)",
            kind="beacon",
        ),
        Step(
            "long_connection",
            longconn.run,
            "RITA-class long connections: pairs open far longer in total than the window's "
            "other pairs",
            kind="long_connection",
        ),
        Step(
            "strobe",
            strobe.run,
            "RITA-class strobes: pairs with far more connections than the window's other pairs",
            kind="strobe",
        ),
        *applogs.STEPS,
        Step(
            "browser_labels",
            labels.run_labels,
            "Internal/External and PageRank labels for Neo4j Browser's style",
        ),
    )


#: names of earlier versions -> the step's name (configuration files and scripts keep working)
FORMER_NAMES = {"suspicious_connects": "lda"}


def detectors() -> tuple[Step, ...]:
    """The steps that score hosts (they have a finding kind)."""
    return tuple(s for s in default_steps() if s.detector)


def detector_of_kind() -> dict[str, str]:
    """The step that writes each finding kind."""
    return {s.kind: s.name for s in default_steps() if s.kind is not None}
