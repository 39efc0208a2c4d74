"""shared.messaging.process_batch: a batch is tried in one pass without a savepoint per message;
when a handler asks for a retry or fails, that pass is rolled back whole and the batch applied
again one savepoint per message, so that every message keeps its own outcome."""

from __future__ import annotations

import asyncpg
import pytest

from shared.db.pool import create_pool
from shared.messaging import Inbound, RetryLater, after_commit, process_batch

CONSUMER = "bench-test"


@pytest.fixture
async def pool(database_url: str):
    pool = await create_pool(database_url)
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE routing.batch_probe (key text PRIMARY KEY)")
    yield pool
    await pool.close()


def inbound(key: str) -> Inbound:
    return Inbound(f"lt.evt.test.{key}", b"{}", key, 1)


async def stored(pool: asyncpg.Pool, table: str, column: str = "key") -> list[str]:
    async with pool.acquire() as conn:
        return sorted(r[0] for r in await conn.fetch(f"SELECT {column} FROM routing.{table}"))


async def test_a_clean_batch_is_applied_once_with_its_after_commit_steps(pool):
    calls, done = [], []

    async def handler(conn, message):
        calls.append(message.key)
        await conn.execute("INSERT INTO routing.batch_probe VALUES ($1)", message.key)
        after_commit(lambda: done.append(message.key))

    retries = await process_batch(pool, "routing", CONSUMER, [inbound("a"), inbound("b"), inbound("a")], handler)
    assert retries == {}
    assert calls == ["a", "b"]  # one pass, the duplicate skipped
    assert done == ["a", "b"]
    assert await stored(pool, "batch_probe") == ["a", "b"]


async def test_a_retry_and_a_failure_fall_back_to_one_savepoint_per_message(pool):
    done, finished = [], []

    async def handler(conn, message):
        await conn.execute("INSERT INTO routing.batch_probe VALUES ($1)", message.key)
        after_commit(lambda: done.append(message.key))
        if message.key == "later":
            return RetryLater("not yet", delay=3)
        if message.key == "broken":
            raise ValueError("a bug")
        return None

    async def finish(conn, applied):
        finished.append([m.key for m in applied])

    batch = [inbound("ok1"), inbound("later"), inbound("broken"), inbound("ok2")]
    retries = await process_batch(pool, "routing", CONSUMER, batch, handler, finish)
    assert list(retries) == [1] and retries[1].delay == 3
    assert await stored(pool, "batch_probe") == ["ok1", "ok2"]  # the retry's and the failure's writes undone
    assert await stored(pool, "dead_letters", "msg_key") == ["broken"]
    assert await stored(pool, "inbox", "msg_key") == ["broken", "ok1", "ok2"]  # the retry is not claimed
    assert finished == [["ok1", "ok2"]]  # once, from the pass that committed
    assert done.count("ok1") == 1 and done.count("ok2") == 1  # the rolled-back pass asked nothing


async def test_a_transient_failure_rolls_back_the_whole_batch(pool):
    async def handler(conn, message):
        await conn.execute("INSERT INTO routing.batch_probe VALUES ($1)", message.key)
        if message.key == "b":
            raise OSError("connection reset")

    with pytest.raises(OSError):
        await process_batch(pool, "routing", CONSUMER, [inbound("a"), inbound("b")], handler)
    assert await stored(pool, "batch_probe") == []
    assert await stored(pool, "inbox", "msg_key") == []
