"""Transactional outbox: rows written in the same transaction as the state they announce,
published to JetStream by a relay only after commit, with `Nats-Msg-Id` for dedupe.

A row is marked published only after JetStream acknowledged it, so a crash between publish
and mark republishes it, and the stream's duplicate window (and every consumer's inbox) absorbs
the repeat.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import asyncpg
from nats.js import JetStreamContext

from shared.contracts.envelope import OutMessage

log = logging.getLogger(__name__)

__all__ = ["OutMessage", "OutboxRelay", "enqueue"]


async def enqueue(conn: asyncpg.Connection, schema: str, messages: Sequence[OutMessage]) -> None:
    if not messages:
        return
    # One round trip: a data-modifying WITH always runs to completion, and the relay's wake-up
    # (NOTIFY, delivered at commit, once per transaction however often it is sent) rides along.
    await conn.execute(
        f"WITH rows AS (INSERT INTO {schema}.outbox (msg_id, subject, payload, dossier_code) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[]) RETURNING 1) "
        f"SELECT pg_notify('{schema}_outbox', '')",
        [m.msg_id for m in messages],
        [m.subject for m in messages],
        [m.payload for m in messages],
        [m.dossier_code for m in messages],
    )


class OutboxRelay:
    """Publishes committed outbox rows of one schema; woken by NOTIFY, polling as a fallback."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        js: JetStreamContext,
        schema: str,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        publish_timeout: float = 10.0,
    ) -> None:
        self._pool, self._js, self._schema = pool, js, schema
        self._batch_size, self._poll_interval, self._timeout = batch_size, poll_interval, publish_timeout
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._on_notify = lambda *_: self._wake.set()
        self.published = 0

    async def run(self) -> None:
        backoff = 0.5
        while True:
            try:
                await self._listen()
                while await self.drain_once():
                    pass
                backoff = 0.5
                try:
                    await asyncio.wait_for(self._wake.wait(), self._poll_interval)
                except TimeoutError:
                    pass
                self._wake.clear()
            except asyncio.CancelledError:
                await self._close_listener()
                raise
            except Exception as exc:  # transient: database or NATS away; keep rows, retry
                log.warning("outbox relay %s: %s; retrying in %.1fs", self._schema, exc, backoff)
                await self._close_listener()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def drain_once(self) -> int:
        """Publish one batch of unpublished rows; returns how many were published."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"SELECT id, msg_id, subject, payload FROM {self._schema}.outbox "
                "WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self._batch_size,
            )
            if not rows:
                return 0
            await asyncio.gather(
                *(
                    self._js.publish(
                        r["subject"], r["payload"], timeout=self._timeout, headers={"Nats-Msg-Id": r["msg_id"]}
                    )
                    for r in rows
                )
            )
            await conn.execute(
                f"UPDATE {self._schema}.outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                [r["id"] for r in rows],
            )
        self.published += len(rows)
        return len(rows)

    async def _listen(self) -> None:
        if self._listener is not None and not _usable(self._listener):
            self._listener = None  # its connection died (a database restart): the pool took it back
        if self._listener is None:
            self._listener = await self._pool.acquire()
            await self._listener.add_listener(f"{self._schema}_outbox", self._on_notify)

    async def _close_listener(self) -> None:
        if self._listener is not None:
            conn, self._listener = self._listener, None
            try:
                await conn.remove_listener(f"{self._schema}_outbox", self._on_notify)
            except Exception:
                pass
            try:
                await self._pool.release(conn)
            except Exception:
                pass


def _usable(conn: asyncpg.Connection) -> bool:
    """False once the connection is closed, or released by the pool after its connection was lost
    (asyncpg then refuses every call on it, `is_closed()` included)."""
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:
        return False
