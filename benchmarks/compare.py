"""Compare the services' code of several checkouts under the same load, interleaved, to see what
a change bought on a noisy machine. Each round runs, for each checkout in turn, a capacity run with
tracing off, one with tracing on, and the replay (benchmarks.pipeline, run from that checkout, so
its services are the ones measured). Printed per run and best-of for each checkout: events/s and
the services' CPU milliseconds per inbound event (which other work on the machine hardly moves).

    git worktree add /tmp/lt-before <commit>      # or: git archive <commit> | tar -x -C /tmp/lt-before
    python -m benchmarks.compare /tmp/lt-before . --rounds 2 --dossiers 500

Every checkout should have the same benchmarks/ and shared/sim/load.py (copy them in), so that
only the services differ.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

RUN = """
import asyncio, json
from benchmarks.pipeline import servers, pipeline_run
async def main():
    async with servers() as srv:
        off = await pipeline_run(srv, {dossiers}, tracing=False)
        on = await pipeline_run(srv, {dossiers}, tracing=True, replay=True)
        print(json.dumps({{"off": off.load.rate, "on": on.load.rate, "replay": on.replay_rate,
                          "cpu_off": off.cpu_ms_per_event, "cpu_on": on.cpu_ms_per_event,
                          "cpu_replay": on.replay_cpu_ms_per_fact,
                          "cpu_off_by": {{k: 1000 * v / off.load.events for k, v in off.cpu.items()}},
                          "cpu_on_by": {{k: 1000 * v / on.load.events for k, v in on.cpu.items()}}}}))
asyncio.run(main())
"""
RATES, CPUS = ("off", "on", "replay"), ("cpu_off", "cpu_on", "cpu_replay")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkouts", nargs="+", type=Path)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--dossiers", type=int, default=500)
    args = parser.parse_args(argv)
    results: dict[Path, list[dict]] = {c: [] for c in args.checkouts}
    for round_ in range(args.rounds):
        for checkout in args.checkouts:
            done = subprocess.run([sys.executable, "-c", RUN.format(dossiers=args.dossiers)], cwd=checkout,
                                  capture_output=True, text=True)  # fmt: skip
            lines = done.stdout.strip().splitlines()
            if done.returncode or not lines:
                print(f"round {round_} {checkout}: failed\n{done.stderr[-2000:]}", flush=True)
                continue
            results[checkout].append(json.loads(lines[-1]))
            print(f"round {round_} {checkout}: {lines[-1]}", flush=True)
    for checkout, runs in results.items():
        if not runs:
            continue
        best = {k: max(r[k] for r in runs) for k in RATES} | {k: min(r[k] for r in runs) for k in CPUS}
        print(f"best of {len(runs)} {checkout}: "
              + ", ".join(f"{k} {best[k]:,.0f}/s" for k in RATES) + "; CPU ms per event "
              + ", ".join(f"{k.removeprefix('cpu_')} {best[k]:.2f}" for k in CPUS))  # fmt: skip


if __name__ == "__main__":
    main()
