"""Produce the figures of docs/evaluation.md with one command:

    .venv/bin/python bench/evaluate_all.py [--seeds 1 2 3] [--weeks 4] [--hosts 60]

Runs graphnet.evaluation.sets.evaluate_all on a scratch Neo4j instance (its graph is wiped for every
data set): generated networks with planted scenarios, then the labelled real logs found under
../shared/data (or $GRAPHNET_SHARED_DATA), and rewrites the figures block of
docs/evaluation.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from _scratch import scratch_neo4j

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--weeks", type=int, default=4)
    ap.add_argument("--hosts", type=int, default=60)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "evaluation.md")
    args = ap.parse_args()
    shared = Path(os.environ.get("GRAPHNET_SHARED_DATA", REPO.parent / "shared" / "data"))

    from graphnet.evaluation.sets import evaluate_all
    from graphnet.store import open_store

    with tempfile.TemporaryDirectory() as work, scratch_neo4j("evaluation") as settings:
        os.environ["GRAPHNET_HOME"] = str(Path(work) / "home")
        with open_store(settings) as store:
            evaluate_all(
                store,
                Path(work),
                seeds=tuple(args.seeds),
                weeks=args.weeks,
                hosts=args.hosts,
                shared_data=shared if shared.is_dir() else None,
                out=args.out,
                clear=True,
            )
    print(f"figures written to {args.out}")


if __name__ == "__main__":
    main()
