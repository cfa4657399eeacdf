"""Engine benchmark: the archive side of the analyse steps at one size, no Neo4j.

    .venv/bin/python bench/bench_engine.py [--size 32] [--cache DIR] [--seed 11]
                                           [--steps scan,fingerprints,novelty,volume,...]
                                           [--json FILE]

The weeks of a size come from the scale benchmark's cache (`bench_scale.py`; generated when
missing) and are loaded into a connection archive alone (no graph), kept under
`<cache>/engine-homes/` for the next run. Then, each in a child process with the settings of a
fresh GRAPHNET_HOME (GRAPHNET_ENGINE_MEMORY and _THREADS as in the environment, default 1 GB and
two threads), against the two history weeks of week 3:

- `scan` (the baseline): the windows read once as the steps bind them (each connection once),
  counted (`volume_span.sql`);
- `fingerprints`: the fingerprints as the step builds them, without the graph
  (`novelty.baseline.fingerprints_from_archive`: the edge histograms one component at a time,
  the pair, subnet-pair and host levels written to stored results; no feedback, nothing
  written to Neo4j);
- `novelty`: those fingerprints, then week 3 scored against them as the step scores it
  (`novelty.scoring.score_window`, out of core; hosts the fingerprints do not know are
  classified by the settings, where the step reads their subnet from the graph; the scores are
  not stored); between the two, what the build freed goes back to the system, as the pipeline
  does between its steps, and the scoring's own peak is printed beside the build's;
- `volume`: the volume baselines (`volume.step.fit_window`: the engine's cells, then the model);
- `volume-step`, `lda`: the whole step as `graphnet analyse` runs it (fit on the history, score
  the window, findings and host scores), without the graph and saving nothing (`lda` then has
  no analyst feedback to re-inject).

Per step: wall time, peak RSS (ru_maxrss of the child), the ratio of its wall to the scan's, and
the engine's message when it ran out of memory (a failed step is reported, never hidden). What
the graph holds is the scale benchmark's part; this one isolates what grows with connections.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_scale as scale

STEPS = ("scan", "fingerprints", "novelty", "volume", "volume-step", "lda")
HISTORY_WEEKS = (1, 2)
WINDOW_WEEK = 3


def load_archive(home: Path, files: Sequence[Path]) -> tuple[int, float]:
    """The files' connections into the archive of `home` (each file committed once: a file
    already there is skipped). Returns the connections written and the seconds taken."""
    from graphnet import sources, windows
    from graphnet.archive import Archive
    from graphnet.config import Settings
    from graphnet.ingest.parse import sha256_of

    archive = Archive(Settings(home=home))
    done = set(archive.committed())
    t0 = time.perf_counter()
    n = 0
    for i, path in enumerate(files):
        sha = sha256_of(path)
        if sha[:16] in done:  # the archive's markers are keyed by the first 16 hex digits
            continue
        writer = archive.writer(sha, source=str(path))
        for chunk in sources.read(path, "zeek"):
            frame = chunk.frame
            if frame.empty:
                continue
            win = windows.window_ids(frame["ts"].to_numpy(dtype="float64"), "week")
            writer.write(frame, win.to_numpy())
            n += len(frame)
        archive.commit(sha, writer.finish())
        if i % 50 == 0:
            scale.say(f"  archived {i + 1}/{len(files)} files, {n:,} connections")
    return n, time.perf_counter() - t0


def child(step: str, home: Path, history: list[str]) -> dict[str, Any]:
    """One step in this process (called in the child)."""
    from graphnet import memory
    from graphnet.archive import Archive
    from graphnet.config import Settings
    from graphnet.detectors.contract import Context
    from graphnet.detectors.lda import step as lda_step
    from graphnet.detectors.novelty import baseline, scoring, streamed
    from graphnet.detectors.volume import step as volume_step
    from graphnet.detectors.volume.model import VolumeSettings
    from graphnet.errors import EngineOutOfMemory

    settings = Settings(home=home)
    archive = Archive(settings)
    t0 = time.perf_counter()
    out: dict[str, Any] = {"step": step, "ok": True}
    try:
        if step == "scan":
            row = archive.query("volume_span", {"conns": history}).to_pylist()[0]
            out["connections"] = int(row["n"])
        elif step == "fingerprints":
            # as the step builds them (without the graph: no feedback, no Neo4j rows): the
            # edge histograms one component at a time, the pair level written apart
            window = archive.windows()[-1]
            fp = baseline.fingerprints_from_archive(
                archive, window, history, settings, pairs_apart=True
            )
            out["pairs"] = fp.n_pairs
            out["hosts"] = len(fp.hosts)
            out["connections"] = fp.conns
        elif step == "novelty":
            window = archive.windows()[-1]
            fp = baseline.fingerprints_from_archive(
                archive, window, history, settings, pairs_apart=True
            )
            out["fingerprint_seconds"] = time.perf_counter() - t0
            # as the pipeline passes from the fingerprints step to novelty: what the build
            # freed goes back to the system, and the scoring's peak is measured from there
            out["fingerprint_peak_mib"] = memory.memory_mib()[1]
            memory.return_free_memory()
            out["scoring_start_mib"] = memory.memory_mib()[0]
            memory.start_span()
            # handed over as the step hands them: let go once no longer needed
            handed = streamed.Handed(fp)
            del fp
            ws, st = scoring.score_window(archive, handed, window, settings)
            out["scoring_peak_mib"] = memory.span_peak_mib()
            out["connections"] = st.total
            out["conversations"] = len(ws.conversations)
            out["findings"] = len(ws.findings)
            out["kept_rows"] = len(ws.connections)
        elif step == "volume":
            window = archive.windows()[-1]
            det, wins, _ = volume_step.fit_window(archive, window, VolumeSettings())
            out["entities"] = len(det.entities)
            out["history"] = wins
        elif step in ("volume-step", "lda"):
            window = archive.windows()[-1]
            ctx = Context.of(settings, window, None, save=False)
            run = (lda_step if step == "lda" else volume_step).run(ctx)
            out["summary"] = run.summary
            out["findings"] = len(run.findings)
            out["hosts_scored"] = len(run.host_scores)
        else:
            raise ValueError(step)
    except EngineOutOfMemory as exc:
        out["ok"] = False
        out["error"] = str(exc)
    out["seconds"] = time.perf_counter() - t0
    return out


def run_child(step: str, home: Path, history: list[str], logdir: Path) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--child", step, "--home", str(home)]
    argv += ["--history", ",".join(history)]
    env = scale.child_env(None)
    env["PYTHONPATH"] = os.pathsep.join([str(scale.REPO), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    proc = scale.run(argv, env, logdir, f"engine-{step}")
    try:
        res: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        err = scale.tail(proc.stderr, 5)
        res = {"step": step, "ok": False, "error": f"exit {proc.returncode}: {err}"}
    res.update(wall=proc.wall, peak_rss=proc.peak_rss, cpu=proc.cpu)
    return res


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--size", type=float, default=32.0, help="millions a week (default 32)")
    ap.add_argument(
        "--cache", type=Path, default=scale.DEFAULT_CACHE, help=f"default {scale.DEFAULT_CACHE}"
    )
    ap.add_argument("--seed", type=int, default=11, help="generator seed (default 11)")
    ap.add_argument(
        "--steps", default=",".join(STEPS), help="comma-separated, of " + ", ".join(STEPS)
    )
    ap.add_argument("--json", type=Path, default=None, help="also write every figure here")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--home", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--history", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.home, args.history.split(","))), flush=True)
        return 0
    steps = [s for s in args.steps.split(",") if s]
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        ap.error(f"unknown steps: {', '.join(unknown)}")

    cache: Path = args.cache.expanduser().resolve()
    logdir = cache / "logs" / time.strftime("%Y%m%d-%H%M%S")
    ds = scale.dataset(args.size, cache, args.seed, logdir)
    home = cache / "engine-homes" / f"{ds.path.name}"
    home.mkdir(parents=True, exist_ok=True)
    scale.say(f"graphnet engine benchmark: {scale.size_label(args.size)}, {ds.records:,} records")
    scale.say(f"  archive: {home} (load {os.getloadavg()[0]:.2f})")
    files = [f for w in (*HISTORY_WEEKS, WINDOW_WEEK) for f in ds.week_files(w)]
    n, secs = load_archive(home, files)
    if n:
        scale.say(f"  loaded {n:,} connections in {secs:.1f} s ({n / secs:,.0f}/s)")
    history = [ds.window(w) for w in HISTORY_WEEKS]
    engine = os.environ.get("GRAPHNET_ENGINE_MEMORY", "1GB (default)")
    scale.say(f"  history {', '.join(history)}; engine memory {engine}")
    results = []
    base: float | None = None
    for step in steps:
        load = os.getloadavg()[0]
        res = run_child(step, home, history, logdir)
        res["load"] = load
        results.append(res)
        if step == "scan" and res.get("ok"):
            base = res["wall"]
        ratio = f", {res['wall'] / base:.1f}x the scan" if base and step != "scan" else ""
        state = "ok" if res.get("ok") else f"FAILED: {res.get('error', '')[:300]}"
        scale.say(
            f"  {step}: {res['wall']:.1f} s, peak RSS {scale.fmt_bytes(res['peak_rss'])}"
            f"{ratio} (load {load:.2f}) {state}"
        )
        if res.get("scoring_peak_mib") is not None:
            scale.say(
                f"    fingerprints {res['fingerprint_seconds']:.1f} s, peak"
                f" {res['fingerprint_peak_mib'] / 1024:.2f} GiB; scoring from"
                f" {res['scoring_start_mib'] / 1024:.2f} GiB resident, peak"
                f" {res['scoring_peak_mib'] / 1024:.2f} GiB"
            )
    scale.say(f"load at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps({"size": args.size, "steps": results}, indent=2))
    return 0 if all(r.get("ok") for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
