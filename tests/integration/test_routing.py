"""Routing against the real NATS and PostgreSQL, with intake in front of it: a dossier's whole
route, fact by fact and assignment by assignment; the post's delivery; duplicates."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg
import pytest

from services.intake.app import build_runtime as build_intake
from services.routing.app import build_runtime as build_routing
from shared.contracts import subjects
from tests.factories import submitted_data
from tests.harness import running, settings_for
from tests.support import collect, connect, envelope, poll_until, publish_agency

pytestmark = pytest.mark.integration

COMMUNE, LABOUR, PROVINCE_DEPT, PROVINCE = "T01.00.01.X99", "T01.31.00.X99", "T00.05.00.X99", "T00.00.00.X99"


def march(text: str) -> str:
    return f"2026-03-{text}+07:00"


@pytest.fixture
async def pipeline(fresh_streams: str, database_url: str):
    settings = settings_for(fresh_streams, database_url)
    async with running(build_intake, settings), running(build_routing, settings) as routing:
        nc, js = await connect(fresh_streams)
        yield routing, nc, js, database_url
        await nc.close()


async def submit(nc, when: str = march("02T08:00:00"), procedure: str = "9.000001", **extra) -> str:
    body = envelope("submitted", COMMUNE, when, submitted_data(procedure, **extra))
    reply = json.loads((await nc.request(subjects.RPC_INTAKE_SUBMIT, json.dumps(body).encode(), timeout=5)).data)
    assert reply["ok"], reply
    return reply["dossier_code"]


async def act(js, agency: str, action: str, code: str, when: str, event_id: str | None = None, **data) -> dict:
    body = envelope(action, agency, when, data, dossier_code=code, event_id=event_id)
    await publish_agency(js, agency, body)
    return body


def facts_of(collector, code: str) -> list[tuple[str, dict]]:
    return [(s.rsplit(".", 1)[-1], b) for s, b in collector.messages if b.get("dossier_code") == code]


async def test_a_dossier_goes_from_commune_to_province_and_back_with_every_fact_and_assignment(pipeline):
    _, nc, js, database_url = pipeline
    facts = await collect(nc, "lt.evt.dossier.>")
    out = await collect(nc, "lt.out.>")
    code = await submit(nc)
    await poll_until(lambda: facts.of(".routed"), message="routed")
    await act(js, COMMUNE, "stage_completed", code, march("02T15:00:00"), outcome="forward")
    await act(js, LABOUR, "handoff_received", code, march("03T08:00:00"), stage_index=1)
    await act(js, LABOUR, "supplement_requested", code, march("04T08:00:00"), reason="Thiếu giấy xác nhận")
    await act(js, COMMUNE, "supplement_received", code, march("04T12:00:00"))
    await act(js, LABOUR, "stage_completed", code, march("05T10:00:00"), outcome="forward")
    # The province's receipt message never comes: its completion proves it (inferred receipt).
    await act(js, PROVINCE_DEPT, "stage_completed", code, march("10T10:00:00"), outcome="result_ready")
    await act(js, COMMUNE, "handoff_received", code, march("10T14:00:00"))
    await act(js, COMMUNE, "result_returned", code, march("11T09:00:00"))
    await poll_until(lambda: facts.of(".returned"), message="returned")

    ours = facts_of(facts, code)
    assert [(t, b["data"].get("seq"), b["agency"], b["occurred_at"]) for t, b in ours] == [
        ("received", None, COMMUNE, march("02T08:00:00")),
        ("routed", 1, COMMUNE, march("02T08:00:00")),
        ("stage_completed", 2, COMMUNE, march("02T15:00:00")),
        ("handoff_sent", 3, LABOUR, march("02T15:00:00")),
        ("handoff_received", 4, LABOUR, march("03T08:00:00")),
        ("paused", 5, LABOUR, march("04T08:00:00")),
        ("resumed", 6, LABOUR, march("04T12:00:00")),
        ("rescheduled", 7, LABOUR, march("04T12:00:00")),
        ("stage_completed", 8, LABOUR, march("05T10:00:00")),
        ("handoff_sent", 9, PROVINCE_DEPT, march("05T10:00:00")),
        ("handoff_received", 10, PROVINCE_DEPT, march("10T10:00:00")),
        ("stage_completed", 11, PROVINCE_DEPT, march("10T10:00:00")),
        ("result_ready", 12, PROVINCE_DEPT, march("10T10:00:00")),
        ("handoff_sent", 13, COMMUNE, march("10T10:00:00")),
        ("handoff_received", 14, COMMUNE, march("10T14:00:00")),
        ("stage_completed", 15, COMMUNE, march("11T09:00:00")),
        ("returned", 16, COMMUNE, march("11T09:00:00")),
    ]
    data = [b["data"] for _, b in ours]
    routed = data[1]
    assert [(s["index"], s["agency"], s["role"], s["budget_hours"]) for s in routed["stages"]] == [
        (0, COMMUNE, "receive", 8),
        (1, LABOUR, "process", 32),
        (2, PROVINCE_DEPT, "decide", 32),
        (3, COMMUNE, "return", 8),
    ]
    assert [s["planned_due"] for s in routed["stages"]] == [
        march("03T08:00:00"),
        march("09T08:00:00"),
        march("13T08:00:00"),
        march("16T08:00:00"),
    ]
    sent = [d for (t, _), d in zip(ours, data, strict=True) if t == "handoff_sent"]
    assert [(d["stage_index"], d["from_agency"], d["to_agency"], d["due_at"]) for d in sent] == [
        (1, COMMUNE, LABOUR, march("06T15:00:00")),
        (2, LABOUR, PROVINCE_DEPT, march("11T10:00:00")),
        (3, PROVINCE_DEPT, COMMUNE, march("11T10:00:00")),
    ]
    received = [d for (t, _), d in zip(ours, data, strict=True) if t == "handoff_received"]
    assert [(d["stage_index"], d["inferred"]) for d in received] == [(1, False), (2, True), (3, False)]
    assert (data[6]["paused_hours"], data[6]["policy"]) == (3.5, "pause")
    assert (data[7]["cause"], data[7]["appointment_at"]) == ("pause", march("16T11:30:00"))
    assert (data[12]["late"], data[12]["appointment_at"], data[12]["return_method"]) == (
        False,
        march("16T11:30:00"),
        "counter",
    )
    assert (data[16]["via"], data[16]["returned_at"]) == ("counter", march("11T09:00:00"))

    assigned = [(s, b) for s, b in out.messages if s.endswith(".assigned")]
    assert [(s, b["dossier_code"], b["agency"], b["occurred_at"]) for s, b in assigned] == [
        (subjects.out_agency(LABOUR, "assigned"), code, LABOUR, march("02T15:00:00")),
        (subjects.out_agency(PROVINCE_DEPT, "assigned"), code, PROVINCE_DEPT, march("05T10:00:00")),
        (subjects.out_agency(COMMUNE, "assigned"), code, COMMUNE, march("10T10:00:00")),
    ]
    assert [
        (b["data"]["stage_index"], b["data"]["purpose"], b["data"]["budget_hours"], b["data"]["due_at"])
        for _, b in assigned
    ] == [
        (1, "process", 32, march("06T15:00:00")),
        (2, "process", 32, march("11T10:00:00")),
        (3, "return", 8, march("11T10:00:00")),
    ]
    assert not out.of(".input_rejected")

    db = await asyncpg.connect(database_url)
    try:
        row = await db.fetchrow("SELECT status, sub_state, holder, seq FROM routing.dossiers WHERE code = $1", code)
        assert tuple(row) == (10, "closed", None, 16)
        stages = await db.fetch(
            "SELECT stage_index, agency, due_at, received_inferred, outcome, paused_seconds FROM routing.stages "
            "WHERE dossier_code = $1 ORDER BY stage_index",
            code,
        )
        assert [(r["stage_index"], r["agency"], r["received_inferred"], r["outcome"]) for r in stages] == [
            (0, COMMUNE, False, "forward"),
            (1, LABOUR, False, "forward"),
            (2, PROVINCE_DEPT, True, "result_ready"),
            (3, COMMUNE, False, "returned"),
        ]
        assert stages[1]["paused_seconds"] == 3.5 * 3600
        assert stages[1]["due_at"].isoformat() == "2026-03-09T02:00:00+00:00"  # 09:00 in Vietnam
        pauses = await db.fetch(
            "SELECT kind, stage_index, paused_seconds FROM routing.pauses WHERE dossier_code = $1", code
        )
        assert [tuple(p) for p in pauses] == [("supplement", 1, 12600)]
    finally:
        await db.close()


async def test_the_posts_delivery_of_the_result_returns_the_dossier(pipeline):
    _, nc, js, _ = pipeline
    facts = await collect(nc, "lt.evt.dossier.>")
    code = await submit(nc, procedure="9.000003", return_method="postal")
    await poll_until(lambda: facts.of(".routed"), message="routed")
    await act(js, COMMUNE, "stage_completed", code, march("02T15:00:00"), outcome="forward")
    await act(js, LABOUR, "stage_completed", code, march("04T10:00:00"), outcome="result_ready")
    await poll_until(lambda: facts.of(".result_ready"), message="result_ready")

    async def shipment(status: str, when: str) -> None:
        body = envelope(
            "shipment_updated",
            COMMUNE,
            march(when),
            {"waybill": "EB000000001VN", "direction": "delivery", "status": status, "at": march(when)},
            dossier_code=code,
        )
        await js.publish(subjects.fact("postal", "shipment_updated"), json.dumps(body).encode())

    await shipment("in_transit", "05T08:00:00")
    await shipment("delivered", "05T10:00:00")
    returned = await poll_until(lambda: facts.of(".returned"), message="returned")
    assert returned[0]["data"] == {"seq": 7, "returned_at": march("05T10:00:00"), "via": "postal"}
    assert returned[0]["occurred_at"] == march("05T10:00:00")
    assert facts.of(".result_ready")[0]["data"]["return_method"] == "postal"


async def test_the_same_event_twice_has_the_effect_of_one(pipeline):
    _, nc, js, database_url = pipeline
    facts = await collect(nc, "lt.evt.dossier.>")
    out = await collect(nc, "lt.out.>")
    code = await submit(nc)
    await poll_until(lambda: facts.of(".routed"), message="routed")
    body = envelope("stage_completed", COMMUNE, march("02T15:00:00"), {"outcome": "forward"}, code, str(uuid.uuid4()))
    for _ in range(2):  # a fresh Nats-Msg-Id each time, so only routing's inbox can catch the repeat
        await js.publish(
            subjects.in_agency(COMMUNE, "stage_completed"),
            json.dumps(body).encode(),
            headers={"Nats-Msg-Id": str(uuid.uuid4())},
        )
    received_fact = facts.of(".received")[0]
    await js.publish(  # intake's fact delivered again: still one plan
        subjects.fact("dossier", "received"), json.dumps(received_fact).encode(), headers={"Nats-Msg-Id": "again"}
    )
    await poll_until(lambda: facts.of(".handoff_sent"), message="handoff_sent")
    await asyncio.sleep(1.0)
    seen = sorted(t for t, _ in facts_of(facts, code))
    assert seen == ["handoff_sent", "received", "received", "routed", "stage_completed"]
    assert len(out.of(".assigned")) == 1 and not out.of(".input_rejected")
    db = await asyncpg.connect(database_url)
    try:
        assert await db.fetchval("SELECT seq FROM routing.dossiers WHERE code = $1", code) == 3
    finally:
        await db.close()
