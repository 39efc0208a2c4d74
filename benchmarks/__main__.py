"""`make bench`: every performance figure of lienthong in one run, each with its parameters, the
baseline measured in the same run, the ratio and the goal (issue 8). Machines here are noisy, so
ratios to a baseline taken minutes apart on the same machine are what to compare, not raw rates.

    python -m benchmarks [--quick] [--dossiers N] [--latency-dossiers N] [--open-stages N] ...

What it runs (servers: a private nats-server, and PostgreSQL on DATABASE_URL's server or an
embedded one when it is unset; every run gets fresh streams and a fresh database):
1. raw nats-py JetStream pull + ack of messages the size of the load's events (benchmarks.transport),
   before and after the pipeline runs (their mean is the baseline);
2. the pipeline (benchmarks.pipeline): intake, routing, deadline, postal as four processes, driven
   by the simulator's load mode (shared/sim/load.py), flat out, tracing off then tracing on (OTLP/HTTP
   export to a sink process);
3. replay: the deadline service rebuilds its projections on a fresh database and a fresh consumer
   from every fact the traced run recorded; baseline: raw pull of messages the facts' size;
4. latency: the traced pipeline paced at half its measured capacity, inbound event -> its first fact;
5. the deadline service at scale (benchmarks.deadline): overdue sweep and memory with N open stages,
   `report` over N dossiers, `explain` among many stored facts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nats

from benchmarks import deadline as deadline_bench
from benchmarks.pipeline import RunFigures, describe, pipeline_run, servers
from benchmarks.transport import raw_pull_rate
from shared.sim.load import build_load, percentile

QUICK = {"dossiers": 100, "latency_dossiers": 60, "raw_messages": 5000, "open_stages": 20_000,
         "report_dossiers": 20_000, "fact_dossiers": 2_000}  # fmt: skip


@dataclass
class Row:
    figure: str
    value: str
    baseline: str
    ratio: str
    goal: str
    met: bool | None  # None: no goal


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help=f"a smoke run with small sizes: {QUICK}")
    parser.add_argument("--dossiers", type=int, default=1500, help="dossiers per capacity run (8 inbound events each)")
    parser.add_argument("--latency-dossiers", type=int, default=600, help="dossiers of the half-capacity run")
    parser.add_argument("--raw-messages", type=int, default=20_000, help="messages per raw pull baseline")
    parser.add_argument("--open-stages", type=int, default=1_000_000, help="open-stage timers for the sweep")
    parser.add_argument("--report-dossiers", type=int, default=1_000_000, help="dossiers under `report`")
    parser.add_argument("--stages-per-dossier", type=int, default=4)
    parser.add_argument("--fact-dossiers", type=int, default=100_000, help="dossiers x 10 facts stored for explain")
    parser.add_argument("--skip-pipeline", action="store_true", help="only the deadline service at scale")
    parser.add_argument("--skip-deadline", action="store_true", help="only the pipeline figures")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            if getattr(args, key) == parser.get_default(key):
                setattr(args, key, value)
    if args.dossiers < 1 or args.latency_dossiers < 1 or args.raw_messages < 1:
        parser.error("--dossiers, --latency-dossiers and --raw-messages must be positive")
    if args.open_stages < 2 * deadline_bench.DUE:
        parser.error(f"--open-stages must be at least {2 * deadline_bench.DUE}")
    return args


def say(text: str) -> None:
    print(text, flush=True)


async def run_pipeline(args: argparse.Namespace, figures: dict, rows: list[Row]) -> None:
    sample = build_load(20)
    payload = sum(len(d.submitted.payload) + sum(len(o.payload) for o in d.route) for d in sample) // (20 * 8)
    async with servers() as srv:
        say(f"servers: NATS {srv.nats_url} (private), PostgreSQL {srv.server_dsn.rsplit('@', 1)[-1]}")
        raw_before = await raw_pull_rate(srv.nats_url, args.raw_messages, payload)
        say(f"• raw nats-py pull + ack, {args.raw_messages:,} x {payload} B: {raw_before:,.0f} msg/s")
        off = await pipeline_run(srv, args.dossiers, tracing=False)
        say("• " + describe("pipeline, tracing off", off))
        on = await pipeline_run(srv, args.dossiers, tracing=True, replay=True)
        say("• " + describe("pipeline, tracing on ", on))
        say(f"• replay into the deadline service's fresh projections: {on.replay_facts:,} facts in "
            f"{on.replay_seconds:.2f} s = {on.replay_rate:,.0f} facts/s, "
            f"{on.replay_cpu_ms_per_fact:.2f} ms of the service's CPU per fact")  # fmt: skip
        fact_payload = await mean_fact_size(srv.nats_url)
        raw_facts = await raw_pull_rate(srv.nats_url, args.raw_messages, fact_payload)
        say(f"• raw nats-py pull + ack, {args.raw_messages:,} x {fact_payload} B (the facts' mean): "
            f"{raw_facts:,.0f} msg/s")  # fmt: skip
        half = on.load.rate / 2
        paced = await pipeline_run(srv, args.latency_dossiers, tracing=True, rate=half)
        say("• " + describe(f"pipeline, tracing on, paced at {half:,.0f} events/s", paced))
        raw_after = await raw_pull_rate(srv.nats_url, args.raw_messages, payload)
        say(f"• raw nats-py pull + ack again, {args.raw_messages:,} x {payload} B: {raw_after:,.0f} msg/s")
    raw = (raw_before + raw_after) / 2
    figures["pipeline"] = {
        "payload_bytes": payload, "raw_pull_before": raw_before, "raw_pull_after": raw_after,
        "tracing_off": summary(off), "tracing_on": summary(on), "replay_facts": on.replay_facts,
        "replay_seconds": on.replay_seconds, "replay_rate": on.replay_rate, "fact_payload_bytes": fact_payload,
        "replay_cpu_ms_per_fact": on.replay_cpu_ms_per_fact,
        "raw_pull_facts": raw_facts, "paced_rate_target": half, "paced": summary(paced),
    }  # fmt: skip
    rows.append(ratio_row("a. pipeline, persisted + traced", on.load.rate, "events/s", raw,
                          f"raw pull+ack {payload} B", 0.25))  # fmt: skip
    rows.append(ratio_row("b. tracing on / tracing off", on.load.rate, "events/s", off.load.rate, "tracing off", 0.8))
    cpu_ratio = off.cpu_ms_per_event / on.cpu_ms_per_event  # what noise hardly moves: CPU per event
    rows.append(Row("b. the same by the services' CPU per event", f"{on.cpu_ms_per_event:.2f} ms/event",
                    f"tracing off: {off.cpu_ms_per_event:.2f} ms/event", f"{cpu_ratio:.3f}", "≥ 0.8",
                    cpu_ratio >= 0.8))  # fmt: skip
    rows.append(ratio_row("c. replay into fresh projections", on.replay_rate, "facts/s", raw_facts,
                          f"raw pull+ack {fact_payload} B", 0.5))  # fmt: skip
    lat = paced.load.latencies_ms
    p50_p99 = f"{percentile(lat, 0.5):,.0f} / {percentile(lat, 0.99):,.0f} ms"
    rows.append(Row("f. latency event -> fact, p50 / p99", p50_p99,
                    f"at {paced.load.rate:,.0f} events/s", f"(half of {on.load.rate:,.0f})", "—", None))  # fmt: skip


async def mean_fact_size(nats_url: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        state = (await nc.jetstream().stream_info("LT_EVT")).state
        return max(1, state.bytes // max(state.messages, 1))
    finally:
        await nc.close()


def summary(run: RunFigures) -> dict:
    lat = run.load.latencies_ms
    return {"dossiers": run.load.dossiers, "events": run.load.events, "seconds": run.load.seconds,
            "events_per_s": run.load.rate, "facts": run.load.facts_seen, "latency_p50_ms": percentile(lat, 0.5),
            "latency_p99_ms": percentile(lat, 0.99), "otlp_requests": run.spans_requests,
            "otlp_bytes": run.spans_bytes, "cpu_ms_per_event": run.cpu_ms_per_event,
            "cpu_seconds": run.cpu}  # fmt: skip


def ratio_row(figure: str, value: float, unit: str, baseline: float, label: str, goal: float) -> Row:
    ratio = value / baseline
    met = ratio >= goal
    return Row(figure, f"{value:,.0f} {unit}", f"{label}: {baseline:,.0f}/s", f"{ratio:.3f}", f"≥ {goal}", met)


async def run_deadline(args: argparse.Namespace, figures: dict, rows: list[Row]) -> None:
    dl_args = argparse.Namespace(
        open_stages=args.open_stages,
        dossiers=args.report_dossiers,
        stages_per_dossier=args.stages_per_dossier,
        fact_dossiers=args.fact_dossiers,
    )
    got = await deadline_bench.run(dl_args)
    figures["deadline"] = got
    n = f"{args.open_stages:,} open stages"
    rows.append(Row(f"d. tick -> 1,000 overdue published ({n})", f"{got['tick_to_overdue_ms']:,.0f} ms", "", "",
                    "≤ 1000 ms", got["tick_to_overdue_ms"] <= 1000))  # fmt: skip
    rows.append(Row(f"d. one overdue sweep ({n})", f"{got['sweep_ms']:,.0f} ms", "", "", "≤ 1000 ms",
                    got["sweep_ms"] <= 1000))  # fmt: skip
    rss = max(got["rss_after_sweep_mb"], got["rss_end_mb"])
    rows.append(Row("d. deadline service memory (RSS)", f"{rss:,.0f} MB", f"peak {got['peak_end_mb']:,.0f} MB", "",
                    "< 300 MB", rss < 300))  # fmt: skip
    explain = got["explain_median_ms"]
    rows.append(Row(f"e. explain among {args.fact_dossiers * 10:,} facts", f"{explain:,.1f} ms",
                    f"p95 {got['explain_p95_ms']:,.1f} ms", "", "< 100 ms", explain < 100))  # fmt: skip
    reports = {k: v for k, v in got.items() if k.startswith("report_")}
    worst = max(reports, key=reports.get)
    rows.append(Row(f"e. report over {args.report_dossiers:,} dossiers (slowest of 4)", f"{reports[worst]:,.0f} ms",
                    worst.removeprefix("report_").removesuffix("_ms").replace("_", " "), "", "< 2000 ms",
                    reports[worst] < 2000))  # fmt: skip


def table(rows: list[Row]) -> str:
    head = Row("figure", "measured", "baseline (same run)", "ratio", "goal", None)
    cells = [(r.figure, r.value, r.baseline, r.ratio, r.goal, "" if r.met is None else ("met" if r.met else "NOT MET"))
             for r in [head, *rows]]  # fmt: skip
    widths = [max(len(c[i]) for c in cells) for i in range(6)]
    lines = ["  ".join(c[i].ljust(widths[i]) for i in range(6)).rstrip() for c in cells]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> dict:
    figures: dict = {"parameters": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    rows: list[Row] = []
    began = time.monotonic()
    say("lienthong benchmark — parameters: " + ", ".join(f"{k}={v}" for k, v in figures["parameters"].items()))
    if not args.skip_pipeline:
        say(f"\n== pipeline: {args.dossiers:,} dossiers x 8 inbound events per capacity run, "
            f"{args.latency_dossiers:,} paced ==")  # fmt: skip
        await run_pipeline(args, figures, rows)
    if not args.skip_deadline:
        say(f"\n== deadline service at scale: {args.open_stages:,} open stages, {args.report_dossiers:,} dossiers ==")
        await run_deadline(args, figures, rows)
    figures["wall_seconds"] = time.monotonic() - began
    say(f"\n== summary ({figures['wall_seconds']:.0f} s wall) ==\n{table(rows)}")
    figures["rows"] = [vars(r) for r in rows]
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1, default=str))
    return figures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
