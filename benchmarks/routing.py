"""Throughput of the routing service with its persistence, against the raw transport.

    python -m benchmarks.routing --events 5000

Runs `python -m services.routing` as its own process on a private nats-server and a fresh
database on DATABASE_URL's server (an embedded PostgreSQL when it is unset). Every dossier of
the tests' catalog procedure 9.000001 (commune -> district -> province -> commune) gets its
`dossier.received` fact and then the seven agency events of its whole route, each applied in
routing's inbox/outbox recipe (lock, decide, state + control slip + outbox in one transaction,
ack after commit, facts published by the relay). The events are published before the service
starts, so only routing is timed: from the first batch's transaction to the last fact's PubAck,
read from the database's own timestamps. Phase 1 (received -> routed) runs before phase 2 (the
agency events), because an agency event that overtakes its dossier is deliberately retried later.

The same run then measures raw nats-py `fetch` + `ack` of as many messages of the agency events'
average size on the same server (benchmarks.transport), and prints the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import nats

from benchmarks.transport import raw_pull_rate
from shared import devenv
from shared.contracts import subjects
from shared.contracts.streams import ensure_streams
from shared.db.migrate import migrate
from shared.sim.load import COMMUNE, PROCEDURE, ROUTE  # the same three-level route as the pipeline's load

ROOT = Path(__file__).resolve().parents[1]
CATALOG_PATH = ROOT / "tests" / "catalogs" / "basic.yaml"
MESSAGES_PER_ROUTE = 15  # facts and assignments the seven events produce


def march(text: str) -> str:
    return f"2026-03-{text}+07:00"


def envelope(type_: str, agency: str, occurred_at: str, code: str, data: dict) -> dict:
    return {
        "event_id": str(uuid.uuid4()),
        "type": type_,
        "schema_version": 1,
        "occurred_at": occurred_at,
        "agency": agency,
        "dossier_code": code,
        "data": data,
    }


def received_fact(code: str, index: int) -> tuple[str, dict]:
    data = {
        "procedure": PROCEDURE,
        "receiving_agency": COMMUNE,
        "channel": "counter",
        "return_method": "counter",
        "received_at": march("02T08:00:00"),
        "counting_from": march("02T08:00:00"),
        "appointment_at": march("16T08:00:00"),
        "total_working_days": 10,
        "external_ref": f"bench-{index}",
    }
    return subjects.fact("dossier", "received"), envelope("received", COMMUNE, march("02T08:00:00"), code, data)


def route_events(codes: list[str]) -> list[tuple[str, dict]]:
    """Step-major: every dossier's first event, then every dossier's second, ..."""
    return [
        (subjects.in_agency(agency, action), envelope(action, agency, march(when), code, data))
        for agency, action, when, data in ROUTE
        for code in codes
    ]


async def publish_all(js, messages: list[tuple[str, dict]], chunk: int = 500) -> int:
    """Publish with bounded concurrency; returns the payload bytes."""
    size = 0
    for start in range(0, len(messages), chunk):
        payloads = [
            (s, json.dumps(b, ensure_ascii=False).encode(), b["event_id"]) for s, b in messages[start : start + chunk]
        ]
        size += sum(len(p) for _, p, _ in payloads)
        await asyncio.gather(*(js.publish(s, p, headers={"Nats-Msg-Id": i}) for s, p, i in payloads))
    return size


class RoutingProcess:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env, self.log_path = env, log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed with it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.routing"], cwd=ROOT, env=self.env, stdout=log, stderr=log
        )
        log.close()

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


async def wait_for_phase(db: asyncpg.Connection, consumer: str, inbound: int, outbound: int, timeout: float) -> float:
    """Seconds from the phase's first transaction to its last published message (database clock)."""
    deadline = time.monotonic() + timeout
    while True:
        claimed = await db.fetchval("SELECT count(*) FROM routing.inbox WHERE consumer = $1", consumer)
        published = await db.fetchval("SELECT count(*) FROM routing.outbox WHERE published_at IS NOT NULL")
        if claimed >= inbound and published >= outbound:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{consumer}: {claimed}/{inbound} events in, {published}/{outbound} messages out")
        await asyncio.sleep(0.2)
    return await db.fetchval(
        "SELECT extract(epoch FROM (SELECT max(published_at) FROM routing.outbox) - "
        "(SELECT min(processed_at) FROM routing.inbox WHERE consumer = $1))::float8",
        consumer,
    )


async def bench(events: int, nats_url: str, dsn: str, work: Path) -> None:
    dossiers = max(1, events // (len(ROUTE) + 1))
    codes = [f"{COMMUNE}-260302-{i:05d}" for i in range(1, dossiers + 1)]
    env = {
        **os.environ,
        "NATS_URL": nats_url,
        "DATABASE_URL": dsn,
        "LIENTHONG_CATALOG": str(CATALOG_PATH),
        "OTEL_SDK_DISABLED": "true",
    }
    service = RoutingProcess(env, work / "routing.log")
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    db = await asyncpg.connect(dsn)
    try:
        await ensure_streams(js)
        await migrate(db, "routing", ROOT / "services" / "routing" / "migrations")  # the service would too
        await publish_all(js, [received_fact(code, i) for i, code in enumerate(codes)])
        service.start()
        routed = await wait_for_phase(db, "routing-received", dossiers, dossiers, timeout=120 + dossiers / 50)
        service.stop()
        route = route_events(codes)
        size = await publish_all(js, route)
        service.start()
        moved = await wait_for_phase(
            db, "routing", len(route), dossiers * (1 + MESSAGES_PER_ROUTE), timeout=120 + len(route) / 50
        )
        service.stop()
        returned = await db.fetchval("SELECT count(*) FROM routing.dossiers WHERE status = 10")
        refused = await db.fetchval("SELECT count(*) FROM routing.outbox WHERE subject LIKE '%.input_rejected'")
        if returned != dossiers or refused:
            raise RuntimeError(f"routing went wrong: {returned}/{dossiers} returned, {refused} refusals ({work})")
        total = dossiers + len(route)
        rate, rate_a, rate_b = total / (routed + moved), dossiers / routed, len(route) / moved
        payload = size // len(route)
        raw = await raw_pull_rate(nats_url, len(route), payload)
        print(f"routing benchmark: {dossiers:,} dossiers, {total:,} events, whole route of procedure {PROCEDURE}")
        print(f"• received -> routed:         {dossiers:>7,} events in {routed:6.2f} s = {rate_a:8,.0f} events/s")
        print(f"• agency events along routes: {len(route):>7,} events in {moved:6.2f} s = {rate_b:8,.0f} events/s")
        print(f"• routing with persistence:   {total:>7,} events in {routed + moved:6.2f} s = {rate:8,.0f} events/s")
        print(f"• raw nats-py fetch + ack of {payload} B messages, same server: {raw:8,.0f} msg/s")
        print(f"• ratio routing / raw transport: {rate / raw:.3f} ({raw / rate:.1f}x slower than the transport alone)")
    finally:
        service.stop()
        await db.close()
        await nc.close()


async def run(events: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="lt-bench-routing-"))
    nats_server = devenv.start_nats(work / "nats")
    pg = None if os.environ.get("DATABASE_URL") else devenv.start_postgres(work / "pg")
    server_dsn = os.environ.get("DATABASE_URL") or pg.dsn
    name = f"lt_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(server_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        await bench(events, nats_server.url, server_dsn.rsplit("/", 1)[0] + f"/{name}", work)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        nats_server.stop()
        if pg is not None:
            pg.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5000, help="events through routing (8 per dossier)")
    args = parser.parse_args(argv)
    if args.events < len(ROUTE) + 1:
        parser.error(f"--events must be at least {len(ROUTE) + 1} (one dossier)")
    asyncio.run(run(args.events))


if __name__ == "__main__":
    main()
