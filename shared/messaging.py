"""The one recipe every consumer follows (STYLE.md), for pulled batches.

For each batch: one transaction; claim every message in the inbox with one statement (a message
already claimed is a duplicate delivery and is skipped); run the service's handler for each new
message, which writes state and outbox rows; commit; then ack. The batch is first tried without a
savepoint per message (the common case, two round trips fewer per message); if a handler asks for
a retry or fails, that pass is rolled back and the batch applied again with each handler in its
own savepoint. A handler that cannot decide yet returns `RetryLater`: its savepoint and inbox
claim are undone and the message is nak'ed with a delay. A handler that raises an unexpected
error has its message dead-lettered with the reason (never a crash loop); a database or
connection failure naks the whole batch.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from nats.aio.msg import Msg

from shared.tracing import messages as message_spans

log = logging.getLogger(__name__)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    TimeoutError,
)


@dataclass(frozen=True)
class Inbound:
    subject: str
    body: bytes
    key: str
    num_delivered: int
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RetryLater:
    reason: str
    delay: float = 1.0


Handler = Callable[[asyncpg.Connection, Inbound], Awaitable["RetryLater | None"]]
# Optional batch-level step, run in the batch's transaction after every handler, with the messages
# the handler applied (not duplicates, retries or dead letters): e.g. one projection per entity touched.
# It must deal with its own per-item failures; an exception from it naks or redelivers the whole batch.
BatchFinish = Callable[[asyncpg.Connection, Sequence[Inbound]], Awaitable[None]]


_after_commit: ContextVar[list[Callable[[], None]] | None] = ContextVar("lienthong_after_commit", default=None)


def after_commit(callback: Callable[[], None]) -> None:
    """Run `callback` once the batch being processed has committed; it is dropped if the batch
    rolls back (e.g. spans that must not describe state that was never stored). Outside a batch,
    it runs at once."""
    pending = _after_commit.get()
    if pending is None:
        callback()
    else:
        pending.append(callback)


def after_commit_mark() -> int:
    """Where the batch's after-commit steps stand; `drop_after_commit(mark)` forgets those asked
    for since (a savepoint of the caller's rolled back, and with it what they would describe)."""
    pending = _after_commit.get()
    return len(pending) if pending is not None else 0


def drop_after_commit(mark: int) -> None:
    pending = _after_commit.get()
    if pending is not None:
        del pending[mark:]


def message_key(subject: str, body: bytes, headers: dict[str, str] | None, fallback: str) -> str:
    """Dedupe key: the envelope's event_id (scoped by the sender's subject token for inbound
    agency messages, so one agency cannot shadow another's ids), else Nats-Msg-Id, else `fallback`."""
    event_id = None
    try:
        obj: Any = json.loads(body)
        if isinstance(obj, dict) and _usable_id(obj.get("event_id")):
            event_id = obj["event_id"]
    except (ValueError, UnicodeDecodeError, RecursionError):
        pass
    if event_id is None:
        header = (headers or {}).get("Nats-Msg-Id")
        event_id = header if _usable_id(header) else fallback
    tokens = subject.split(".")
    if subject.startswith("lt.in.agency.") and len(tokens) >= 4:
        return f"{tokens[3]}/{event_id}"
    if subject.startswith("lt.in."):
        return f"{tokens[2]}/{event_id}"
    return event_id


def _usable_id(value: Any) -> bool:
    """An id the inbox can store: a NUL or a lone surrogate would fail the batch's INSERT on every
    redelivery (a poison message), so such an id is not used as the dedupe key."""
    return (
        isinstance(value, str) and 0 < len(value) <= 128 and not any(unicodedata.category(ch)[0] == "C" for ch in value)
    )


def inbound_from_nats(msg: Msg) -> Inbound:
    try:
        meta = msg.metadata
        num_delivered, fallback = meta.num_delivered, f"seq:{meta.stream}:{meta.sequence.stream}"
    except Exception:  # core NATS message (request/reply): no JetStream metadata
        num_delivered, fallback = 1, f"core:{id(msg)}"
    headers = dict(msg.headers or {})
    return Inbound(msg.subject, msg.data, message_key(msg.subject, msg.data, headers, fallback), num_delivered, headers)


def retry_delay(num_delivered: int) -> float:
    return float(min(2 ** max(num_delivered - 1, 0), 60))


async def dead_letter(conn: asyncpg.Connection, schema: str, consumer: str, inbound: Inbound, reason: str) -> None:
    await conn.execute(
        f"INSERT INTO {schema}.dead_letters (consumer, subject, msg_key, reason, body) VALUES ($1,$2,$3,$4,$5)",
        consumer,
        inbound.subject,
        inbound.key,
        reason,
        inbound.body,
    )


async def process_batch(
    pool: asyncpg.Pool,
    schema: str,
    consumer: str,
    messages: Sequence[Inbound],
    handler: Handler,
    finish: BatchFinish | None = None,
) -> dict[int, RetryLater]:
    """Apply a batch in one transaction. Returns the positions to retry; raises on transient failure."""
    retries: dict[int, RetryLater] = {}
    committed: list[Callable[[], None]] = []
    token = _after_commit.set(committed)
    try:
        await _apply_batch(pool, schema, consumer, messages, handler, finish, retries)
    finally:
        _after_commit.reset(token)
    for callback in committed:
        try:
            callback()
        except Exception:  # the batch is committed: a failing observer must not redeliver it
            log.exception("consumer %s: an after-commit step failed", consumer)
    return retries


class _SlowPath(Exception):
    """Raised inside the optimistic pass to roll it back and apply the batch one savepoint per message."""


async def _apply_batch(
    pool: asyncpg.Pool,
    schema: str,
    consumer: str,
    messages: Sequence[Inbound],
    handler: Handler,
    finish: BatchFinish | None,
    retries: dict[int, RetryLater],
) -> None:
    """Optimistic first: the whole batch in one transaction without a savepoint per message (two
    round trips fewer per message). Should any handler ask for a retry or fail (its writes must
    then be undone alone), that pass is rolled back whole and the batch applied again with a
    savepoint per message, which gives every message its own outcome as before."""
    mark = after_commit_mark()
    async with pool.acquire() as conn:
        try:
            async with conn.transaction():
                await _apply_in(conn, schema, consumer, messages, handler, finish, retries, savepoints=False)
            return
        except _SlowPath:
            retries.clear()
            drop_after_commit(mark)  # what the rolled-back pass asked to do after commit
        async with conn.transaction():
            await _apply_in(conn, schema, consumer, messages, handler, finish, retries, savepoints=True)


async def _apply_in(
    conn: asyncpg.Connection,
    schema: str,
    consumer: str,
    messages: Sequence[Inbound],
    handler: Handler,
    finish: BatchFinish | None,
    retries: dict[int, RetryLater],
    *,
    savepoints: bool,
) -> None:
    claimed = await conn.fetch(
        f"INSERT INTO {schema}.inbox (consumer, msg_key) SELECT $1, k FROM unnest($2::text[]) AS k "
        "ON CONFLICT DO NOTHING RETURNING msg_key",
        consumer,
        [m.key for m in messages],
    )
    fresh = {r["msg_key"] for r in claimed}
    seen: set[str] = set()
    applied: list[Inbound] = []
    spans = []
    for position, inbound in enumerate(messages):
        if inbound.key not in fresh or inbound.key in seen:
            continue
        seen.add(inbound.key)
        span = message_spans.start(consumer, inbound.subject, inbound.body, len(messages))
        try:
            if savepoints:
                outcome = await _in_savepoint(conn, handler, inbound)
            else:
                outcome = await handler(conn, inbound)
        except TRANSIENT_ERRORS:
            message_spans.end(span, "transient_failure")
            raise
        except Exception as exc:
            if not savepoints:
                raise _SlowPath from exc  # the spans of this pass are dropped, never ended
            message_spans.end(span, "dead_letter")
            log.exception("consumer %s: handler failed on %s (key %s)", consumer, inbound.subject, inbound.key)
            await dead_letter(conn, schema, consumer, inbound, f"internal error: {type(exc).__name__}: {exc}")
            continue
        if isinstance(outcome, RetryLater):
            if not savepoints:
                raise _SlowPath
            message_spans.end(span, "retry")
            retries[position] = outcome
        else:
            spans.append((span, time.time_ns() if span is not None else None))
            applied.append(inbound)
    for span, ended in spans:  # only now: a pass rolled back must not export the spans of its messages
        message_spans.end(span, "applied", ended)
    if finish is not None and applied:
        await finish(conn, applied)
    if retries:
        await conn.execute(
            f"DELETE FROM {schema}.inbox WHERE consumer = $1 AND msg_key = ANY($2::text[])",
            consumer,
            [messages[p].key for p in retries],
        )


async def _in_savepoint(conn: asyncpg.Connection, handler: Handler, inbound: Inbound) -> RetryLater | None:
    """The handler in its own savepoint, rolled back when it raises or asks for a retry."""
    savepoint = conn.transaction()
    await savepoint.start()
    try:
        outcome = await handler(conn, inbound)
    except BaseException:
        with contextlib.suppress(Exception):  # a dropped connection: the batch's own failure is the news
            await savepoint.rollback()
        raise
    if isinstance(outcome, RetryLater):
        await savepoint.rollback()
    else:
        await savepoint.commit()
    return outcome


async def consume_nats_batch(
    pool: asyncpg.Pool,
    schema: str,
    consumer: str,
    raw: Sequence[Msg],
    handler: Handler,
    finish: BatchFinish | None = None,
) -> None:
    """Process pulled JetStream messages with `process_batch`, then ack/nak each one."""
    messages = [inbound_from_nats(m) for m in raw]
    try:
        retries = await process_batch(pool, schema, consumer, messages, handler, finish)
    except TRANSIENT_ERRORS as exc:
        log.warning("consumer %s: transient failure (%s); batch of %d will be redelivered", consumer, exc, len(raw))
        for m, inbound in zip(raw, messages, strict=True):
            await m.nak(delay=retry_delay(inbound.num_delivered))
        return
    for position, m in enumerate(raw):
        if position in retries:
            await m.nak(delay=max(retries[position].delay, retry_delay(messages[position].num_delivered)))
        else:
            await m.ack()
