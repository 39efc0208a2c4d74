"""Republish from a service's outbox what the JetStream streams no longer have.

PostgreSQL is the system of record: every fact and outbound message a service emitted is a row
of its outbox, kept after publishing (shared/db/outbox.py). If the JetStream store is lost (a
wiped disk, a restore from an old backup, acknowledged writes lost with lazy fsync), the streams
come back empty or short, and the facts that were in them are missing for every consumer that
had not processed them yet, and for any projection rebuilt later.

Each service answers `lt.rpc.{service}.reconcile` for its own outbox (services own their schemas;
`lienthong reconcile` asks them one after the other). For each stream the outbox feeds (LT_EVT,
LT_OUT):
1. note the time (PostgreSQL's clock), then scan the stream's `Nats-Msg-Id` headers (an
   ephemeral headers-only consumer, from `since` when given) into a temporary table;
2. select the outbox rows published before that time whose `msg_id` the stream lacks;
3. republish them with the same `Nats-Msg-Id`, in their original order (`published_at`, `id`:
   the relay publishes a batch in id order with one `published_at`), in pages, pipelined on one
   connection so that the stream stores them in that order.

Only what the stream lacks, not everything: republishing everything would hand every consumer
(ours, and the agencies' and the post's, whose dedupe we do not control) a second copy of each
message older than the stream's 15-minute duplicate window. Rows published while the scan runs
may look missing; they were published minutes ago, so JetStream drops the repeat as a duplicate
(counted as `already_present`), and every consumer's inbox would absorb it anyway.

What no outbox holds is out of reach: inbound messages (`lt.in.*`) accepted by JetStream but not
yet processed when the store was lost, and the post's pickup orders (published directly, the
address is not kept). Postal re-sends its delivery orders itself (services/postal/reconcile.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import nats.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from shared.contracts.streams import STREAMS

log = logging.getLogger(__name__)

SCANNED_STREAMS = ("LT_EVT", "LT_OUT")  # services publish facts and outbound messages, never lt.in.*
PRESENT_TABLE = "reconcile_present"  # temporary, per session: (stream, msg_id) found in the streams
CLOCK_SKEW = timedelta(minutes=10)  # between PostgreSQL's clock and the stream's timestamps, for `since`
PAGE = 500

# A service's own step after the outbox (postal: delivery orders), with the scan's table at hand.
ReconcileHook = Callable[[asyncpg.Connection, "ReconcileRequest"], Awaitable[dict[str, Any]]]


def reconcile_subject(service: str) -> str:
    """`lt.rpc.{service}.reconcile` (extension)."""
    return f"lt.rpc.{service}.reconcile"


@dataclass(frozen=True)
class ReconcileRequest:
    dry_run: bool = False
    since: datetime | None = None  # only outbox rows created since then (and the stream from then)

    @classmethod
    def parse(cls, body: bytes) -> ReconcileRequest:
        obj = json.loads(body or b"{}")
        if not isinstance(obj, dict):
            raise ValueError("the request must be a JSON object")
        unknown = set(obj) - {"dry_run", "since"}
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
        dry_run = obj.get("dry_run", False)
        if not isinstance(dry_run, bool):
            raise ValueError("dry_run: must be true or false")
        since = obj.get("since")
        if since is None:
            return cls(dry_run)
        if not isinstance(since, str):
            raise ValueError("since: must be an ISO 8601 time with its UTC offset")
        parsed = datetime.fromisoformat(since)
        if parsed.tzinfo is None:
            raise ValueError("since: must carry its UTC offset, e.g. 2026-03-02T00:00:00+07:00")
        return cls(dry_run, parsed)


@dataclass
class StreamReport:
    stream: str
    scanned: int = 0  # messages of the stream read (headers only)
    considered: int = 0  # published outbox rows of this stream (since `since`)
    missing: int = 0  # of which the stream had no message with their Nats-Msg-Id
    republished: int = 0  # stored again by JetStream
    already_present: int = 0  # JetStream answered "duplicate" (published during the scan)


@dataclass
class ReconcileReport:
    service: str
    dry_run: bool
    streams: list[StreamReport] = field(default_factory=list)
    unpublished: int = 0  # rows the relay has not published yet (it will)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_reply(self) -> dict[str, Any]:
        return {"ok": True, **asdict(self)}


async def stream_msg_ids(
    js: JetStreamContext, stream: str, since: datetime | None = None, batch: int = 1000
) -> AsyncIterator[list[str]]:
    """The `Nats-Msg-Id` of every message of `stream` up to its last sequence at the call (from
    `since` minus the clock skew allowance when given), in pages, through an ephemeral consumer
    that reads headers only and is deleted afterwards."""
    info = await js.stream_info(stream)
    last = info.state.last_seq
    if info.state.messages == 0:
        return
    name = f"reconcile_{uuid.uuid4().hex[:16]}"
    config = ConsumerConfig(
        name=name,
        filter_subject=info.config.subjects[0],
        ack_policy=AckPolicy.NONE,
        headers_only=True,
        mem_storage=True,
        inactive_threshold=120,
        deliver_policy=DeliverPolicy.BY_START_TIME if since else DeliverPolicy.ALL,
        opt_start_time=(since - CLOCK_SKEW).isoformat() if since else None,
    )
    await js.add_consumer(stream, config)
    sub = await js.pull_subscribe_bind(name, stream)
    try:
        while True:
            try:
                msgs = await sub.fetch(batch, timeout=2)
            except nats.errors.TimeoutError:
                return  # nothing more from the start point
            yield [m.headers["Nats-Msg-Id"] for m in msgs if m.headers and "Nats-Msg-Id" in m.headers]
            if msgs and msgs[-1].metadata.sequence.stream >= last:
                return
    finally:
        await sub.unsubscribe()
        with contextlib.suppress(Exception):
            await js.delete_consumer(stream, name)


def _prefix(stream: str) -> str:
    (config,) = [c for c in STREAMS if c.name == stream]
    return config.subjects[0].rstrip(">")  # lt.evt.> -> lt.evt.


async def reconcile(
    pool: asyncpg.Pool,
    js: JetStreamContext,
    service: str,
    schema: str,
    request: ReconcileRequest,
    hooks: tuple[ReconcileHook, ...] = (),
    publish_timeout: float = 30.0,
) -> ReconcileReport:
    """Scan, compare and republish (see the module); raises `RuntimeError` if one is already running."""
    report = ReconcileReport(service, request.dry_run)
    async with pool.acquire() as conn:
        lock = f"lienthong-reconcile:{schema}"
        if not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", lock):
            raise RuntimeError(f"a reconcile of {service} is already running")
        try:
            await conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {PRESENT_TABLE} (stream text, msg_id text)")
            await conn.execute(f"TRUNCATE {PRESENT_TABLE}")
            cutoff = await conn.fetchval("SELECT clock_timestamp()")
            for stream in SCANNED_STREAMS:
                report.streams.append(await _scan(conn, js, stream, request.since))
            await conn.execute(f"CREATE INDEX IF NOT EXISTS {PRESENT_TABLE}_idx ON {PRESENT_TABLE} (stream, msg_id)")
            await conn.execute(f"ANALYZE {PRESENT_TABLE}")
            for entry in report.streams:
                await _republish(conn, js, schema, entry, cutoff, request, publish_timeout)
            report.unpublished = await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL")
            for hook in hooks:
                report.extra.update(await hook(conn, request))
        finally:
            with contextlib.suppress(Exception):
                await conn.execute(f"DROP TABLE IF EXISTS {PRESENT_TABLE}")
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", lock)
    log.info(
        "reconcile %s%s: %s",
        service,
        " (dry run)" if request.dry_run else "",
        ", ".join(f"{s.stream} missing {s.missing} republished {s.republished}" for s in report.streams),
    )
    return report


async def _scan(conn: asyncpg.Connection, js: JetStreamContext, stream: str, since: datetime | None) -> StreamReport:
    entry = StreamReport(stream)
    try:
        async for ids in stream_msg_ids(js, stream, since):
            entry.scanned += len(ids)
            await conn.copy_records_to_table(PRESENT_TABLE, records=[(stream, i) for i in ids])
    except NotFoundError:
        pass  # no stream at all: everything is missing (the services create it at start)
    return entry


async def _republish(
    conn: asyncpg.Connection,
    js: JetStreamContext,
    schema: str,
    entry: StreamReport,
    cutoff: datetime,
    request: ReconcileRequest,
    timeout: float,
) -> None:
    since = request.since or datetime.min.replace(tzinfo=cutoff.tzinfo)
    rows_of_stream = (
        f"FROM {schema}.outbox o WHERE o.published_at IS NOT NULL AND o.published_at < $1 "
        "AND o.created_at >= $2 AND starts_with(o.subject, $3)"
    )
    missing = f"AND NOT EXISTS (SELECT 1 FROM {PRESENT_TABLE} p WHERE p.stream = $4 AND p.msg_id = o.msg_id)"
    args = (cutoff, since, _prefix(entry.stream), entry.stream)
    entry.considered = await conn.fetchval(f"SELECT count(*) {rows_of_stream}", *args[:3])
    entry.missing = await conn.fetchval(f"SELECT count(*) {rows_of_stream} {missing}", *args)
    if request.dry_run or not entry.missing:
        return
    after: tuple[datetime, int] = (datetime.min.replace(tzinfo=cutoff.tzinfo), 0)
    while True:
        page = await conn.fetch(
            f"SELECT o.id, o.msg_id, o.subject, o.payload, o.published_at {rows_of_stream} {missing} "
            f"AND (o.published_at, o.id) > ($5, $6) ORDER BY o.published_at, o.id LIMIT {PAGE}",
            *args,
            *after,
        )
        if not page:
            return
        acks = await asyncio.gather(
            *(
                js.publish(r["subject"], r["payload"], headers={"Nats-Msg-Id": r["msg_id"]}, timeout=timeout)
                for r in page
            )
        )
        for ack in acks:
            if ack.duplicate:
                entry.already_present += 1
            else:
                entry.republished += 1
        after = (page[-1]["published_at"], page[-1]["id"])


async def streams_created_after_last_publish(
    conn: asyncpg.Connection, js: JetStreamContext, schema: str
) -> list[tuple[str, datetime, datetime]]:
    """(stream, created, last publish) for each stream created after this service last published
    into it: the store was lost or the stream recreated, and `lienthong reconcile` is due."""
    behind = []
    for stream in SCANNED_STREAMS:
        last = await conn.fetchval(
            f"SELECT published_at FROM {schema}.outbox WHERE published_at IS NOT NULL "
            "AND starts_with(subject, $1) ORDER BY id DESC LIMIT 1",
            _prefix(stream),
        )
        if last is None:
            continue
        info = await js.stream_info(stream)
        if info.created is not None and info.created > last:  # (a warning: clock skew may fool it either way)
            behind.append((stream, info.created, last))
    return behind
