"""Postal delivery and pickup end to end: the four services as processes on a private NATS and an
empty database (fresh for each test), the tests' catalog, and `LIENTHONG_POSTAL_MAX_ATTEMPTS=3` (the retry policy is
configuration: the default is 2). The test plays the agencies' systems and the postal integration
through the public contract only.

Every status path of a delivery: delivered (with its statuses out of order and twice); failed then
delivered on a new order; failed until the attempts run out, and returned to sender, both bringing
the result back to the receiving agency's counter (`assigned`, purpose return) whose
`result_returned` then closes the dossier; postal intake (pickup requested, pickup order, the
post's statuses, the agency's `submitted` with the waybill). Unknown waybills and impossible
statuses are refused with their reason on `lt.out.postal.input_rejected`. For each dossier every
fact (`lt.evt.dossier.*`, `lt.evt.postal.*`) and every outbound message that concerns it is
checked, and `lienthong explain --json` / `lienthong report --json` (the operators' command, as a
process) show the postal legs charged to no agency, the on-time verdict taken at the result, and
the citizen's end-to-end time with delivery.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg
import pytest

from services.postal.waybill import is_valid
from shared.contracts import subjects
from shared.sim.driver import settle
from tests.conftest import ROOT, database_dsn
from tests.e2e.conftest import RunningServices, reset_streams, service_env, start_services, stop_services
from tests.factories import submitted_data, unique_ref
from tests.support import connect, envelope, poll_until, publish_agency

pytestmark = pytest.mark.e2e

COMMUNE, COMMUNE_2 = "T01.00.01.X99", "T01.00.02.X99"
LABOUR = "T01.31.00.X99"
PROVINCE_DEPT, PROVINCE = "T00.05.00.X99", "T00.00.00.X99"
THREE_TIERS, NO_RETURN_STAGE, TWO_TIERS = "9.000001", "9.000003", "9.000004"
MAX_ATTEMPTS = 3
STATUS_SUBJECT = subjects.in_postal("shipment_status")
POSTAL_REJECTED = subjects.out_postal("input_rejected")


def march(text: str) -> str:
    return f"2026-03-{text}+07:00"


def april(text: str) -> str:
    return f"2026-04-{text}+07:00"


def t(text: str) -> datetime:
    return datetime.fromisoformat(text)


def address(tag: str) -> dict[str, str]:
    return {"line": f"Số {tag} Đường Bưu Điện", "commune": "Xã Thử Một", "province": "Tỉnh Thử"}


def as_sent(tag: str) -> dict[str, str | None]:
    """The address as an order carries it: every field of the contract's model, absent ones null."""
    return {"district": None, "recipient": None, "phone": None, **address(tag)}


@pytest.fixture
async def postal_services(
    nats_url: str, pg_server_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningServices]:
    """Fresh services, database and streams for each test: the simulated clock only moves forward,
    so a test's alerts must not see the clock another test left days ahead."""
    name = f"lt_e2e_postal_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_server_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await reset_streams(nats_url)
    env = service_env(nats_url, database_dsn(pg_server_dsn, name), LIENTHONG_POSTAL_MAX_ATTEMPTS=str(MAX_ATTEMPTS))
    running = start_services(env, tmp_path_factory.mktemp("e2e-postal-logs"))
    try:
        yield running
    finally:
        stop_services(running)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


class Desk:
    """The agencies' systems and the postal integration, and everything lienthong publishes."""

    def __init__(self, services: RunningServices, nc, js, db) -> None:
        self.services, self.nc, self.js, self.db = services, nc, js, db
        self.seen: list[tuple[str, dict[str, Any]]] = []

    async def listen(self) -> None:
        async def on_message(msg) -> None:
            self.seen.append((msg.subject, json.loads(msg.data)))

        for pattern in ("lt.evt.>", "lt.out.>"):
            await self.nc.subscribe(pattern, cb=on_message)

    # -- acting ---------------------------------------------------------------------------------

    async def tick(self, when: str) -> None:
        """The simulated clock: the systems never act ahead of it."""
        await self.nc.publish(subjects.SIM_CLOCK, json.dumps({"now": when}).encode())
        await self.nc.flush()
        await settle(self.js)

    async def submit(self, agency: str, when: str, procedure: str, **extra: Any) -> str:
        await self.tick(when)
        body = envelope("submitted", agency, when, submitted_data(procedure, **extra))
        reply = json.loads((await self.nc.request(subjects.RPC_INTAKE_SUBMIT, json.dumps(body).encode(), 15)).data)
        assert reply["ok"], reply
        await self.routed(reply["dossier_code"])
        return reply["dossier_code"]

    async def routed(self, code: str) -> None:
        await poll_until(lambda: self.facts(code, "routed"), timeout=20, message=f"{code} routed")

    async def act(self, agency: str, action: str, code: str | None, when: str, **data: Any) -> dict:
        await self.tick(when)
        body = envelope(action, agency, when, data, dossier_code=code)
        await publish_agency(self.js, agency, body)
        await settle(self.js)
        return body

    async def status(
        self, waybill: str, status: str, when: str, attempt: int | None = None, event_id: str | None = None
    ) -> dict:
        """The post reports a status (`when` is both the envelope's time and data.at)."""
        await self.tick(when)
        data: dict[str, Any] = {"waybill": waybill, "status": status, "at": when}
        if attempt is not None:
            data["attempt"] = attempt
        body = envelope("shipment_status", None, when, data, event_id=event_id)
        await self.js.publish(STATUS_SUBJECT, json.dumps(body).encode(), headers={"Nats-Msg-Id": body["event_id"]})
        await settle(self.js)
        return body

    async def refused_status(self, waybill: str, status: str, when: str, attempt: int | None = None) -> str:
        body = await self.status(waybill, status, when, attempt)
        return await self.reason(POSTAL_REJECTED, body, STATUS_SUBJECT)

    async def reason(self, subject: str, body: dict, refused_subject: str) -> str:
        def reply():
            return [b for s, b in self.seen if s == subject and b["data"]["refused_event_id"] == body["event_id"]]

        (rejected,) = await poll_until(reply, timeout=20, message=f"the refusal of {body['type']}")
        assert rejected["data"]["refused_subject"] == refused_subject
        return rejected["data"]["reason"]

    async def order(self, code: str, attempt: int) -> dict:
        """The delivery order of `attempt` (sent by postal's dispatcher in the background)."""

        def found():
            return self.orders(code)[attempt - 1 : attempt]

        (order,) = await poll_until(found, timeout=20, message=f"delivery order {attempt} of {code}")
        return order

    # -- what lienthong said ------------------------------------------------------------------------

    def facts(self, code: str, type_: str | None = None) -> list[dict]:
        return [
            b
            for s, b in self.seen
            if s.startswith("lt.evt.dossier.") and b["dossier_code"] == code and (type_ is None or b["type"] == type_)
        ]

    def dossier_facts(self, code: str) -> list[tuple]:
        """(type, envelope agency, occurred_at) of every dossier fact, in the order published."""
        return [(b["type"], b["agency"], t(b["occurred_at"])) for b in self.facts(code)]

    def shipment_facts(self, code: str) -> list[tuple]:
        """(waybill, direction, status, at, attempt, state) of every postal fact of the dossier; the
        envelope is checked on the way: dated at the status, the receiving agency's, unique ids."""
        found = [
            b for s, b in self.seen if s == subjects.fact("postal", "shipment_updated") and b["dossier_code"] == code
        ]
        assert all(t(b["occurred_at"]) == t(b["data"]["at"]) for b in found)
        assert len({b["event_id"] for b in found}) == len(found)
        assert {b["agency"] for b in found} <= {self.receiving(code)}
        d = [b["data"] for b in found]
        return [(x["waybill"], x["direction"], x["status"], t(x["at"]), x["attempt"], x["state"]) for x in d]

    def receiving(self, code: str) -> str:
        return self.facts(code, "received")[0]["data"]["receiving_agency"]

    def orders(self, code: str) -> list[dict]:
        return [b for s, b in self.seen if s == subjects.out_postal("delivery_order") and b["dossier_code"] == code]

    def assigned(self, code: str) -> list[tuple]:
        return [
            (s, b["agency"], t(b["occurred_at"]), b["data"]) for s, b in self.seen
            if s.endswith(".assigned") and b["dossier_code"] == code
        ]  # fmt: skip

    def rejections(self) -> list[dict]:
        return [b for s, b in self.seen if s.endswith(".input_rejected")]

    def overdue(self) -> list[dict]:
        return [b for s, b in self.seen if s == subjects.fact("deadline", "overdue")]

    async def routing_state(self, code: str) -> tuple[int, str]:
        row = await self.db.fetchrow("SELECT status, sub_state FROM routing.dossiers WHERE code = $1", code)
        return row["status"], row["sub_state"]

    async def returned(self, code: str) -> dict:
        (fact,) = await poll_until(lambda: self.facts(code, "returned"), timeout=20, message=f"{code} returned")
        return fact

    async def shipment(self, waybill: str) -> asyncpg.Record:
        return await self.db.fetchrow("SELECT state, attempt FROM postal.shipments WHERE waybill = $1", waybill)

    # -- the operators' command line --------------------------------------------------------------

    async def lienthong(self, *args: str) -> dict:
        """`lienthong ... --json` as the operators run it: a process asking over NATS."""
        env = {"NATS_URL": self.services.nats_url, "PATH": "/usr/bin:/bin"}
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "shared.cli", *args, "--json"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    async def explain(self, code: str) -> dict:
        await settle(self.js)
        return await self.lienthong("explain", code)


@pytest.fixture
async def desk(postal_services: RunningServices) -> AsyncIterator[Desk]:
    nc, js = await connect(postal_services.nats_url)
    db = await asyncpg.connect(postal_services.database_url)
    desk = Desk(postal_services, nc, js, db)
    await desk.listen()
    try:
        yield desk
        assert [s for s, _ in desk.seen if s.startswith(subjects.DEAD_LETTER_PREFIX)] == []
    finally:
        await db.close()
        await nc.close()
    assert "Traceback" not in postal_services.log_text()


def leg(e: dict) -> list[tuple]:
    return [(x["direction"], x["status"], x["start"], x["end"], x["working_hours"], x["charged_to"])
            for x in e["postal_legs"]]  # fmt: skip


def story(*facts: tuple[str, str, str]) -> list[tuple]:
    """(type, envelope agency, occurred_at) of dossier facts, times as 'DDTHH:MM' in March."""
    return [(type_, agency, t(march(f"{when}:00"))) for type_, agency, when in facts]


def stage_row(s: dict) -> tuple:
    return s["index"], s["agency"], s["start"], s["end"], s["outcome"], s["postal_hours"], s["late"]


# ---- delivered ------------------------------------------------------------------------------------


async def test_delivered_returns_the_dossier_whatever_the_order_and_repeats_of_the_statuses(desk):
    code = await desk.submit(COMMUNE, march("02T08:00:00"), NO_RETURN_STAGE, return_method="postal",
                             delivery_address=address("7A"))  # fmt: skip
    await desk.act(COMMUNE, "stage_completed", code, march("02T10:00:00"), outcome="forward")
    await desk.act(LABOUR, "stage_completed", code, march("03T10:00:00"), outcome="result_ready")
    order = await desk.order(code, 1)
    waybill = order["data"]["waybill"]
    assert is_valid(waybill)
    assert order == {
        "event_id": f"{waybill}/delivery/1",
        "type": "delivery_order",
        "schema_version": 1,
        "occurred_at": order["occurred_at"],
        "agency": COMMUNE,
        "dossier_code": code,
        "data": {"waybill": waybill, "dossier_code": code, "receiving_agency": COMMUNE, "address": as_sent("7A"),
                 "cod_amount_vnd": 0, "attempt": 1},
    }  # fmt: skip
    assert t(order["occurred_at"]) == t(march("03T10:00:00"))  # dated at the result, not when it was sent
    assert await desk.routing_state(code) == (9, "awaiting_return")

    # The post's reports: delivered first, then earlier statuses, the same status twice (a new
    # event id) and the same message twice (the same event id).
    await desk.status(waybill, "delivered", march("04T10:00:00"))
    in_transit = await desk.status(waybill, "in_transit", march("04T08:00:00"))
    await desk.status(waybill, "delivered", march("04T10:00:00"))
    await desk.status(waybill, "accepted", march("03T14:00:00"))
    await desk.status(waybill, "in_transit", march("04T08:00:00"), event_id=in_transit["event_id"])
    after_delivery = await desk.refused_status(waybill, "returned_to_sender", march("04T11:00:00"))
    before_order = await desk.refused_status(waybill, "accepted", march("03T09:00:00"))
    never_ordered = await desk.refused_status(waybill, "in_transit", march("04T11:00:00"), attempt=2)
    unknown = await desk.refused_status("LT999999990VN", "delivered", march("04T11:00:00"))

    assert desk.shipment_facts(code) == [
        (waybill, "delivery", "delivered", t(march("04T10:00:00")), 1, "delivered"),
        (waybill, "delivery", "in_transit", t(march("04T08:00:00")), 1, "delivered"),
        (waybill, "delivery", "accepted", t(march("03T14:00:00")), 1, "delivered"),
    ]
    returned = await desk.returned(code)
    assert returned["data"] == {"seq": 7, "returned_at": returned["data"]["returned_at"], "via": "postal"}
    assert t(returned["data"]["returned_at"]) == t(march("04T10:00:00"))
    assert desk.dossier_facts(code) == story(
        ("received", COMMUNE, "02T08:00"), ("routed", COMMUNE, "02T08:00"), ("stage_completed", COMMUNE, "02T10:00"),
        ("handoff_sent", LABOUR, "02T10:00"), ("handoff_received", LABOUR, "03T10:00"),
        ("stage_completed", LABOUR, "03T10:00"), ("result_ready", LABOUR, "03T10:00"),
        ("returned", LABOUR, "04T10:00"),  # the post delivered it: closed, status 10
    )  # fmt: skip
    assert await desk.routing_state(code) == (10, "closed")
    assert len(desk.orders(code)) == 1 and [a[3]["purpose"] for a in desk.assigned(code)] == ["process"]
    assert (await desk.shipment(waybill))["state"] == "delivered"
    assert after_delivery == (
        f"waybill {waybill}: status 'returned_to_sender' is impossible: the shipment already ended as "
        "'delivered' at 2026-03-04T10:00:00+07:00"
    )
    assert before_order == (
        f"waybill {waybill}: status 'accepted' at 2026-03-03T09:00:00+07:00 is earlier than the delivery order "
        "of attempt 1 (2026-03-03T10:00:00+07:00)"
    )
    assert never_ordered == f"data.attempt: attempt 2 of waybill {waybill} was never ordered (1 order was sent)"
    assert unknown == "data.waybill: unknown waybill 'LT999999990VN'"

    e = await desk.explain(code)
    assert (e["status"], e["returned_via"], e["late"], e["on_time_verdict_at"]) == (
        "returned", "postal", False, march("03T10:00:00")
    )  # fmt: skip
    assert [stage_row(s) for s in e["stages"]] == [
        (0, COMMUNE, march("02T08:00:00"), march("02T10:00:00"), "forward", 0.0, False),
        (1, LABOUR, march("02T10:00:00"), march("03T10:00:00"), "result_ready", 0.0, False),
    ]
    # 03/03 14:00-17:00 and 04/03 07:30-10:00: the post's, nobody's
    assert leg(e) == [("delivery", "delivered", march("03T14:00:00"), march("04T10:00:00"), 5.5, None)]
    assert e["blamed"] == []
    assert e["end_to_end"] == {
        "from": march("02T08:00:00"), "to": march("04T10:00:00"), "via": "postal",
        "working_hours": 18.0, "elapsed_days": round(50 / 24, 4), "pickup_hours": 0.0,
        "to_result_hours": 10.0, "after_result_hours": 8.0, "postal_hours": 5.5, "postal_charged_to": None,
    }  # fmt: skip
    assert desk.overdue() == [], [(b["dossier_code"], b["data"]) for b in desk.overdue()]
    assert len(desk.rejections()) == 4  # only the refusals provoked above


# ---- delivery_failed, then delivered on a new order -------------------------------------------------


async def test_a_failed_delivery_is_ordered_again_and_then_delivered(desk):
    code = await desk.submit(COMMUNE_2, march("02T08:00:00"), THREE_TIERS, return_method="postal",
                             delivery_address=address("12B"))  # fmt: skip
    await desk.act(COMMUNE_2, "stage_completed", code, march("02T15:00:00"), outcome="forward")
    await desk.act(LABOUR, "stage_completed", code, march("05T10:00:00"), outcome="forward")
    await desk.act(PROVINCE_DEPT, "stage_completed", code, march("10T10:00:00"), outcome="result_ready")
    first = await desk.order(code, 1)
    waybill = first["data"]["waybill"]
    await desk.status(waybill, "accepted", march("10T14:00:00"))
    await desk.status(waybill, "in_transit", march("11T08:00:00"))
    await desk.status(waybill, "delivery_failed", march("11T10:00:00"))
    second = await desk.order(code, 2)
    await desk.status(waybill, "delivery_failed", march("11T10:00:00"))  # the post repeats its report
    await desk.status(waybill, "picked_up", march("10T15:00:00"))  # late: the first attempt's
    await desk.status(waybill, "accepted", march("12T08:00:00"), attempt=2)
    await desk.status(waybill, "delivered", march("12T09:00:00"))

    assert second == {
        **first,
        "event_id": f"{waybill}/delivery/2",
        "occurred_at": second["occurred_at"],
        "data": {**first["data"], "attempt": 2},
    }
    assert t(second["occurred_at"]) == t(march("11T10:00:00"))  # ordered again when the first failed
    assert second["data"]["address"] == as_sent("12B")
    assert len(desk.orders(code)) == 2  # the repeated failure report ordered nothing more
    assert desk.shipment_facts(code) == [
        (waybill, "delivery", "accepted", t(march("10T14:00:00")), 1, "accepted"),
        (waybill, "delivery", "in_transit", t(march("11T08:00:00")), 1, "in_transit"),
        (waybill, "delivery", "delivery_failed", t(march("11T10:00:00")), 1, "ordered"),
        (waybill, "delivery", "picked_up", t(march("10T15:00:00")), 1, "ordered"),
        (waybill, "delivery", "accepted", t(march("12T08:00:00")), 2, "accepted"),
        (waybill, "delivery", "delivered", t(march("12T09:00:00")), 2, "delivered"),
    ]
    returned = await desk.returned(code)
    assert (returned["agency"], returned["data"]["via"]) == (COMMUNE_2, "postal")
    assert desk.dossier_facts(code) == story(
        ("received", COMMUNE_2, "02T08:00"), ("routed", COMMUNE_2, "02T08:00"),
        ("stage_completed", COMMUNE_2, "02T15:00"), ("handoff_sent", LABOUR, "02T15:00"),
        ("handoff_received", LABOUR, "05T10:00"), ("stage_completed", LABOUR, "05T10:00"),
        ("handoff_sent", PROVINCE_DEPT, "05T10:00"), ("handoff_received", PROVINCE_DEPT, "10T10:00"),
        ("stage_completed", PROVINCE_DEPT, "10T10:00"), ("result_ready", PROVINCE_DEPT, "10T10:00"),
        ("handoff_sent", COMMUNE_2, "10T10:00"), ("handoff_received", COMMUNE_2, "12T09:00"),
        ("stage_completed", COMMUNE_2, "12T09:00"), ("returned", COMMUNE_2, "12T09:00"),
    )  # fmt: skip
    received = desk.facts(code, "handoff_received")[-1]["data"]
    assert (received["stage_index"], received["inferred"]) == (3, True)  # the return stage, closed by the post
    assert [(a[1], a[3]["stage_index"], a[3]["purpose"]) for a in desk.assigned(code)] == [
        (LABOUR, 1, "process"), (PROVINCE_DEPT, 2, "process"), (COMMUNE_2, 3, "return"),  # routing's only
    ]  # fmt: skip
    assert await desk.routing_state(code) == (10, "closed")
    assert tuple(await desk.shipment(waybill)) == ("delivered", 2)

    e = await desk.explain(code)
    back = e["stages"][3]
    # The return stage at the commune: 10/03 10:00 to 12/03 09:00; the post held the result for
    # 12.5 of its 15 working hours, so the commune used 2.5 of its 8.
    assert stage_row(back) == (3, COMMUNE_2, march("10T10:00:00"), march("12T09:00:00"), "returned", 12.5, False)
    assert (back["used_hours"], back["budget_hours"]) == (2.5, 8.0)
    assert leg(e) == [("delivery", "delivered", march("10T14:00:00"), march("12T09:00:00"), 12.5, None)]
    assert (e["late"], e["blamed"], e["on_time_verdict_at"]) == (False, [], march("10T10:00:00"))
    j = e["end_to_end"]
    assert (j["from"], j["to"], j["via"], j["postal_hours"], j["after_result_hours"]) == (
        march("02T08:00:00"), march("12T09:00:00"), "postal", 12.5, 15.0
    )  # fmt: skip
    assert j["working_hours"] == j["to_result_hours"] + j["after_result_hours"]
    assert desk.overdue() == [], [(b["dossier_code"], b["data"]) for b in desk.overdue()]
    assert len(desk.rejections()) == 0  # only the refusals provoked above


# ---- the attempts run out, or the post returns it: back to the counter -----------------------------------


async def test_failures_until_the_attempts_run_out_bring_the_result_back_to_the_counter(desk):
    code = await desk.submit(COMMUNE, march("02T09:00:00"), TWO_TIERS, return_method="postal",
                             delivery_address=address("3C"))  # fmt: skip
    await desk.act(COMMUNE, "stage_completed", code, march("02T10:00:00"), outcome="forward")
    await desk.act(PROVINCE_DEPT, "stage_completed", code, march("04T10:00:00"), outcome="forward")
    await desk.act(PROVINCE, "stage_completed", code, march("05T10:00:00"), outcome="result_ready")
    waybill = (await desk.order(code, 1))["data"]["waybill"]
    await desk.status(waybill, "accepted", march("05T13:00:00"))
    await desk.status(waybill, "delivery_failed", march("05T15:00:00"))
    await desk.order(code, 2)
    await desk.status(waybill, "accepted", march("06T08:00:00"))
    await desk.status(waybill, "delivery_failed", march("06T10:00:00"))
    await desk.order(code, 3)
    await desk.status(waybill, "delivery_failed", march("06T16:00:00"))  # the third: no attempt left
    back = await poll_until(
        lambda: [a for a in desk.assigned(code) if a[3]["from_agency"] is None], timeout=20, message="assigned"
    )
    late_delivery = await desk.refused_status(waybill, "delivered", march("07T09:00:00"))
    await desk.status(waybill, "returned_to_sender", march("06T17:00:00"))  # the post confirms it
    await desk.act(COMMUNE, "result_returned", code, march("09T10:00:00"))

    assert [(o["data"]["attempt"], t(o["occurred_at"])) for o in desk.orders(code)] == [
        (1, t(march("05T10:00:00"))), (2, t(march("05T15:00:00"))), (3, t(march("06T10:00:00"))),
    ]  # fmt: skip
    assert {json.dumps(o["data"]["address"], sort_keys=True) for o in desk.orders(code)} == {
        json.dumps(as_sent("3C"), sort_keys=True)
    }
    assert desk.shipment_facts(code) == [
        (waybill, "delivery", "accepted", t(march("05T13:00:00")), 1, "accepted"),
        (waybill, "delivery", "delivery_failed", t(march("05T15:00:00")), 1, "ordered"),
        (waybill, "delivery", "accepted", t(march("06T08:00:00")), 2, "accepted"),
        (waybill, "delivery", "delivery_failed", t(march("06T10:00:00")), 2, "ordered"),
        (waybill, "delivery", "delivery_failed", t(march("06T16:00:00")), 3, "back_at_counter"),
        (waybill, "delivery", "returned_to_sender", t(march("06T17:00:00")), 3, "returned_to_sender"),
    ]
    # One return to the counter (the post's confirmation sends no second one), with the return
    # stage's budget and the due time the deadline service judges it by: its start (05/03 10:00)
    # + 8 working hours + the 11 the post held the result (05/03 13:00 - 06/03 16:00).
    assert back == [(subjects.out_agency(COMMUNE, "assigned"), COMMUNE, t(march("06T16:00:00")), {
        "stage_index": 3, "role": "return", "procedure": TWO_TIERS, "from_agency": None, "budget_hours": 8.0,
        "sent_at": back[0][3]["sent_at"], "due_at": back[0][3]["due_at"], "purpose": "return",
    })]  # fmt: skip
    assert (t(back[0][3]["sent_at"]), t(back[0][3]["due_at"])) == (t(march("06T16:00:00")), t(march("09T14:30:00")))
    assert len([a for a in desk.assigned(code) if a[3]["purpose"] == "return"]) == 2  # routing's hand-off, the post's
    assert late_delivery == (
        f"waybill {waybill}: status 'delivered' is impossible: after 3 failed delivery attempts "
        "(the last at 2026-03-06T16:00:00+07:00) the result went back to the receiving agency's counter"
    )
    returned = await desk.returned(code)
    assert (returned["agency"], returned["data"]["via"], t(returned["data"]["returned_at"])) == (
        COMMUNE, "counter", t(march("09T10:00:00"))
    )  # fmt: skip
    assert desk.dossier_facts(code) == story(
        ("received", COMMUNE, "02T09:00"), ("routed", COMMUNE, "02T09:00"), ("stage_completed", COMMUNE, "02T10:00"),
        ("handoff_sent", PROVINCE_DEPT, "02T10:00"), ("handoff_received", PROVINCE_DEPT, "04T10:00"),
        ("stage_completed", PROVINCE_DEPT, "04T10:00"), ("handoff_sent", PROVINCE, "04T10:00"),
        ("handoff_received", PROVINCE, "05T10:00"), ("stage_completed", PROVINCE, "05T10:00"),
        ("result_ready", PROVINCE, "05T10:00"), ("handoff_sent", COMMUNE, "05T10:00"),
        ("handoff_received", COMMUNE, "09T10:00"), ("stage_completed", COMMUNE, "09T10:00"),
        ("returned", COMMUNE, "09T10:00"),  # handed out at the counter: the receipt inferred from it
    )  # fmt: skip
    assert await desk.routing_state(code) == (10, "closed")
    assert tuple(await desk.shipment(waybill)) == ("returned_to_sender", 3)

    e = await desk.explain(code)
    stage = e["stages"][3]
    assert stage_row(stage) == (3, COMMUNE, march("05T10:00:00"), march("09T10:00:00"), "returned", 11.0, False)
    assert (stage["due"], stage["used_hours"]) == (march("09T14:30:00"), 5.0)  # the due the counter was given
    assert leg(e) == [("delivery", "back_at_counter", march("05T13:00:00"), march("06T16:00:00"), 11.0, None)]
    assert (e["returned_via"], e["late"], e["blamed"]) == ("counter", False, [])
    j = e["end_to_end"]
    assert (j["to"], j["via"], j["after_result_hours"], j["postal_hours"]) == (
        march("09T10:00:00"),
        "counter",
        16.0,
        11.0,
    )
    assert desk.overdue() == [], [(b["dossier_code"], b["data"]) for b in desk.overdue()]
    assert len(desk.rejections()) == 1  # only the refusals provoked above


async def test_returned_to_sender_brings_the_result_back_to_the_counter(desk):
    code = await desk.submit(COMMUNE_2, march("03T08:00:00"), NO_RETURN_STAGE, return_method="postal",
                             delivery_address=address("21D"))  # fmt: skip
    await desk.act(COMMUNE_2, "stage_completed", code, march("03T09:00:00"), outcome="forward")
    await desk.act(LABOUR, "stage_completed", code, march("04T09:00:00"), outcome="result_ready")
    waybill = (await desk.order(code, 1))["data"]["waybill"]
    await desk.status(waybill, "accepted", march("04T13:00:00"))
    await desk.status(waybill, "in_transit", march("05T08:00:00"))
    await desk.status(waybill, "returned_to_sender", march("05T15:00:00"))
    back = await poll_until(
        lambda: [a for a in desk.assigned(code) if a[3]["purpose"] == "return"], timeout=20, message="assigned"
    )
    assert await desk.routing_state(code) == (9, "awaiting_return")  # still to be handed out
    wrong_agency = await desk.reason(
        subjects.out_agency(LABOUR, "input_rejected"),
        await desk.act(LABOUR, "result_returned", code, march("06T08:00:00")),
        subjects.in_agency(LABOUR, "result_returned"),
    )
    await desk.act(COMMUNE_2, "result_returned", code, march("06T09:00:00"))

    # No return stage in this procedure: the result is due at the counter as it arrives.
    assert back == [(subjects.out_agency(COMMUNE_2, "assigned"), COMMUNE_2, t(march("05T15:00:00")), {
        "stage_index": 1, "role": "return", "procedure": NO_RETURN_STAGE, "from_agency": None, "budget_hours": 0.0,
        "sent_at": back[0][3]["sent_at"], "due_at": back[0][3]["due_at"], "purpose": "return",
    })]  # fmt: skip
    assert t(back[0][3]["sent_at"]) == t(back[0][3]["due_at"]) == t(march("05T15:00:00"))
    assert len(desk.orders(code)) == 1
    assert desk.shipment_facts(code) == [
        (waybill, "delivery", "accepted", t(march("04T13:00:00")), 1, "accepted"),
        (waybill, "delivery", "in_transit", t(march("05T08:00:00")), 1, "in_transit"),
        (waybill, "delivery", "returned_to_sender", t(march("05T15:00:00")), 1, "returned_to_sender"),
    ]
    assert wrong_agency == (f"the result of dossier {code} is handed to the citizen by {COMMUNE_2}, not {LABOUR}")
    returned = await desk.returned(code)
    assert (returned["data"]["via"], t(returned["data"]["returned_at"])) == ("counter", t(march("06T09:00:00")))
    assert desk.dossier_facts(code) == story(
        ("received", COMMUNE_2, "03T08:00"), ("routed", COMMUNE_2, "03T08:00"),
        ("stage_completed", COMMUNE_2, "03T09:00"), ("handoff_sent", LABOUR, "03T09:00"),
        ("handoff_received", LABOUR, "04T09:00"), ("stage_completed", LABOUR, "04T09:00"),
        ("result_ready", LABOUR, "04T09:00"), ("returned", COMMUNE_2, "06T09:00"),
    )  # fmt: skip
    assert await desk.routing_state(code) == (10, "closed")

    e = await desk.explain(code)
    assert leg(e) == [("delivery", "returned_to_sender", march("04T13:00:00"), march("05T15:00:00"), 10.0, None)]
    assert [s["postal_hours"] for s in e["stages"]] == [0.0, 0.0]
    assert (e["returned_via"], e["late"], e["end_to_end"]["after_result_hours"]) == ("counter", False, 16.0)
    assert desk.overdue() == [], [(b["dossier_code"], b["data"]) for b in desk.overdue()]
    assert len(desk.rejections()) == 1  # only the refusals provoked above


# ---- postal intake ---------------------------------------------------------------------------------------


async def test_postal_intake_links_the_pickup_leg_to_the_dossier(desk):
    ref = unique_ref("pickup")
    request = await desk.act(COMMUNE, "pickup_requested", None, march("02T08:00:00"), procedure=NO_RETURN_STAGE,
                             external_ref=ref, pickup_address=address("9E"))  # fmt: skip
    pickup = await poll_until(
        lambda: [b for s, b in desk.seen if s == subjects.out_postal("pickup_order")], timeout=20, message="pickup"
    )
    assert pickup[0]["data"]["external_ref"] == ref
    waybill = pickup[0]["data"]["waybill"]
    told = await poll_until(
        lambda: [b for s, b in desk.seen if s == subjects.out_agency(COMMUNE, "pickup_ordered")],
        timeout=20, message="pickup_ordered",
    )  # fmt: skip
    again = await desk.act(COMMUNE, "pickup_requested", None, march("02T08:05:00"), procedure=NO_RETURN_STAGE,
                           external_ref=ref, pickup_address=address("9E"))  # fmt: skip
    twice = await desk.reason(
        subjects.out_agency(COMMUNE, "input_rejected"), again, subjects.in_agency(COMMUNE, "pickup_requested")
    )
    await publish_agency(desk.js, COMMUNE, request)  # the same request redelivered: the same order
    await desk.status(waybill, "accepted", march("02T09:00:00"))
    await desk.status(waybill, "picked_up", march("02T10:00:00"))
    await desk.status(waybill, "in_transit", march("02T14:00:00"))
    await desk.status(waybill, "delivered", march("03T09:00:00"))  # handed to the commune's one-stop
    before_submission = [b for s, b in desk.seen if s.startswith("lt.evt.postal.")]

    by_post = {"channel": "postal", "postal_waybill": waybill, "return_method": "postal"}
    code = await desk.submit(COMMUNE, march("03T09:30:00"), NO_RETURN_STAGE, external_ref=ref,
                             delivery_address=address("9E"), **by_post)  # fmt: skip
    await poll_until(lambda: len(desk.shipment_facts(code)) == 4, timeout=20, message="the pickup's facts")
    await desk.act(COMMUNE, "stage_completed", code, march("03T11:00:00"), outcome="forward")
    await desk.act(LABOUR, "stage_completed", code, march("04T11:00:00"), outcome="result_ready")
    delivery = (await desk.order(code, 1))["data"]["waybill"]
    await desk.status(delivery, "accepted", march("04T14:00:00"))
    await desk.status(delivery, "delivered", march("05T09:00:00"))
    await desk.returned(code)

    assert pickup == [{
        "event_id": pickup[0]["event_id"], "type": "pickup_order", "schema_version": 1,
        "occurred_at": pickup[0]["occurred_at"], "agency": COMMUNE, "dossier_code": None,
        "data": {"waybill": waybill, "agency": COMMUNE, "procedure": NO_RETURN_STAGE, "external_ref": ref,
                 "address": as_sent("9E")},
    }]  # fmt: skip
    assert is_valid(waybill) and t(pickup[0]["occurred_at"]) == t(march("02T08:00:00"))
    assert [(b["agency"], b["dossier_code"], b["data"]) for b in told] == [
        (COMMUNE, None, {"waybill": waybill, "procedure": NO_RETURN_STAGE, "external_ref": ref,
                         "requested_event_id": request["event_id"]}),
    ]  # fmt: skip
    assert twice == f"data.external_ref: a pickup for '{ref}' was already ordered (waybill {waybill}, state 'ordered')"
    assert len([s for s, _ in desk.seen if s == subjects.out_postal("pickup_order")]) == 1
    assert before_submission == []  # a pickup's statuses wait for the dossier they belong to
    received = desk.facts(code, "received")[0]["data"]
    assert (received["channel"], received["postal_waybill"]) == ("postal", waybill)
    assert desk.dossier_facts(code) == story(
        ("received", COMMUNE, "03T09:30"), ("routed", COMMUNE, "03T09:30"), ("stage_completed", COMMUNE, "03T11:00"),
        ("handoff_sent", LABOUR, "03T11:00"), ("handoff_received", LABOUR, "04T11:00"),
        ("stage_completed", LABOUR, "04T11:00"), ("result_ready", LABOUR, "04T11:00"),
        ("returned", LABOUR, "05T09:00"),
    )  # fmt: skip
    assert desk.shipment_facts(code) == [
        (waybill, "pickup", "accepted", t(march("02T09:00:00")), 1, "accepted"),
        (waybill, "pickup", "picked_up", t(march("02T10:00:00")), 1, "picked_up"),
        (waybill, "pickup", "in_transit", t(march("02T14:00:00")), 1, "in_transit"),
        (waybill, "pickup", "delivered", t(march("03T09:00:00")), 1, "delivered"),
        (delivery, "delivery", "accepted", t(march("04T14:00:00")), 1, "accepted"),
        (delivery, "delivery", "delivered", t(march("05T09:00:00")), 1, "delivered"),
    ]
    assert await desk.routing_state(code) == (10, "closed")  # the pickup's `delivered` closed nothing

    e = await desk.explain(code)
    assert leg(e) == [
        ("pickup", "delivered", march("02T10:00:00"), march("03T09:30:00"), 7.5, None),
        ("delivery", "delivered", march("04T14:00:00"), march("05T09:00:00"), 4.5, None),
    ]
    assert e["received_at"] == march("03T09:30:00") and e["stages"][0]["start"] == march("03T09:30:00")
    assert [s["postal_hours"] for s in e["stages"]] == [0.0, 0.0]
    assert e["end_to_end"] == {
        "from": march("02T10:00:00"), "to": march("05T09:00:00"), "via": "postal",
        "working_hours": 23.0, "elapsed_days": round(71 / 24, 4), "pickup_hours": 7.5,
        "to_result_hours": 9.5, "after_result_hours": 6.0, "postal_hours": 12.0, "postal_charged_to": None,
    }  # fmt: skip
    assert desk.overdue() == [], [(b["dossier_code"], b["data"]) for b in desk.overdue()]
    assert len(desk.rejections()) == 1  # only the refusals provoked above


# ---- the report --------------------------------------------------------------------------------------------


async def test_the_report_judges_agencies_at_the_result_and_shows_the_citizens_wait_with_delivery(desk):
    """April's dossiers only (the report dates finished dossiers by their result): one delivered
    by post a day after its result, one handed out at the counter."""
    by_post = await desk.submit(COMMUNE, april("06T08:00:00"), NO_RETURN_STAGE, return_method="postal",
                                delivery_address=address("1F"))  # fmt: skip
    at_counter = await desk.submit(COMMUNE_2, april("06T08:00:00"), NO_RETURN_STAGE)
    for code, commune in ((by_post, COMMUNE), (at_counter, COMMUNE_2)):
        await desk.act(commune, "stage_completed", code, april("06T10:00:00"), outcome="forward")
    for code in (by_post, at_counter):
        await desk.act(LABOUR, "stage_completed", code, april("08T10:00:00"), outcome="result_ready")
    waybill = (await desk.order(by_post, 1))["data"]["waybill"]
    await desk.status(waybill, "accepted", april("08T14:00:00"))
    await desk.status(waybill, "delivered", april("09T10:00:00"))
    await desk.act(COMMUNE_2, "result_returned", at_counter, april("08T15:00:00"))
    await desk.returned(by_post)
    await desk.returned(at_counter)

    report = await desk.lienthong("report", "--from", "2026-04-01", "--to", "2026-04-30")
    explained = {code: await desk.explain(code) for code in (by_post, at_counter)}
    # The agencies' verdict: both results on time (08/04 10:00, due 08/04 10:00 at the labour office).
    assert (report["finished_on_time"], report["finished_late"], report["on_time_rate"]) == (2, 0, 1.0)
    assert report["lateness"] == []
    # The citizen's wait, from the receipt to the result in hand (April: 07:30-11:30, 13:30-17:30).
    post, counter = (explained[c]["end_to_end"] for c in (by_post, at_counter))
    assert (post["working_hours"], post["after_result_hours"], post["postal_hours"]) == (26.0, 8.0, 6.0)
    assert (counter["working_hours"], counter["after_result_hours"], counter["postal_hours"]) == (21.0, 3.0, 0.0)
    assert post["to_result_hours"] == counter["to_result_hours"] == 18.0
    figures = report["end_to_end"]
    assert (figures["returned"], figures["mean_working_hours"], figures["median_working_hours"]) == (2, 23.5, 23.5)
    assert (figures["max_working_hours"], figures["mean_postal_hours"], figures["mean_to_result_hours"]) == (
        26.0, 3.0, 18.0
    )  # fmt: skip
    assert figures["mean_elapsed_days"] == round((post["elapsed_days"] + counter["elapsed_days"]) / 2, 4)
    assert [
        (x["via"], x["returned"], x["mean_working_hours"], x["mean_postal_hours"]) for x in figures["by_return"]
    ] == [
        ("counter", 1, 21.0, 0.0),
        ("postal", 1, 26.0, 6.0),
    ]
    assert desk.overdue() == [], [(b["dossier_code"], b["data"]) for b in desk.overdue()]
    assert len(desk.rejections()) == 0  # only the refusals provoked above
