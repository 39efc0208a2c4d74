"""Routing's answers to input it cannot accept, over the real NATS and PostgreSQL: every refusal
goes back to the sending agency with its precise reason; unknown dossiers are waited for, then
refused; intake's and postal's actions are left alone; unreadable facts are dead-lettered."""

from __future__ import annotations

import json
import time

import asyncpg
import pytest

from services.routing.app import build_runtime as build_routing
from shared.contracts import subjects
from tests.harness import running, settings_for
from tests.integration.test_routing import COMMUNE, LABOUR, act, march, pipeline, submit  # noqa: F401 (fixture)
from tests.support import collect, connect, envelope, poll_until

pytestmark = pytest.mark.integration


@pytest.fixture
async def routing_alone(fresh_streams: str, database_url: str):
    async with running(build_routing, settings_for(fresh_streams, database_url)) as routing:
        nc, js = await connect(fresh_streams)
        yield routing, nc, js, database_url
        await nc.close()


def received_fact(code: str, event_id: str) -> dict:
    """`dossier.received` as intake publishes it (9.000001, Monday 2 March 2026, 08:00)."""
    return envelope(
        "received",
        COMMUNE,
        march("02T08:00:00"),
        {
            "procedure": "9.000001",
            "receiving_agency": COMMUNE,
            "channel": "counter",
            "return_method": "counter",
            "received_at": march("02T08:00:00"),
            "counting_from": march("02T08:00:00"),
            "appointment_at": march("16T08:00:00"),
            "total_working_days": 10,
            "external_ref": "ref-refusals",
        },
        dossier_code=code,
        event_id=event_id,
    )


async def test_each_refusal_answers_the_sending_agency_with_its_reason(pipeline):  # noqa: F811
    _, nc, js, _ = pipeline
    facts = await collect(nc, "lt.evt.dossier.>")
    out = await collect(nc, "lt.out.>")
    code = await submit(nc)
    await poll_until(lambda: facts.of(".routed"), message="routed")
    sent = {
        "wrong holder": await act(js, LABOUR, "stage_completed", code, march("02T15:00:00"), outcome="forward"),
        "too early": await act(js, COMMUNE, "stage_completed", code, march("02T15:00:00"), outcome="result_ready"),
        "no result": await act(js, COMMUNE, "result_returned", code, march("02T16:00:00")),
        "before start": await act(js, COMMUNE, "stage_completed", code, march("02T07:00:00"), outcome="forward"),
        "forwarded": await act(js, COMMUNE, "stage_completed", code, march("02T15:00:00"), outcome="forward"),
        "receipt": await act(js, LABOUR, "handoff_received", code, march("03T08:00:00")),
        "receipt again": await act(js, LABOUR, "handoff_received", code, march("03T09:00:00")),
    }
    await poll_until(lambda: len(out.of(".input_rejected")) == 5, message="five refusals")
    by_event = {b["data"]["refused_event_id"]: (s, b) for s, b in out.messages if s.endswith(".input_rejected")}
    reasons = {
        name: by_event[body["event_id"]][1]["data"]["reason"]
        for name, body in sent.items()
        if body["event_id"] in by_event
    }
    assert set(reasons) == {"wrong holder", "too early", "no result", "before start", "receipt again"}
    assert reasons["wrong holder"] == (
        f"dossier {code} is held by {COMMUNE} (stage 0), not {LABOUR}; only the holding agency may send "
        "'stage_completed'"
    )
    assert reasons["too early"] == (
        "outcome 'result_ready' is only allowed on the plan's last processing stage (2) or its return stage, "
        f"not on stage 0 (receive at {COMMUNE})"
    )
    assert reasons["no result"] == f"dossier {code} has no result yet; 'result_returned' comes after 'result_ready'"
    assert reasons["before start"] == (
        "occurred_at 2026-03-02T07:00:00+07:00 is earlier than the start of stage 0 at "
        f"{COMMUNE} (2026-03-02T08:00:00+07:00)"
    )
    assert reasons["receipt again"] == (
        f"the hand-off of stage 1 of dossier {code} to {LABOUR} was already received at 2026-03-03T08:00:00+07:00"
    )
    subject, body = by_event[sent["wrong holder"]["event_id"]]
    assert subject == subjects.out_agency(LABOUR, "input_rejected") and body["agency"] == LABOUR
    assert body["data"]["refused_subject"] == subjects.in_agency(LABOUR, "stage_completed")
    assert by_event[sent["too early"]["event_id"]][0] == subjects.out_agency(COMMUNE, "input_rejected")


async def test_malformed_agency_messages_are_refused_with_the_field_at_fault(routing_alone):
    _, nc, js, _ = routing_alone
    out = await collect(nc, "lt.out.>")
    code = f"{COMMUNE}-260302-0001"
    unknown_action = envelope("teleported", COMMUNE, march("02T09:00:00"), {}, dossier_code=code)
    await js.publish(subjects.in_agency(COMMUNE, "teleported"), json.dumps(unknown_action).encode())
    other_agency = envelope("stage_completed", LABOUR, march("02T09:00:00"), {"outcome": "forward"}, code)
    await js.publish(subjects.in_agency(COMMUNE, "stage_completed"), json.dumps(other_agency).encode())
    no_code = envelope("stage_completed", COMMUNE, march("02T09:00:00"), {"outcome": "forward"})
    await js.publish(subjects.in_agency(COMMUNE, "stage_completed"), json.dumps(no_code).encode())
    bad_outcome = envelope("stage_completed", COMMUNE, march("02T09:00:00"), {"outcome": "done"}, code)
    await js.publish(subjects.in_agency(COMMUNE, "stage_completed"), json.dumps(bad_outcome).encode())
    await poll_until(lambda: len(out.of(".input_rejected")) == 4, message="four refusals")
    reasons = {b["data"]["refused_event_id"]: b["data"]["reason"] for b in out.of(".input_rejected")}
    assert reasons[unknown_action["event_id"]] == (
        f"unknown action 'teleported' in subject '{subjects.in_agency(COMMUNE, 'teleported')}'"
    )
    assert reasons[other_agency["event_id"]] == f"agency: '{LABOUR}' does not match the subject's agency '{COMMUNE}'"
    assert reasons[no_code["event_id"]] == "dossier_code: required for every action but 'submitted'"
    assert reasons[bad_outcome["event_id"]].startswith("data.outcome: Input should be 'forward' or 'result_ready'")


async def test_intakes_and_postals_actions_are_acknowledged_without_any_answer(routing_alone):
    _, nc, js, _ = routing_alone
    out = await collect(nc, "lt.out.>")
    for action in ("submitted", "pickup_requested"):
        body = envelope(action, COMMUNE, march("02T09:00:00"), {"external_ref": "x"})
        await js.publish(subjects.in_agency(COMMUNE, action), json.dumps(body).encode())

    async def all_acknowledged() -> bool:
        info = await js.consumer_info("LT_IN", "routing")
        return info.delivered.stream_seq == 2 and info.num_ack_pending == 0 and info.num_pending == 0

    await poll_until(all_acknowledged, message="routing to acknowledge both")
    assert out.messages == []


async def test_an_event_for_an_unknown_dossier_is_retried_then_refused(routing_alone):
    _, nc, js, _ = routing_alone
    out = await collect(nc, "lt.out.>")
    code = f"{COMMUNE}-260302-9999"
    began = time.monotonic()
    body = await act(js, COMMUNE, "stage_completed", code, march("02T15:00:00"), outcome="forward")
    rejected = await poll_until(lambda: out.of(".input_rejected"), timeout=30, message="refusal")
    assert time.monotonic() - began >= 6.5  # three deliveries waited 1 s, 2 s and 4 s for the dossier
    assert rejected[0]["data"] == {
        "refused_event_id": body["event_id"],
        "refused_subject": subjects.in_agency(COMMUNE, "stage_completed"),
        "reason": f"dossier_code: unknown dossier '{code}'",
    }


async def test_an_event_that_overtakes_its_dossier_is_applied_once_the_dossier_arrives(routing_alone):
    _, nc, js, _ = routing_alone
    facts = await collect(nc, "lt.evt.dossier.>")
    code = f"{COMMUNE}-260302-0042"
    await act(js, COMMUNE, "stage_completed", code, march("02T15:00:00"), outcome="forward")
    await js.publish(subjects.fact("dossier", "received"), json.dumps(received_fact(code, "received-42")).encode())
    sent = await poll_until(lambda: facts.of(".handoff_sent"), timeout=15, message="handoff_sent")
    assert sent[0]["dossier_code"] == code and sent[0]["data"]["seq"] == 3


async def test_an_unreadable_fact_is_dead_lettered_with_its_reason(routing_alone):
    _, nc, js, database_url = routing_alone
    out = await collect(nc, "lt.out.dead_letter.>")
    fact = received_fact(f"{COMMUNE}-260302-0043", "received-43")
    fact["data"]["procedure"] = "0.000000"
    await js.publish(subjects.fact("dossier", "received"), json.dumps(fact).encode())
    await js.publish(subjects.fact("dossier", "received"), b"{not json")
    await poll_until(lambda: len(out.messages) == 2, message="two dead letters")
    assert {b["data"]["reason"].split(":")[0] for b in out.of(".routing")} == {
        "data.procedure",
        "body is not valid JSON",
    }
    db = await asyncpg.connect(database_url)
    try:
        rows = await db.fetch("SELECT consumer, reason FROM routing.dead_letters ORDER BY id")
        assert [r["consumer"] for r in rows] == ["routing", "routing"]
        assert rows[0]["reason"] == "data.procedure: '0.000000' is not in the catalog"
        assert await db.fetchval("SELECT count(*) FROM routing.dossiers") == 0
    finally:
        await db.close()


async def test_shipment_updates_other_than_a_delivered_result_are_left_to_the_post(routing_alone):
    _, nc, js, database_url = routing_alone
    out = await collect(nc, "lt.out.>")
    for direction, status, code in (
        ("pickup", "picked_up", None),  # a postal submission: its dossier does not exist yet
        ("delivery", "in_transit", f"{COMMUNE}-260302-0044"),
        ("delivery", "delivered", None),
    ):
        data = {"waybill": "EB000000002VN", "direction": direction, "status": status, "at": march("05T10:00:00")}
        body = envelope("shipment_updated", COMMUNE, march("05T10:00:00"), data, dossier_code=code)
        await js.publish(subjects.fact("postal", "shipment_updated"), json.dumps(body).encode())

    async def all_acknowledged() -> bool:
        info = await js.consumer_info("LT_EVT", "routing-postal")
        return info.delivered.stream_seq == 3 and info.num_ack_pending == 0

    await poll_until(all_acknowledged, message="routing to acknowledge the three updates")
    await poll_until(lambda: out.messages, message="one dead letter")
    assert [(s, b["data"]["reason"]) for s, b in out.messages] == [
        (subjects.dead_letter("routing"), "dossier_code: required on a delivered result")
    ]
    db = await asyncpg.connect(database_url)
    try:
        assert await db.fetchval("SELECT count(*) FROM routing.dead_letters") == 1
    finally:
        await db.close()
