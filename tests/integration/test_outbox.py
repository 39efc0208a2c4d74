"""The outbox relay (shared/db/outbox.py) against a real nats-server: a row stays unpublished
until JetStream acknowledged it, is published once when the stream is back, is kept afterwards
(reconcile republishes from it), and a repeat after a crash is dropped by JetStream's dedupe."""

from __future__ import annotations

import asyncpg
import nats
import pytest

from shared.contracts.envelope import OutMessage
from shared.contracts.streams import ensure_streams
from shared.db.outbox import OutboxRelay, _usable, enqueue
from shared.db.pool import create_pool
from tests.support import connect

pytestmark = pytest.mark.integration

SUBJECT = "lt.evt.dossier.outbox_test"


async def rows(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT msg_id, published_at FROM routing.outbox ORDER BY id")


async def test_a_row_stays_until_jetstream_acknowledges_it_and_is_kept_after(fresh_streams, database_url) -> None:
    pool = await create_pool(database_url)
    nc, js = await connect(fresh_streams)
    try:
        async with pool.acquire() as conn:
            await enqueue(conn, "routing", [OutMessage(SUBJECT, b'{"n": 1}', "outbox-1", "X-1")])
        relay = OutboxRelay(pool, js, "routing", publish_timeout=0.5)
        with pytest.raises((nats.js.errors.NoStreamResponseError, nats.errors.TimeoutError)):  # no stream: no PubAck
            await relay.drain_once()
        assert [(r["msg_id"], r["published_at"]) for r in await rows(pool)] == [("outbox-1", None)]

        await ensure_streams(js)  # the stream is back
        assert await relay.drain_once() == 1
        assert await relay.drain_once() == 0
        (row,) = await rows(pool)
        assert row["msg_id"] == "outbox-1" and row["published_at"] is not None  # kept, marked
        stored = await js.get_last_msg("LT_EVT", SUBJECT)
        assert stored.headers["Nats-Msg-Id"] == "outbox-1" and stored.data == b'{"n": 1}'
    finally:
        await nc.close()
        await pool.close()


async def test_a_publish_repeated_after_a_crash_is_stored_once(fresh_streams, database_url) -> None:
    """The relay crashed after JetStream stored the message and before the row was marked: the
    next relay publishes it again under the same Nats-Msg-Id, and JetStream keeps one copy."""
    pool = await create_pool(database_url)
    nc, js = await connect(fresh_streams)
    try:
        await ensure_streams(js)
        async with pool.acquire() as conn:
            await enqueue(conn, "routing", [OutMessage(SUBJECT, b"{}", "outbox-2", "X-2")])
        await js.publish(SUBJECT, b"{}", headers={"Nats-Msg-Id": "outbox-2"})  # the publish before the crash
        assert await OutboxRelay(pool, js, "routing").drain_once() == 1
        assert (await js.stream_info("LT_EVT")).state.messages == 1
        assert (await rows(pool))[0]["published_at"] is not None
    finally:
        await nc.close()
        await pool.close()


async def test_a_listen_connection_the_pool_took_back_is_not_used_again(database_url) -> None:
    """After a database crash asyncpg's pool takes back the relay's LISTEN connection, and every
    call on it raises, `is_closed()` included: the relay used to fail a whole round on it (seen in
    the fault tests, tests/faults/) before acquiring a new one."""
    pool = await create_pool(database_url)
    try:
        conn = await pool.acquire()
        assert _usable(conn)
        await pool.release(conn)
        assert not _usable(conn)
    finally:
        await pool.close()
