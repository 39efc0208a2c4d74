"""Postal's handlers against the real NATS and PostgreSQL, where a batch can roll back after the
pickup order went out, and the delivery dispatcher when intake cannot give the address."""

from __future__ import annotations

import json
from datetime import datetime

import nats
import pytest

from services.postal import dispatcher
from services.postal.handlers import PostalHandlers
from shared.catalog import load_catalog
from shared.clock import ManualClock
from shared.contracts import subjects
from shared.contracts.streams import ensure_streams
from shared.db.pool import create_pool
from shared.messaging import Inbound, message_key, process_batch
from tests.conftest import ROOT
from tests.support import collect, envelope, poll_until

pytestmark = pytest.mark.integration

COMMUNE = "T01.00.01.X99"
NOW = datetime.fromisoformat("2026-03-02T09:00:00+07:00")


@pytest.fixture
async def postal(fresh_streams: str, database_url: str):
    pool = await create_pool(database_url)
    nc = await nats.connect(fresh_streams)
    js = nc.jetstream()
    await ensure_streams(js)
    handlers = PostalHandlers(load_catalog(ROOT / "tests" / "catalogs" / "basic.yaml"), ManualClock(NOW), 2)
    handlers.js, handlers.pool = js, pool
    yield handlers, pool, nc, js
    await nc.close()
    await pool.close()


def pickup_request(ref: str) -> Inbound:
    subject = subjects.in_agency(COMMUNE, "pickup_requested")
    data = {"procedure": "9.000003", "external_ref": ref, "pickup_address": {"line": "Số 5 Ngõ Thử"}}
    body = json.dumps(envelope("pickup_requested", COMMUNE, "2026-03-02T08:00:00+07:00", data)).encode()
    return Inbound(subject, body, message_key(subject, body, None, "seq:1"), 1)


async def test_a_pickup_request_redelivered_after_a_rollback_sends_the_very_same_order(postal):
    handlers, pool, nc, js = postal
    on_the_wire = await collect(nc, subjects.out_postal("pickup_order"))
    request = pickup_request("ref-rollback")

    async def then_the_connection_drops(conn, inbound):
        await handlers.on_pickup_requested(conn, inbound)
        raise OSError("connection lost before commit")

    with pytest.raises(OSError):
        await process_batch(pool, "postal", "postal-pickup", [request], then_the_connection_drops)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM postal.shipments") == 0  # rolled back
    await process_batch(pool, "postal", "postal-pickup", [request], handlers.on_pickup_requested)

    await poll_until(lambda: len(on_the_wire.messages) == 2, message="both publishes")
    first, again = (body for _, body in on_the_wire.messages)
    assert first == again  # same event id, same waybill: JetStream keeps one
    stored = await js.get_last_msg("LT_OUT", subjects.out_postal("pickup_order"))
    assert json.loads(stored.data) == first and stored.seq == 1
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT waybill, direction, state, external_ref FROM postal.shipments")
    assert [tuple(r) for r in rows] == [(first["data"]["waybill"], "pickup", "ordered", "ref-rollback")]


async def test_a_delivery_order_intake_cannot_address_waits_with_a_growing_delay(postal):
    handlers, pool, nc, js = postal
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO postal.shipments (waybill, direction, dossier_code, agency, state, order_pending, "
            "created_at, ordered_at) "
            "VALUES ('LT000000019VN', 'delivery', 'T01.00.01.X99-260302-0001', $1, 'ordered', true, $2, $2)",
            COMMUNE,
            NOW,
        )
    replies = []

    async def intake(msg) -> None:  # intake as it answers for a dossier it does not know
        replies.append(msg.data)
        await msg.respond(json.dumps({"ok": False, "error": "unknown dossier 'T01.00.01.X99-260302-0001'"}).encode())

    await nc.subscribe(subjects.RPC_INTAKE_DELIVERY_ADDRESS, cb=intake)
    assert await dispatcher.dispatch_once(pool, nc, js) == 0
    assert await dispatcher.dispatch_once(pool, nc, js) == 0  # not asked again before its delay
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT order_pending, dispatch_failures, dispatch_after > now() AS waiting FROM postal.shipments"
        )
    assert (tuple(row), len(replies)) == ((True, 1, True), 1)
    assert [dispatcher.retry_in_seconds(n) for n in (0, 1, 5, 20)] == [1.0, 2.0, 32.0, 300.0]
