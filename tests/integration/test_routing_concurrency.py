"""Two deciders on one dossier at once never corrupt it: the dossier row is locked for the whole
decision, so the second one waits and decides on the first one's result."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from services.intake.app import build_runtime as build_intake
from services.routing.app import build_runtime as build_routing
from services.routing.handlers import SCHEMA, RoutingHandlers
from services.routing.repository import load_for_update
from shared.catalog import load_catalog
from shared.clock import SystemClock
from shared.db.pool import create_pool
from shared.messaging import Inbound, message_key, process_batch
from tests.harness import CATALOGS, running, settings_for
from tests.integration.test_routing import COMMUNE, act, march, submit
from tests.integration.test_routing_refusals import received_fact
from tests.support import collect, connect, envelope, poll_until

pytestmark = pytest.mark.integration


def inbound(subject: str, body: dict) -> Inbound:
    raw = json.dumps(body).encode()
    return Inbound(subject, raw, message_key(subject, raw, None, body["event_id"]), num_delivered=1)


async def test_two_batches_racing_on_one_dossier_take_turns(database_url: str):
    """The first batch holds its transaction open after deciding; the second, on the same dossier,
    must wait for it and build on its result (without the row lock it would overwrite it)."""
    handlers = RoutingHandlers(load_catalog(CATALOGS / "basic.yaml"), SystemClock())
    pool = await create_pool(database_url)
    code = f"{COMMUNE}-260302-0077"
    try:
        fact = received_fact(code, "received-77")
        await process_batch(
            pool, SCHEMA, "routing-received", [inbound("lt.evt.dossier.received", fact)], handlers.on_received
        )
        pause = envelope("supplement_requested", COMMUNE, march("02T09:00:00"), {}, code, "pause-77")
        apology = envelope(
            "apology_issued",
            COMMUNE,
            march("02T09:30:00"),
            {"new_appointment_at": march("20T08:00:00")},
            code,
            "sorry-77",
        )
        decided = asyncio.Event()

        async def slow(conn, message):
            outcome = await handlers.on_agency_action(conn, message)
            decided.set()
            await asyncio.sleep(0.5)  # still inside the batch's transaction: the row stays locked
            return outcome

        async def second():
            await decided.wait()
            began = asyncio.get_running_loop().time()
            await process_batch(
                pool,
                SCHEMA,
                "routing",
                [inbound(f"lt.in.agency.{COMMUNE.replace('.', '_')}.apology_issued", apology)],
                handlers.on_agency_action,
            )
            return asyncio.get_running_loop().time() - began

        first = process_batch(
            pool,
            SCHEMA,
            "routing",
            [inbound(f"lt.in.agency.{COMMUNE.replace('.', '_')}.supplement_requested", pause)],
            slow,
        )
        _, waited = await asyncio.gather(first, second())
        assert waited >= 0.3  # the second decision waited for the first transaction to commit
        async with pool.acquire() as conn, conn.transaction():
            state = await load_for_update(conn, code)
            rows = await conn.fetch("SELECT payload FROM routing.outbox WHERE dossier_code = $1 ORDER BY id", code)
        assert state.seq == 3 and state.pause is not None and state.apology_issued_at is not None
        assert state.appointment_at.isoformat() == "2026-03-20T08:00:00+07:00"
        facts = [json.loads(r["payload"]) for r in rows]
        assert [(f["type"], f["data"]["seq"]) for f in facts] == [("routed", 1), ("paused", 2), ("rescheduled", 3)]
    finally:
        await pool.close()


async def test_two_routing_instances_never_corrupt_one_dossier(fresh_streams: str, database_url: str):
    """Two runtimes consume the same durables. Competing consumers do not keep a dossier's order,
    so an event may be refused (e.g. a receipt of a pause that was not yet requested), but every
    event is applied or refused exactly once and each dossier's facts stay a gapless sequence that
    matches its stored state."""
    settings = settings_for(fresh_streams, database_url)
    async with running(build_intake, settings), running(build_routing, settings), running(build_routing, settings):
        nc, js = await connect(fresh_streams)
        facts = await collect(nc, "lt.evt.dossier.>")
        out = await collect(nc, "lt.out.>")
        codes = [await submit(nc, procedure="9.000002") for _ in range(20)]
        await poll_until(lambda: len(facts.of(".routed")) == 20, message="20 routed")
        for code in codes:  # forward (the next stage is the same agency: received at once), pause, resume
            await act(js, COMMUNE, "stage_completed", code, march("02T09:00:00"), outcome="forward")
            await act(js, COMMUNE, "supplement_requested", code, march("02T10:00:00"))
            await act(js, COMMUNE, "supplement_received", code, march("03T10:00:00"))

        def accounted() -> int:
            applied = len(facts.of(".stage_completed")) + len(facts.of(".paused")) + len(facts.of(".resumed"))
            return applied + len(out.of(".input_rejected"))

        await poll_until(lambda: accounted() == 60, timeout=60, message="every event applied or refused")
        await asyncio.sleep(0.5)
        assert accounted() == 60  # and nothing twice
        db = await asyncpg.connect(database_url)
        try:
            stored = {r["code"]: r["seq"] for r in await db.fetch("SELECT code, seq FROM routing.dossiers")}
        finally:
            await db.close()
        for code in codes:
            seqs = sorted(
                b["data"]["seq"] for _, b in facts.messages if b["dossier_code"] == code and "seq" in b["data"]
            )
            assert seqs == list(range(1, len(seqs) + 1)), (code, seqs)
            assert stored[code] == seqs[-1]
        await nc.close()
