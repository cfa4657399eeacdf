"""Rank the known bad host of every real capture with one command:

    .venv/bin/python bench/evaluate_captures.py [--capture NAME ...] [--json FILE] [--no-write]

Runs graphnet.evaluation.captures.evaluate_captures on a scratch Neo4j instance (its graph is
wiped for every capture): each labelled capture with a known bad host found under
../shared/data (or $GRAPHNET_SHARED_DATA) is ingested alone with the defaults, analysed like
`graphnet analyse --all` and ranked like `graphnet risk`; the figures replace the captures block
of docs/evaluation.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from pathlib import Path

from _scratch import scratch_neo4j

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    from graphnet.evaluation.captures import CAPTURES

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--capture",
        action="append",
        choices=[c.name for c in CAPTURES],
        metavar="NAME",
        help="only this capture (repeat): " + "; ".join(c.name for c in CAPTURES),
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=REPO / "docs" / "evaluation.md",
        help="the markdown file whose captures block is replaced (default docs/evaluation.md)",
    )
    ap.add_argument("--no-write", action="store_true", help="do not touch --out")
    ap.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    logging.getLogger("neo4j").setLevel(logging.ERROR)  # its notifications drown the output
    shared = Path(os.environ.get("GRAPHNET_SHARED_DATA", REPO.parent / "shared" / "data"))

    from graphnet.evaluation.captures import evaluate_captures, to_json
    from graphnet.store import open_store

    with tempfile.TemporaryDirectory() as work, scratch_neo4j("captures") as settings:
        with open_store(settings) as store:
            res = evaluate_captures(
                store,
                shared if shared.is_dir() else None,
                Path(work),
                names=args.capture,
                out=None if args.no_write else args.out,
                clear=True,
            )
    if args.json:
        args.json.write_text(to_json(res), encoding="utf-8")
    for c in res["captures"]:
        if c.get("skipped"):
            print(f"{c['capture']}: skipped ({c['skipped']})")
            continue
        s = c["score"]
        print(
            f"{c['capture']}: {c['connections']} conns, {len(c['windows'])} {c['window_kind']} "
            f"window(s); {s['host']} main-window rank {s['main_rank']} (best {s['best_rank']}); "
            f"{c['alerts_per_day']:.1f} alerts/day; {c['seconds']:.0f} s"
        )
    if not args.no_write:
        print(f"figures written to {args.out}")


if __name__ == "__main__":
    main()
