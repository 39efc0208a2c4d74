"""Benchmark of the deadline service at district-to-province scale.

    python -m benchmarks.deadline --open-stages 1000000

Runs `python -m services.deadline` as its own process (simulated clock) on a private nats-server
and a fresh database on DATABASE_URL's server (an embedded PostgreSQL when it is unset), then:
1. COPYs N open-stage timers, of which 1,000 become due at the next clock tick and 1,000 more an
   hour later; measures tick -> the 1,000th `deadline.overdue` published, and one sweep in-process;
2. reads the service's resident memory (the sweep never loads all timers);
3. COPYs 1,000,000 summary dossiers (with their stages) and times `lt.rpc.deadline.report`;
4. COPYs the facts of many dossiers, publishes one real dossier's facts, and times `explain`.
Each figure is printed with its goal. Everything it started is stopped, the database dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

import asyncpg
import nats

from services.deadline.scheduler import sweep
from shared import devenv
from shared.calendar import VN_TZ
from shared.catalog import load_catalog
from shared.contracts import subjects
from tests.unit.deadline.story import Story

ROOT = Path(__file__).resolve().parents[1]
CATALOG_PATH = ROOT / "tests" / "catalogs" / "basic.yaml"
T0 = datetime(2026, 3, 2, 8, tzinfo=VN_TZ)
T1, T2 = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
DUE = 1000


def verdict(value: float, goal: float, unit: str) -> str:
    return f"{value:,.1f} {unit} (goal < {goal:,.0f} {unit}) {'OK' if value < goal else 'MISSED'}"


def rss_mb(pid: int) -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


async def copy_timers(db: asyncpg.Connection, n: int) -> None:
    def rows():
        for i in range(n):
            fire = T0 + timedelta(seconds=i + 1) if i < 2 * DUE else T2 + timedelta(days=1, seconds=i)
            if DUE <= i < 2 * DUE:
                fire += timedelta(hours=1)
            code = f"B01.00.00.X99-260302-{i:07d}"
            yield code, "stage_overdue", "stage_overdue:1", 1, "T01.31.00.X99", fire, fire

    cols = ["dossier_code", "kind", "identity", "stage_index", "agency", "due_at", "fire_at"]
    await db.copy_records_to_table("timers", schema_name="deadline", columns=cols, records=rows())
    await db.execute("ANALYZE deadline.timers")


async def copy_summaries(db: asyncpg.Connection, n: int, stages_per: int) -> None:
    catalog = load_catalog(CATALOG_PATH)
    procedures, agencies = list(catalog.procedures), list(catalog.agencies)
    rng = random.Random(7)

    def dossiers():
        for i in range(n):
            received = T0 - timedelta(days=rng.randrange(365), minutes=rng.randrange(600))
            ready = received + timedelta(days=rng.randrange(3, 30)) if rng.random() < 0.85 else None
            late = ready is not None and rng.random() < 0.12
            status = "result_ready" if ready else rng.choice(("in_progress", "paused"))
            yield (f"B02.00.00.X99-{i:09d}", procedures[i % len(procedures)], agencies[i % 2], agencies[:4],
                   received, received.date(), received + timedelta(days=14), ready, ready.date() if ready else None,
                   None, status, late, 6.5 if late else 0.0, agencies[2], None if ready else 1)  # fmt: skip

    def stages():
        for i in range(n):
            for k in range(stages_per):
                late = rng.random() < 0.04
                yield (f"B02.00.00.X99-{i:09d}", k, agencies[k % len(agencies)], "district", "process",
                       procedures[i % len(procedures)], 8.0, 5.0 if late else 0.0, late,
                       date(2025, 3, 2) + timedelta(days=rng.randrange(365)))  # fmt: skip

    await db.copy_records_to_table(
        "dossiers", schema_name="deadline", records=dossiers(),
        columns=["code", "procedure", "receiving_agency", "agencies", "received_at", "received_date",
                 "appointment_at", "result_ready_at", "result_ready_date", "returned_at", "status", "late",
                 "late_hours", "holder_agency", "open_stage"],
    )  # fmt: skip
    await db.copy_records_to_table(
        "stages", schema_name="deadline", records=stages(),
        columns=["dossier_code", "stage_index", "agency", "level", "role", "procedure", "budget_hours",
                 "overrun_hours", "late", "scope_date"],
    )  # fmt: skip
    await db.execute("ANALYZE deadline.dossiers; ANALYZE deadline.stages")


async def copy_facts(db: asyncpg.Connection, dossiers: int) -> None:
    records = (
        (str(uuid.uuid4()), f"B03.00.00.X99-{i:08d}", k, "dossier", "handoff_sent", T0, "{}")
        for i in range(dossiers)
        for k in range(10)
    )
    cols = ["event_id", "dossier_code", "seq", "topic", "type", "occurred_at", "data"]
    await db.copy_records_to_table("facts", schema_name="deadline", columns=cols, records=records)
    await db.execute("ANALYZE deadline.facts")


async def timed_request(nc, subject: str, body: dict, timeout: float = 30) -> tuple[float, dict]:
    began = time.perf_counter()
    reply = await nc.request(subject, json.dumps(body).encode(), timeout=timeout)
    return (time.perf_counter() - began) * 1000, json.loads(reply.data)


async def tick(nc, now: datetime) -> None:
    await nc.publish(subjects.SIM_CLOCK, json.dumps({"now": now.isoformat()}).encode())
    await nc.flush()


async def bench(args: argparse.Namespace, nats_url: str, dsn: str, pid: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    nc = await nats.connect(nats_url)
    db = await asyncpg.connect(dsn)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        await tick(nc, T0)
        began = time.perf_counter()
        await copy_timers(db, args.open_stages)
        print(f"• {args.open_stages:,} open-stage timers copied in {time.perf_counter() - began:.1f} s")
        await asyncio.sleep(1)
        fired: list[float] = []
        done = asyncio.Event()

        async def on_overdue(_msg) -> None:
            fired.append(time.perf_counter())
            if len(fired) == DUE:
                done.set()

        await nc.subscribe(subjects.fact("deadline", "overdue"), cb=on_overdue)
        started = time.perf_counter()
        await tick(nc, T1)
        await asyncio.wait_for(done.wait(), 30)
        figures["tick_to_overdue_ms"] = (fired[-1] - started) * 1000
        print(f"• {DUE:,} of them due at a tick -> all {DUE:,} overdue published: "
              f"{verdict(figures['tick_to_overdue_ms'], 1000, 'ms')}")  # fmt: skip
        began = time.perf_counter()
        count = await sweep(pool, load_catalog(CATALOG_PATH).calendar, T2)
        figures["sweep_ms"] = (time.perf_counter() - began) * 1000
        print(f"• one sweep in-process, {count:,} due among {args.open_stages:,}: "
              f"{verdict(figures['sweep_ms'], 1000, 'ms')}")  # fmt: skip
        rss, peak = rss_mb(pid)
        figures["rss_after_sweep_mb"], figures["peak_after_sweep_mb"] = rss, peak
        print(f"• deadline process memory after the sweeps: RSS {verdict(rss, 300, 'MB')}; peak {peak:,.0f} MB")

        began = time.perf_counter()
        await copy_summaries(db, args.dossiers, args.stages_per_dossier)
        print(f"• {args.dossiers:,} summary dossiers and {args.dossiers * args.stages_per_dossier:,} stages "
              f"copied in {time.perf_counter() - began:.1f} s")  # fmt: skip
        for label, request in (
            ("whole history", {}),
            ("one month", {"from": "2026-01-01", "to": "2026-01-31"}),
            ("one procedure", {"procedure": "9.000002"}),
            ("one agency", {"agency": "T01.00.02.X99"}),
        ):
            runs = [await timed_request(nc, subjects.RPC_DEADLINE_REPORT, request) for _ in range(3)]
            assert all(answer["ok"] for _, answer in runs), runs[0][1]
            figures[f"report_{label.replace(' ', '_')}_ms"] = statistics.median(ms for ms, _ in runs)
            print(f"• report, {label}: {verdict(statistics.median(ms for ms, _ in runs), 2000, 'ms')}")

        await copy_facts(db, args.fact_dossiers)
        story = Story(load_catalog(CATALOG_PATH), "T01.00.01.X99-260302-0001", "9.000001", "T01.00.01.X99")
        story.received(T0)
        story.completed(0, T0 + timedelta(hours=2))
        story.handoff_received(1, T0 + timedelta(days=1))
        story.paused(1, T0 + timedelta(days=1, hours=1))
        story.resumed(1, T0 + timedelta(days=1, hours=1), T0 + timedelta(days=2))
        story.completed(1, T0 + timedelta(days=4))
        js = nc.jetstream()
        for subject, body in story.messages:
            await js.publish(subject, json.dumps(body).encode(), headers={"Nats-Msg-Id": body["event_id"]})
        request = {"dossier_code": story.code}
        for _ in range(200):
            if (await timed_request(nc, subjects.RPC_DEADLINE_EXPLAIN, request))[1]["ok"]:
                break
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError(f"the deadline service never explained {story.code}")
        times = sorted([(await timed_request(nc, subjects.RPC_DEADLINE_EXPLAIN, request))[0] for _ in range(50)])
        median, p95 = statistics.median(times), times[int(len(times) * 0.95)]
        figures["explain_median_ms"], figures["explain_p95_ms"] = median, p95
        print(
            f"• explain ({args.fact_dossiers * 10:,} facts stored): "
            f"median {verdict(median, 100, 'ms')}; p95 {p95:.1f} ms"
        )
        rss, peak = rss_mb(pid)
        print(f"• deadline process memory at the end: RSS {verdict(rss, 300, 'MB')}; peak {peak:,.0f} MB")
        figures["rss_end_mb"], figures["peak_end_mb"] = rss, peak
        return figures
    finally:
        await pool.close()
        await db.close()
        await nc.close()


async def run(args: argparse.Namespace) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="lt-bench-"))
    nats_server = devenv.start_nats(work / "nats")
    pg = None if os.environ.get("DATABASE_URL") else devenv.start_postgres(work / "pg")
    server_dsn = os.environ.get("DATABASE_URL") or pg.dsn
    name = f"lt_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(server_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = server_dsn.rsplit("/", 1)[0] + f"/{name}"
    env = {**os.environ, "NATS_URL": nats_server.url, "DATABASE_URL": dsn, "LIENTHONG_CLOCK": "simulated",
           "LIENTHONG_CATALOG": str(CATALOG_PATH), "OTEL_SDK_DISABLED": "true"}  # fmt: skip
    log = open(work / "deadline.log", "wb")  # noqa: SIM115 - closed in finally
    service = subprocess.Popen([sys.executable, "-m", "services.deadline"], cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        nc = await nats.connect(nats_server.url)
        for _ in range(300):
            try:
                await nc.request(subjects.RPC_DEADLINE_EXPLAIN, b"{}", timeout=1)
                break
            except (nats.errors.NoRespondersError, TimeoutError):
                await asyncio.sleep(0.1)
        await nc.close()
        print(f"deadline benchmark: service pid {service.pid}, database {name}, NATS {nats_server.url}")
        return await bench(args, nats_server.url, dsn, service.pid)
    finally:
        service.terminate()
        try:
            service.wait(20)
        except subprocess.TimeoutExpired:
            service.kill()
        log.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        nats_server.stop()
        if pg is not None:
            pg.stop()
        shutil.rmtree(work, ignore_errors=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--open-stages", type=int, default=1_000_000, help="open-stage timers (default 1,000,000)")
    parser.add_argument("--dossiers", type=int, default=1_000_000, help="summary dossiers for the report")
    parser.add_argument("--stages-per-dossier", type=int, default=4)
    parser.add_argument("--fact-dossiers", type=int, default=100_000, help="dossiers x 10 facts stored")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args()
    if args.open_stages < 2 * DUE:
        parser.error(f"--open-stages must be at least {2 * DUE}")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
