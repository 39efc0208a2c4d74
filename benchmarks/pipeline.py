"""The whole pipeline under load: intake, routing, deadline and postal as four processes
(`python -m services.X`) on a private nats-server and a fresh database, driven by the simulator's
load mode (shared/sim/load.py), every event persisted through the inbox/outbox recipe.

Each run starts from empty streams and an empty database, so that runs do not slow each other:
- `capacity(tracing=...)`: N dossiers (8 inbound events each) flat out; events/s from the first
  publish to every consumer idle;
- `latency(rate=...)`: the same load paced at a fixed rate of inbound events; p50/p99 of each
  inbound event's latency to the first fact it causes;
- `replay()`: after a capacity run, the deadline service alone on a fresh database and a fresh
  durable consumer rebuilds its projections from every fact recorded in LT_EVT.

Tracing on = the standard OTEL_* variables pointing the services' OTLP/HTTP exporters at a sink
process (benchmarks/otlp_sink.py) that accepts every export; tracing off = OTEL_SDK_DISABLED.

    python -m benchmarks.pipeline --dossiers 1000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import nats

from shared import devenv
from shared.demo import reset_streams, start_service, wait_started
from shared.sim.load import EVENTS_PER_DOSSIER, LoadResult, percentile, run_load

ROOT = Path(__file__).resolve().parents[1]
CATALOG_PATH = ROOT / "tests" / "catalogs" / "basic.yaml"
SERVICES = ("intake", "routing", "deadline", "postal")


@dataclass
class Servers:
    nats_url: str
    server_dsn: str  # the PostgreSQL server; each run gets its own database on it
    work: Path


@contextlib.asynccontextmanager
async def servers(prefix: str = "lt-bench-") -> AsyncIterator[Servers]:
    """A private nats-server and, when DATABASE_URL is unset, an embedded PostgreSQL."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    nats_server = devenv.start_nats(work / "nats")
    pg = None if os.environ.get("DATABASE_URL") else devenv.start_postgres(work / "pg")
    failed = True
    try:
        yield Servers(nats_server.url, os.environ.get("DATABASE_URL") or pg.dsn, work)
        failed = False
    finally:
        nats_server.stop()
        if pg is not None:
            pg.stop()
        if failed:
            print(f"benchmark failed: the services' logs are kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


@contextlib.asynccontextmanager
async def fresh_database(server_dsn: str) -> AsyncIterator[str]:
    name = f"lt_bench_{uuid.uuid4().hex[:10]}"
    url = await devenv.create_database(server_dsn, name)
    try:
        yield url
    finally:
        admin = await asyncpg.connect(server_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


class OtlpSink:
    """benchmarks/otlp_sink.py as a child process."""

    def __init__(self, work: Path) -> None:
        self.port_file = work / f"otlp-sink-{uuid.uuid4().hex[:6]}.port"
        self.proc = subprocess.Popen([sys.executable, "-m", "benchmarks.otlp_sink", str(self.port_file)], cwd=ROOT)
        for _ in range(200):
            if self.port_file.exists() and self.port_file.read_text().strip():
                break
            time.sleep(0.05)
        self.endpoint = f"http://127.0.0.1:{self.port_file.read_text().strip()}"

    def stop(self) -> tuple[int, int]:
        self.proc.terminate()
        self.proc.wait(10)
        counts = self.port_file.with_suffix(".counts")
        requests, size = (int(x) for x in counts.read_text().split()) if counts.exists() else (0, 0)
        return requests, size


def service_env(nats_url: str, database_url: str, otlp_endpoint: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(NATS_URL=nats_url, DATABASE_URL=database_url, LIENTHONG_CATALOG=str(CATALOG_PATH),
               LIENTHONG_CLOCK="simulated", PYTHONUNBUFFERED="1")  # fmt: skip
    if otlp_endpoint is None:
        env["OTEL_SDK_DISABLED"] = "true"
    else:
        env.update(OTEL_TRACES_EXPORTER="otlp", OTEL_EXPORTER_OTLP_ENDPOINT=otlp_endpoint,
                   OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf", OTEL_METRICS_EXPORTER="none",
                   OTEL_LOGS_EXPORTER="none")  # fmt: skip
    return env


class Services:
    def __init__(self, env: dict[str, str], work: Path, names: tuple[str, ...] = SERVICES) -> None:
        log_dir = Path(tempfile.mkdtemp(prefix="services-", dir=work))  # one per run: the logs of each kept apart
        self.procs: dict[str, subprocess.Popen] = {name: start_service(name, env, log_dir) for name in names}
        try:
            wait_started(self.procs, log_dir)
        except RuntimeError:
            self.stop()
            raise

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) each service process has used so far."""
        return {name: devenv.cpu_seconds(proc.pid) for name, proc in self.procs.items()}

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@dataclass
class RunFigures:
    load: LoadResult
    spans_requests: int = 0
    spans_bytes: int = 0
    replay_facts: int = 0
    replay_seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds of each service during the load
    replay_cpu: float = 0.0

    @property
    def cpu_ms_per_event(self) -> float:
        return 1000 * sum(self.cpu.values()) / self.load.events

    @property
    def replay_cpu_ms_per_fact(self) -> float:
        return 1000 * self.replay_cpu / self.replay_facts if self.replay_facts else float("nan")

    @property
    def replay_rate(self) -> float:
        return self.replay_facts / self.replay_seconds if self.replay_seconds else float("nan")


async def pipeline_run(
    srv: Servers, dossiers: int, *, tracing: bool, rate: float | None = None, replay: bool = False
) -> RunFigures:
    """One run on empty streams and a fresh database; `rate` in inbound events/s (None: flat out)."""
    await reset_streams(srv.nats_url)
    sink = OtlpSink(srv.work) if tracing else None
    async with fresh_database(srv.server_dsn) as dsn:
        services = Services(service_env(srv.nats_url, dsn, sink.endpoint if sink else None), srv.work)
        try:
            nc = await nats.connect(srv.nats_url)
            idle = services.cpu_seconds()
            try:
                load = await run_load(nc, dossiers, rate=rate / EVENTS_PER_DOSSIER if rate else None)
            finally:
                await nc.close()
            cpu = {name: used - idle[name] for name, used in services.cpu_seconds().items()}
            check = await asyncpg.connect(dsn)
            try:
                returned = await check.fetchval("SELECT count(*) FROM routing.dossiers WHERE status = 10")
                dead = sum([await check.fetchval(f"SELECT count(*) FROM {s}.dead_letters") for s in SERVICES])
            finally:
                await check.close()
            if returned != dossiers or dead:
                raise RuntimeError(f"the pipeline went wrong: {returned}/{dossiers} returned, {dead} dead letters "
                                   f"(logs in {srv.work})")  # fmt: skip
        finally:
            services.stop()
            spans = sink.stop() if sink else (0, 0)
        figures = RunFigures(load, *spans, cpu=cpu)
    if replay:
        figures.replay_facts, figures.replay_seconds, figures.replay_cpu = await replay_deadline(srv)
    return figures


async def replay_deadline(srv: Servers, consumer: str = "deadline") -> tuple[int, float, float]:
    """The deadline service alone, on a fresh database and a fresh durable consumer, rebuilds its
    projections from every fact in LT_EVT (tracing off: a rebuild exports no spans). Returns the
    facts, the seconds from its first batch's transaction to its consumer being caught up, and the
    CPU seconds the service used meanwhile."""
    nc = await nats.connect(srv.nats_url)
    js = nc.jetstream()
    try:
        facts = (await js.stream_info("LT_EVT")).state.messages
        await js.delete_consumer("LT_EVT", consumer)
        async with fresh_database(srv.server_dsn) as dsn:
            services = Services(service_env(srv.nats_url, dsn, None), srv.work, ("deadline",))
            started = services.cpu_seconds()["deadline"]
            db = await asyncpg.connect(dsn)
            try:
                deadline = time.monotonic() + 60 + facts / 100
                while True:
                    info = await js.consumer_info("LT_EVT", consumer)
                    if info.num_pending == 0 and info.num_ack_pending == 0 and info.delivered.stream_seq > 0:
                        break
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"replay: {info.num_pending} facts still pending")
                    await asyncio.sleep(0.02)
                seconds = await db.fetchval(
                    "SELECT extract(epoch FROM clock_timestamp() - min(processed_at))::float8 FROM deadline.inbox "
                    "WHERE consumer = $1",
                    consumer,
                )
                applied = await db.fetchval("SELECT count(*) FROM deadline.inbox WHERE consumer = $1", consumer)
                cpu = services.cpu_seconds()["deadline"] - started
            finally:
                await db.close()
                services.stop()
        if applied != facts:
            raise RuntimeError(f"replay: {applied} of {facts} facts applied")
        return facts, seconds, cpu
    finally:
        await nc.close()


def describe(label: str, figures: RunFigures) -> str:
    load = figures.load
    lat = load.latencies_ms
    return (f"{label}: {load.dossiers:,} dossiers, {load.events:,} inbound events ({load.mean_payload} B mean) in "
            f"{load.seconds:.2f} s = {load.rate:,.0f} events/s; {load.facts_seen:,} facts; "
            f"latency p50 {percentile(lat, 0.5):.0f} ms p99 {percentile(lat, 0.99):.0f} ms; services' CPU "
            f"{figures.cpu_ms_per_event:.1f} ms/event ("
            + ", ".join(f"{k} {1000 * v / load.events:.1f}" for k, v in figures.cpu.items()) + ")"
            + (f"; {figures.spans_requests} OTLP exports, {figures.spans_bytes / 1e6:.1f} MB"
               if figures.spans_requests else ""))  # fmt: skip


async def _main(args: argparse.Namespace) -> None:
    async with servers() as srv:
        figures = await pipeline_run(srv, args.dossiers, tracing=args.tracing, rate=args.rate, replay=args.replay)
        print(describe("pipeline", figures))
        if args.replay:
            print(f"replay: {figures.replay_facts:,} facts in {figures.replay_seconds:.2f} s = "
                  f"{figures.replay_rate:,.0f} facts/s, {figures.replay_cpu_ms_per_fact:.2f} ms CPU/fact")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dossiers", type=int, default=1000)
    parser.add_argument("--tracing", action="store_true")
    parser.add_argument("--rate", type=float, default=None, help="inbound events/s (default: flat out)")
    parser.add_argument("--replay", action="store_true")
    asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
