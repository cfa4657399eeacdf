"""Produce the figures of docs/evaluation.md with one command:

    .venv/bin/python bench/evaluate_all.py [--seeds 1 2 3] [--weeks 4] [--hosts 60]

Runs graphnet.evaluation.sets.evaluate_all on a scratch Neo4j instance (its graph is wiped for every
data set): generated networks with planted scenarios, the same with application logs (dns.log,
http.log) and their plants, then the labelled real logs found under ../shared/data (or
$GRAPHNET_SHARED_DATA), and rewrites the figures block of docs/evaluation.md.

`--sets applogs --out /tmp/applogs.md` runs some of the data sets only (for development); the
figures of docs/evaluation.md are the full run's, so a partial run must write elsewhere.
`--json FILE` also writes the full results (every window's JSON, as `graphnet evaluate`).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from _scratch import scratch_neo4j

from graphnet.evaluation.sets import SETS

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--weeks", type=int, default=4)
    ap.add_argument("--hosts", type=int, default=60)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "evaluation.md")
    ap.add_argument(
        "--sets",
        nargs="+",
        choices=SETS,
        default=list(SETS),
        help="the data sets to evaluate (default: all; a partial run needs --out elsewhere)",
    )
    ap.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    args = ap.parse_args()
    default_out = REPO / "docs" / "evaluation.md"
    if set(args.sets) != set(SETS) and args.out.resolve() == default_out.resolve():
        ap.error("a run of some data sets only must not replace docs/evaluation.md: pass --out")
    shared = Path(os.environ.get("GRAPHNET_SHARED_DATA", REPO.parent / "shared" / "data"))

    from graphnet.evaluation.sets import evaluate_all
    from graphnet.store import open_store

    with tempfile.TemporaryDirectory() as work, scratch_neo4j("evaluation") as settings:
        os.environ["GRAPHNET_HOME"] = str(Path(work) / "home")
        with open_store(settings) as store:
            results = evaluate_all(
                store,
                Path(work),
                seeds=tuple(args.seeds),
                weeks=args.weeks,
                hosts=args.hosts,
                shared_data=shared if shared.is_dir() else None,
                out=args.out,
                clear=True,
                sets=tuple(args.sets),
            )
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        print(f"results written to {args.json}")
    print(f"figures written to {args.out}")


if __name__ == "__main__":
    main()
