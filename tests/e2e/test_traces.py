"""Traces end to end: the four service processes export by OTLP/HTTP (the standard OTEL_*
variables) to a real receiver in the test, which decodes the protobuf. One dossier goes late at
its district stage, pauses for a supplement and has its result delivered by the post; another
stays open. Their traces must be exactly the business story of CONTRACT.md §4, on business time,
under the trace id derived from the code, each span once although the deadline service restarts
mid-way and inputs and facts are delivered twice."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections import Counter
from datetime import datetime

import pytest

from shared.contracts import subjects
from shared.sim.driver import settle
from tests.factories import submitted_data
from tests.otlp_receiver import ReceivedSpan
from tests.support import collect, connect, envelope, poll_until, publish_agency

pytestmark = pytest.mark.e2e

COMMUNE, LABOUR, PROVINCE_DEPT = "T01.00.01.X99", "T01.31.00.X99", "T00.05.00.X99"
DOSSIER_SCOPE, MESSAGE_SCOPE = "lienthong.dossier", "lienthong.messaging"


def march(text: str) -> str:
    return f"2026-03-{text}+07:00"


def ns(text: str) -> int:
    """Nanoseconds since the epoch of a business time (whole seconds: exact)."""
    return int(datetime.fromisoformat(march(text)).timestamp()) * 1_000_000_000


def trace_of(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).digest()[:16].hex()


def dossier_spans(spans: list[ReceivedSpan], code: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.scope == DOSSIER_SCOPE and s.attributes.get("lienthong.dossier.code") == code]


def one(spans: list[ReceivedSpan], name: str, parent: ReceivedSpan | None = None) -> ReceivedSpan:
    found = [s for s in spans if s.name == name and (parent is None or s.parent_span_id == parent.span_id)]
    assert len(found) == 1, (name, [(s.name, s.parent_span_id) for s in spans])
    return found[0]


def times(span: ReceivedSpan) -> tuple[int, int]:
    return span.start_time_unix_nano, span.end_time_unix_nano


class Driver:
    def __init__(self, nc, js) -> None:
        self.nc, self.js = nc, js

    async def submit(self, when: str, procedure: str, **extra) -> str:
        return await self.submit_data(when, submitted_data(procedure, **extra))

    async def submit_data(self, when: str, data: dict) -> str:
        body = envelope("submitted", COMMUNE, march(when), data)
        reply = await self.nc.request(subjects.RPC_INTAKE_SUBMIT, json.dumps(body).encode(), timeout=15)
        answer = json.loads(reply.data)
        assert answer["ok"], answer
        return answer["dossier_code"]

    async def act(self, agency: str, action: str, code: str, when: str, **data) -> dict:
        await self.tick(when)  # as the agency systems would: never ahead of the services' clock
        body = envelope(action, agency, march(when), data, dossier_code=code)
        await publish_agency(self.js, agency, body)
        return body

    async def shipment(self, waybill: str, status: str, when: str) -> None:
        await self.tick(when)
        body = envelope("shipment_status", None, march(when), {"waybill": waybill, "status": status, "at": march(when)})
        await self.js.publish(subjects.in_postal("shipment_status"), json.dumps(body).encode())

    async def tick(self, when: str) -> None:
        await self.nc.publish(subjects.SIM_CLOCK, json.dumps({"now": march(when)}).encode())
        await self.nc.flush()
        await settle(self.js)

    async def settle(self) -> None:
        await settle(self.js)


@pytest.mark.timeout(180)
async def test_a_late_dossier_is_one_trace_of_its_business_story(traced_services):
    receiver = traced_services.receiver
    nc, js = await connect(traced_services.running.nats_url)
    facts = await collect(nc, "lt.evt.>")
    orders = await collect(nc, subjects.out_postal("delivery_order"))
    drive = Driver(nc, js)
    try:
        await drive.tick("02T07:30:00")
        code = await drive.submit("02T08:00:00", "9.000001", return_method="postal")
        still_open = await drive.submit("02T08:30:00", "9.000003")
        await poll_until(lambda: len(facts.of("dossier.routed")) == 2, timeout=20, message="both routed")

        await drive.act(COMMUNE, "stage_completed", still_open, "02T14:00:00", outcome="forward")
        # Stage 0 ends, stage 1 (the district's labour office) gets the papers, pauses for a supplement.
        await drive.act(COMMUNE, "stage_completed", code, "02T15:00:00", outcome="forward")
        await drive.act(LABOUR, "handoff_received", code, "03T08:00:00", stage_index=1)
        await drive.act(LABOUR, "supplement_requested", code, "04T08:00:00", reason="Thiếu giấy xác nhận")
        resumed = await drive.act(COMMUNE, "supplement_received", code, "04T12:00:00")
        await drive.settle()

        # Stage 1 was due on 09/03 09:00 (32 working hours + 3.5 paused): the clock passes it while
        # the stage still runs, and its marker reaches the exporter before the stage ends.
        await drive.tick("10T08:00:00")
        marker = await receiver.until(
            lambda spans: [s for s in dossier_spans(spans, code) if s.name == "overdue stage"], timeout=20
        )
        assert not [s for s in dossier_spans(receiver.snapshot(), code) if s.name == "stage 1"]
        assert marker[0].attributes["lienthong.stage.index"] == 1
        assert marker[0].attributes["lienthong.overdue"] is True

        # Redelivery: the deadline service restarts mid-way; an agency's input comes twice (a
        # fresh Nats-Msg-Id, so only routing's inbox sees the repeat); a fact comes twice on LT_EVT.
        traced_services.restart("deadline")
        await publish_agency(js, COMMUNE, {**resumed})  # same event_id
        await js.publish(
            subjects.in_agency(COMMUNE, "supplement_received"),
            json.dumps(resumed, ensure_ascii=False).encode(),
            headers={"Nats-Msg-Id": str(uuid.uuid4())},
        )
        routed = next(b for b in facts.of("dossier.routed") if b["dossier_code"] == code)
        await js.publish(
            subjects.fact("dossier", "routed"), json.dumps(routed).encode(), headers={"Nats-Msg-Id": str(uuid.uuid4())}
        )

        await drive.act(LABOUR, "stage_completed", code, "10T10:00:00", outcome="forward")
        await drive.act(PROVINCE_DEPT, "handoff_received", code, "10T14:00:00", stage_index=2)
        await drive.act(PROVINCE_DEPT, "stage_completed", code, "11T10:00:00", outcome="result_ready")
        await drive.act(COMMUNE, "handoff_received", code, "11T14:00:00", stage_index=3)
        order = await poll_until(
            lambda: [o for o in orders.messages if o[1].get("dossier_code") == code], timeout=20, message="order"
        )
        waybill = order[0][1]["data"]["waybill"]
        await drive.shipment(waybill, "accepted", "11T15:00:00")
        await drive.shipment(waybill, "picked_up", "11T16:00:00")
        await drive.shipment(waybill, "in_transit", "12T08:00:00")
        await drive.shipment(waybill, "delivered", "12T10:00:00")
        await poll_until(
            lambda: [b for b in facts.of("dossier.returned") if b["dossier_code"] == code],
            timeout=20,
            message="returned",
        )
        await drive.tick("13T08:00:00")
        await receiver.until(lambda spans: [s for s in dossier_spans(spans, code) if s.name == "dossier"], timeout=20)
        await asyncio.sleep(1.0)  # the last message spans (batch delay 200 ms)
    finally:
        await nc.close()

    spans = receiver.snapshot()
    trace = trace_of(code)
    ours = dossier_spans(spans, code)

    # One trace, each span once (restart, duplicate inputs and facts notwithstanding).
    assert {s.trace_id for s in ours} == {trace}
    assert [k for k, n in Counter((s.trace_id, s.span_id) for s in spans).items() if n > 1] == []
    assert Counter(s.name for s in ours) == {
        "dossier": 1, "stage 0": 1, "stage 1": 1, "stage 2": 1, "stage 3": 1, "handoff": 3, "processing": 4,
        "pause supplement": 1, "overdue stage": 1, "postal delivery": 1,
    }  # fmt: skip
    assert {s.service for s in ours} == {"deadline"}

    root = one(ours, "dossier")
    assert root.parent_span_id == ""
    assert times(root) == (ns("02T08:00:00"), ns("12T10:00:00"))
    assert root.attributes["lienthong.late"] is False
    assert root.attributes["lienthong.procedure.code"] == "9.000001"
    assert root.attributes["lienthong.agency.code"] == COMMUNE
    assert root.attributes["lienthong.dossier.status"] == "returned"
    assert [(e.name, e.time_unix_nano) for e in root.events] == [("result_ready", ns("11T10:00:00"))]

    stages = {i: one(ours, f"stage {i}", root) for i in range(4)}
    assert [times(stages[i]) for i in range(4)] == [
        (ns("02T08:00:00"), ns("02T15:00:00")),
        (ns("02T15:00:00"), ns("10T10:00:00")),
        (ns("10T10:00:00"), ns("11T10:00:00")),
        (ns("11T10:00:00"), ns("12T10:00:00")),
    ]
    expected_agency = [(COMMUNE, "commune"), (LABOUR, "district"), (PROVINCE_DEPT, "province"), (COMMUNE, "commune")]
    for i, stage in stages.items():
        a = stage.attributes
        assert (a["lienthong.stage.index"], a["lienthong.stage.kind"]) == (i, "processing")
        assert (a["lienthong.agency.code"], a["lienthong.agency.level"]) == expected_agency[i]
        assert a["lienthong.dossier.code"] == code and a["lienthong.procedure.code"] == "9.000001"
        assert {"lienthong.budget.hours", "lienthong.used.hours", "lienthong.overrun.hours", "lienthong.late"} <= set(a)
    assert [stages[i].attributes["lienthong.budget.hours"] for i in range(4)] == [8.0, 32.0, 32.0, 8.0]
    late = stages[1].attributes
    assert (late["lienthong.late"], late["lienthong.overrun.hours"], late["lienthong.used.hours"]) == (True, 9.0, 41.0)
    assert late["lienthong.paused.hours"] == 3.5
    for i in (0, 2, 3):
        assert (stages[i].attributes["lienthong.late"], stages[i].attributes["lienthong.overrun.hours"]) == (False, 0.0)

    # Inside the late stage: the hand-off wait, the agency's processing, the pause, the marker.
    handoff = one(ours, "handoff", stages[1])
    assert times(handoff) == (ns("02T15:00:00"), ns("03T08:00:00"))
    assert handoff.attributes["lienthong.stage.kind"] == "handoff"
    assert handoff.attributes["lienthong.used.hours"] == 2.5  # 15:00-17:00, 07:30-08:00
    assert times(one(ours, "processing", stages[1])) == (ns("03T08:00:00"), ns("10T10:00:00"))
    pause = one(ours, "pause supplement", stages[1])
    assert times(pause) == (ns("04T08:00:00"), ns("04T12:00:00"))
    assert (pause.attributes["lienthong.stage.kind"], pause.attributes["lienthong.pause.kind"]) == (
        "pause",
        "supplement",
    )
    assert pause.attributes["lienthong.used.hours"] == 3.5
    overdue = one(ours, "overdue stage", stages[1])
    assert times(overdue) == (ns("09T09:00:00"), ns("10T08:00:00"))
    assert overdue.attributes["lienthong.overdue.hours"] == 7.0
    assert [e.name for e in overdue.events] == ["deadline.overdue"]
    assert overdue.request_seq < stages[1].request_seq, "the marker was exported before the stage ended"
    assert times(one(ours, "handoff", stages[2])) == (ns("10T10:00:00"), ns("10T14:00:00"))
    assert times(one(ours, "handoff", stages[3])) == (ns("11T10:00:00"), ns("11T14:00:00"))
    assert times(one(ours, "processing", stages[0])) == (ns("02T08:00:00"), ns("02T15:00:00"))

    postal = one(ours, "postal delivery", root)
    assert times(postal) == (ns("11T15:00:00"), ns("12T10:00:00"))
    assert postal.attributes["lienthong.stage.kind"] == "postal"
    assert postal.attributes["lienthong.postal.status"] == "delivered"
    assert stages[3].attributes["lienthong.postal.hours"] > 0

    # The dossier still open (3 working days, long past): its ended stage is in its own trace
    # already, and markers show its running stage and the dossier overdue; no root yet.
    other = dossier_spans(spans, still_open)
    assert {s.trace_id for s in other} == {trace_of(still_open)} != {trace}
    assert sorted(s.name for s in other) == ["overdue dossier", "overdue stage", "processing", "stage 0"]
    assert one(other, "overdue stage").attributes["lienthong.stage.index"] == 1
    assert one(other, "overdue dossier").parent_span_id == one(other, "stage 0").parent_span_id

    # Per-message spans: each service's consumers, linked to the dossier's root span.
    linked = [s for s in spans if s.scope == MESSAGE_SCOPE and s.attributes.get("lienthong.dossier.code") == code]
    assert linked, "no message span names the dossier"
    for s in linked:
        assert s.trace_id != trace  # their own traces, with a link to the dossier's
        assert [(lk.trace_id, lk.span_id) for lk in s.links] == [(trace, root.span_id)]
        assert s.attributes["messaging.system"] == "nats"
        assert s.name == f"process {s.attributes['messaging.destination.name']}"
    consumers = {s.attributes.get("messaging.consumer.group.name") for s in linked}
    assert {"routing", "deadline", "postal"} <= consumers, consumers
    assert any(s.attributes["messaging.destination.name"].endswith(".stage_completed") for s in linked)
    assert "Traceback" not in traced_services.running.log_text()
