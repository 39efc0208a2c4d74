"""A wiped JetStream store is recoverable from PostgreSQL (issue 9, item 2).

Dossiers run through the four services on a private nats-server (the shipped durability config,
a fixed port and store directory). The deadline service is stopped halfway, so that facts pile
up it has not read; the post leaves one delivery order unanswered. Then nats-server is stopped,
its store directory deleted and the server started again on the same port; the services are
restarted, see that the streams are younger than their outboxes (a warning), and
`lienthong reconcile` (the services' `lt.rpc.{service}.reconcile`) republishes what the streams
lack: every outbox row comes back once, with its `Nats-Msg-Id`, in its order; the deadline
service catches up; postal re-sends the lost delivery order under its id; the dossiers then run
to their end; and a fresh deadline projection replaying the recovered stream gives the same
explanations and report as the service that lived through it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import nats
import pytest

from services.deadline.app import build_runtime as build_deadline
from services.intake.app import build_runtime as build_intake
from services.postal.app import build_runtime as build_postal
from services.routing.app import build_runtime as build_routing
from shared import devenv
from shared.contracts import subjects
from shared.reconcile import SCANNED_STREAMS, reconcile_subject, stream_msg_ids
from shared.reconcile.cli import ORDER, ask_services, format_replies
from tests.conftest import database_dsn
from tests.factories import submitted_data
from tests.harness import running, settings_for
from tests.support import envelope, poll_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
DURABLE_CONF = ROOT / "infra" / "nats" / "nats-server.conf"
COMMUNE, LABOUR = "T01.00.01.X99", "T01.31.00.X99"
PROVINCE_DEPT = "T00.05.00.X99"
BUILD = {"intake": build_intake, "routing": build_routing, "deadline": build_deadline, "postal": build_postal}


def march(text: str) -> str:
    return f"2026-03-{text}+07:00"


class Desk:
    """The agencies and the post, over a plain connection (no authorisation in this test)."""

    def __init__(self, nc, db: asyncpg.Connection) -> None:
        self.nc, self.js, self.db = nc, nc.jetstream(), db
        self.orders: list[dict] = []

    async def watch_orders(self) -> None:
        async def keep(msg) -> None:
            self.orders.append(json.loads(msg.data))

        await self.nc.subscribe(subjects.out_postal("delivery_order"), cb=keep)

    async def submit(self, when: str, procedure: str, **extra) -> str:
        body = envelope("submitted", COMMUNE, march(when), submitted_data(procedure, **extra))
        reply = json.loads((await self.nc.request(subjects.RPC_INTAKE_SUBMIT, json.dumps(body).encode(), 15)).data)
        assert reply["ok"], reply
        await self.moved(reply["dossier_code"], 0)  # routed
        return reply["dossier_code"]

    async def act(self, agency: str, action: str, code: str, when: str, **data) -> None:
        """Publish an agency's action and wait until routing has applied it."""
        before = await self.seq(code)
        body = envelope(action, agency, march(when), data, dossier_code=code)
        await self.js.publish(
            subjects.in_agency(agency, action), json.dumps(body).encode(), headers={"Nats-Msg-Id": body["event_id"]}
        )
        await self.moved(code, before)

    async def ship(self, waybill: str, statuses: list[tuple[str, str]]) -> None:
        for status, when in statuses:
            data = {"waybill": waybill, "status": status, "at": march(when)}
            body = envelope("shipment_status", None, march(when), data)
            await self.js.publish(subjects.in_postal("shipment_status"), json.dumps(body).encode())

    async def seq(self, code: str) -> int:
        return await self.db.fetchval("SELECT seq FROM routing.dossiers WHERE code = $1", code) or 0

    async def moved(self, code: str, beyond: int) -> None:
        async def reached() -> bool:
            return await self.seq(code) > beyond

        await poll_until(reached, timeout=30, message=f"{code} beyond fact {beyond}")

    async def closed(self, code: str) -> bool:
        return await self.db.fetchval("SELECT sub_state FROM routing.dossiers WHERE code = $1", code) == "closed"

    async def order_for(self, code: str, count: int = 1) -> dict:
        found = await poll_until(
            lambda: [o for o in self.orders if o["dossier_code"] == code][count - 1 :],
            timeout=30,
            message=f"delivery order {count} of {code}",
        )
        return found[0]


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.asynccontextmanager
async def services(nats_url: str, database_url: str, names=tuple(BUILD)) -> AsyncIterator[dict[str, Any]]:
    async with contextlib.AsyncExitStack() as stack:
        runtimes = {}
        for name in names:
            runtimes[name] = await stack.enter_async_context(running(BUILD[name], settings_for(nats_url, database_url)))
        yield runtimes


async def drained(db: asyncpg.Connection) -> bool:
    """Every outbox row published (the relays are idle)."""
    for schema in BUILD:
        if await db.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL"):
            return False
    return True


async def caught_up(js, consumer: str) -> bool:
    info = await js.consumer_info("LT_EVT", consumer)
    return info.num_pending == 0 and info.num_ack_pending == 0


async def outbox_rows(db: asyncpg.Connection, schema: str, prefix: str) -> list[str]:
    rows = await db.fetch(
        f"SELECT msg_id FROM {schema}.outbox WHERE starts_with(subject, $1) ORDER BY published_at, id", prefix
    )
    return [r["msg_id"] for r in rows]


async def stream_ids(js, stream: str) -> list[str]:
    return [i async for page in stream_msg_ids(js, stream) for i in page]


async def explain_all(nc, codes: list[str]) -> dict[str, Any]:
    out = {}
    for code in codes:
        answer = json.loads(
            (await nc.request(subjects.RPC_DEADLINE_EXPLAIN, json.dumps({"dossier_code": code}).encode(), 15)).data
        )
        assert answer["ok"], answer
        out[code] = answer["explanation"]
    report = json.loads((await nc.request(subjects.RPC_DEADLINE_REPORT, b"{}", 15)).data)
    assert report["ok"], report
    out["report"] = {k: v for k, v in report["report"].items() if k != "as_of"}
    return out


@pytest.fixture
async def wipeable_nats(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """A private nats-server (the shipped durability config) whose store the test may wipe."""
    state, store, port = tmp_path / "nats", tmp_path / "nats" / "store", devenv.free_port()
    server = {"server": devenv.start_nats(state, port=port, store_dir=store, config=DURABLE_CONF)}
    server.update(state=state, store=store, port=port, url=f"nats://127.0.0.1:{port}")
    yield server
    server["server"].stop()


async def wipe(nats_: dict[str, Any]) -> None:
    nats_["server"].stop()
    shutil.rmtree(nats_["store"])
    nats_["server"] = devenv.start_nats(
        nats_["state"], port=nats_["port"], store_dir=nats_["store"], config=DURABLE_CONF
    )


async def test_a_wiped_jetstream_store_is_recovered_from_the_outboxes(
    wipeable_nats, database_url: str, pg_server_dsn: str
) -> None:
    url = wipeable_nats["url"]
    db = await asyncpg.connect(database_url)
    nc = await nats.connect(url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    desk = Desk(nc, db)
    await desk.watch_orders()
    try:
        # 1. All four services: one dossier returned by the post, two under way.
        async with services(url, database_url, ("intake", "routing", "postal")):
            async with services(url, database_url, ("deadline",)):
                delivered = await desk.submit("02T08:00:00", "9.000003", return_method="postal")
                lost_order = await desk.submit("02T08:10:00", "9.000003", return_method="postal")
                long_one = await desk.submit("02T08:20:00", "9.000001")
                await desk.act(COMMUNE, "stage_completed", delivered, "02T10:00:00", outcome="forward")
                await desk.act(LABOUR, "stage_completed", delivered, "03T10:00:00", outcome="result_ready")
                order = await desk.order_for(delivered)
                await desk.ship(order["data"]["waybill"], [("accepted", "03T14:00:00"), ("delivered", "04T09:00:00")])
                await poll_until(lambda: desk.closed(delivered), timeout=30, message="returned by the post")
                await desk.act(COMMUNE, "stage_completed", long_one, "02T15:00:00", outcome="forward")
                await poll_until(lambda: drained(db), timeout=30, message="every outbox row published")
                await poll_until(lambda: caught_up(desk.js, "deadline"), timeout=30, message="deadline caught up")

            # 2. deadline stops: facts pile up that it has not read; the post leaves an order unanswered.
            await desk.act(COMMUNE, "stage_completed", lost_order, "02T11:00:00", outcome="forward")
            await desk.act(LABOUR, "stage_completed", lost_order, "03T11:00:00", outcome="result_ready")
            unanswered = await desk.order_for(lost_order)
            await desk.act(LABOUR, "handoff_received", long_one, "03T08:00:00", stage_index=1)
            await desk.act(LABOUR, "stage_completed", long_one, "04T10:00:00", outcome="forward")
            unseen = await desk.submit("04T08:00:00", "9.000002")
            await poll_until(lambda: drained(db), timeout=30, message="every outbox row published")
        assert (await desk.js.consumer_info("LT_EVT", "deadline")).num_pending > 0  # deadline is behind
        codes = [delivered, lost_order, long_one, unseen]
        before = {schema: {p: await outbox_rows(db, schema, p) for p in ("lt.evt.", "lt.out.")} for schema in BUILD}
        lost = {i for rows in before.values() for ids in rows.values() for i in ids}

        # 3. The store is lost: stop nats-server, delete its directory, start it on the same port.
        await wipe(wipeable_nats)
        await poll_until(lambda: nc.is_connected, timeout=30, message="the client to reconnect")
        warnings = Records()
        logging.getLogger("shared.service").addHandler(warnings)
        async with services(url, database_url) as runtimes:
            logging.getLogger("shared.service").removeHandler(warnings)
            warned = {m.split(":")[0] for m in warnings.messages if "run `lienthong reconcile`" in m}
            assert warned == {"intake", "routing", "deadline", "postal"}, warned

            dry = await ask_services(url, list(ORDER), {"dry_run": True}, timeout=60)
            assert all(r["ok"] for r in dry), dry
            for reply in dry:
                counts = {s["stream"]: s["missing"] for s in reply["streams"]}
                expected = {
                    "LT_EVT": len(before[reply["service"]]["lt.evt."]),
                    "LT_OUT": len(before[reply["service"]]["lt.out."]),
                }
                assert counts == expected, (reply["service"], reply)
            for stream in SCANNED_STREAMS:  # a dry run publishes nothing
                assert not lost & set(await stream_ids(desk.js, stream))
            postal_dry = next(r for r in dry if r["service"] == "postal")
            assert postal_dry["extra"] == {
                "delivery_orders_lost": 1,
                "delivery_orders_resent": 0,
                "pickup_orders_unacknowledged": 0,
            }

            replies = await ask_services(url, list(ORDER), {}, timeout=120)
            assert all(r["ok"] for r in replies), replies
            print(format_replies(replies, dry_run=False))
            postal = next(r for r in replies if r["service"] == "postal")
            # The delivered dossier's order was answered by the post: only the unanswered one is re-sent.
            assert postal["extra"]["delivery_orders_resent"] == 1, postal

            # Every outbox row is back once, each service's in its original order.
            for stream, prefix in zip(SCANNED_STREAMS, ("lt.evt.", "lt.out."), strict=True):
                present = await stream_ids(desk.js, stream)
                for schema in BUILD:
                    ours = set(before[schema][prefix])
                    assert [i for i in present if i in ours] == before[schema][prefix], (schema, stream)
                repeated = {i for i in present if present.count(i) > 1}
                assert not repeated, repeated

            # The deadline service, behind before the loss, catches up.
            await poll_until(lambda: caught_up(desk.js, "deadline"), timeout=60, message="deadline caught up")
            # The post gets the lost order again, under the same id, and delivers it.
            again = await desk.order_for(lost_order, count=2)
            assert again["event_id"] == unanswered["event_id"] and again["data"] == unanswered["data"]
            await desk.ship(again["data"]["waybill"], [("accepted", "05T08:00:00"), ("delivered", "05T14:00:00")])
            # The dossiers go on to their end on the recovered store.
            await desk.act(PROVINCE_DEPT, "stage_completed", long_one, "06T10:00:00", outcome="result_ready")
            await desk.act(COMMUNE, "result_returned", long_one, "06T15:00:00")
            await desk.act(COMMUNE, "stage_completed", unseen, "04T09:00:00", outcome="forward")
            for code in (delivered, lost_order, long_one):
                await poll_until(lambda c=code: desk.closed(c), timeout=30, message=f"{code} closed")
            await poll_until(lambda: drained(db), timeout=30, message="outboxes drained")
            await poll_until(lambda: caught_up(desk.js, "deadline"), timeout=60, message="deadline caught up")
            lived_through = await explain_all(nc, codes)
            assert runtimes["deadline"].relay is not None

        # 4. A fresh deadline projection (empty database, its durable consumer reset) replays the
        # recovered stream and reaches the same explanations and report.
        fresh = await _fresh_database(pg_server_dsn, database_url)
        try:
            await desk.js.delete_consumer("LT_EVT", "deadline")
            async with services(url, fresh, ("deadline",)):
                await poll_until(lambda: caught_up(desk.js, "deadline"), timeout=60, message="fresh deadline")
                replayed = await explain_all(nc, codes)
            assert replayed == lived_through
        finally:
            await _drop_database(pg_server_dsn, fresh)
    finally:
        await nc.close()
        await db.close()


async def _fresh_database(server_dsn: str, like: str) -> str:
    name = f"{like.rsplit('/', 1)[-1]}_fresh"
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return database_dsn(server_dsn, name)


async def _drop_database(server_dsn: str, dsn: str) -> None:
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{dsn.rsplit("/", 1)[-1]}" WITH (FORCE)')
    finally:
        await admin.close()


def test_the_reconcile_rpc_subjects_follow_the_services() -> None:
    assert [reconcile_subject(s) for s in ORDER] == [f"lt.rpc.{s}.reconcile" for s in ORDER]
