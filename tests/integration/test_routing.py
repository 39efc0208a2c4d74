"""Routing against the real NATS and PostgreSQL, with intake in front of it."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from services.intake.app import build_runtime as build_intake
from services.routing.app import build_runtime as build_routing
from shared.contracts import subjects
from tests.factories import submitted_data
from tests.harness import running, settings_for
from tests.support import collect, connect, envelope, poll_until, publish_agency

pytestmark = pytest.mark.integration

COMMUNE, LABOUR, PROVINCE_DEPT = "T01.00.01.X99", "T01.31.00.X99", "T00.05.00.X99"


@pytest.fixture
async def pipeline(fresh_streams: str, database_url: str):
    settings = settings_for(fresh_streams, database_url)
    async with running(build_intake, settings), running(build_routing, settings) as routing:
        nc, js = await connect(fresh_streams)
        yield routing, nc, js
        await nc.close()


async def submit(nc, when: str = "2026-03-02T08:00:00+07:00", procedure: str = "9.000001") -> str:
    body = envelope("submitted", COMMUNE, when, submitted_data(procedure))
    reply = json.loads((await nc.request(subjects.RPC_INTAKE_SUBMIT, json.dumps(body).encode(), timeout=5)).data)
    assert reply["ok"], reply
    return reply["dossier_code"]


async def act(js, agency: str, action: str, code: str, when: str, event_id: str | None = None, **data):
    body = envelope(action, agency, when, data, dossier_code=code, event_id=event_id)
    await publish_agency(js, agency, body)
    return body


async def test_a_dossier_goes_from_commune_to_province_and_back_with_every_fact_and_assignment(pipeline):
    _, nc, js = pipeline
    facts = await collect(nc, "lt.evt.dossier.>")
    out = await collect(nc, "lt.out.>")
    code = await submit(nc)
    await poll_until(lambda: facts.of(".routed"), message="routed")
    await act(js, COMMUNE, "stage_completed", code, "2026-03-02T15:00:00+07:00", outcome="forward")
    await act(js, LABOUR, "handoff_received", code, "2026-03-03T08:00:00+07:00")
    await act(js, LABOUR, "stage_completed", code, "2026-03-05T10:00:00+07:00", outcome="forward")
    await act(js, PROVINCE_DEPT, "handoff_received", code, "2026-03-06T09:00:00+07:00")
    await act(js, PROVINCE_DEPT, "stage_completed", code, "2026-03-10T10:00:00+07:00", outcome="result_ready")
    await act(js, COMMUNE, "handoff_received", code, "2026-03-10T14:00:00+07:00")
    await act(js, COMMUNE, "result_returned", code, "2026-03-11T09:00:00+07:00")
    await poll_until(lambda: facts.of(".returned"), message="returned")
    ours = [(s.split(".")[-1], b["data"].get("seq")) for s, b in facts.messages if b["dossier_code"] == code]
    assert ours == [
        ("received", None),
        ("routed", 1),
        ("stage_completed", 2),
        ("handoff_sent", 3),
        ("handoff_received", 4),
        ("stage_completed", 5),
        ("handoff_sent", 6),
        ("handoff_received", 7),
        ("stage_completed", 8),
        ("result_ready", 9),
        ("handoff_sent", 10),
        ("handoff_received", 11),
        ("stage_completed", 12),
        ("returned", 13),
    ]
    sent = facts.of(".handoff_sent")
    assert [b["data"]["to_agency"] for b in sent] == [LABOUR, PROVINCE_DEPT, COMMUNE]
    assert sent[0]["data"]["due_at"] == "2026-03-06T15:00:00+07:00"
    assigned = [(s, b["data"]["stage_index"], b["data"]["purpose"]) for s, b in out.messages if s.endswith(".assigned")]
    assert assigned == [
        (subjects.out_agency(LABOUR, "assigned"), 1, "process"),
        (subjects.out_agency(PROVINCE_DEPT, "assigned"), 2, "process"),
        (subjects.out_agency(COMMUNE, "assigned"), 3, "return"),
    ]
    assert not out.of(".input_rejected")


async def test_each_refusal_rule_answers_the_agency_with_its_reason(pipeline):
    _, nc, js = pipeline
    facts = await collect(nc, "lt.evt.dossier.routed")
    out = await collect(nc, "lt.out.>")
    code = await submit(nc)
    await poll_until(lambda: facts.messages, message="routed")
    wrong_holder = await act(js, LABOUR, "stage_completed", code, "2026-03-02T15:00:00+07:00", outcome="forward")
    too_early = await act(js, COMMUNE, "stage_completed", code, "2026-03-02T15:00:00+07:00", outcome="result_ready")
    no_result = await act(js, COMMUNE, "result_returned", code, "2026-03-02T16:00:00+07:00")
    await poll_until(lambda: len(out.of(".input_rejected")) == 3, message="three refusals")
    reasons = {b["data"]["refused_event_id"]: b["data"]["reason"] for b in out.of(".input_rejected")}
    assert reasons[wrong_holder["event_id"]].startswith(f"dossier {code} is held by {COMMUNE} (stage 0), not {LABOUR}")
    assert "only allowed on the plan's last processing stage" in reasons[too_early["event_id"]]
    assert "has no result yet" in reasons[no_result["event_id"]]
    assert out.subjects()[0].startswith(f"lt.out.agency.{LABOUR.replace('.', '_')}.")


async def test_the_same_event_twice_has_the_effect_of_one(pipeline):
    _, nc, js = pipeline
    facts = await collect(nc, "lt.evt.dossier.>")
    code = await submit(nc)
    await poll_until(lambda: facts.of(".routed"), message="routed")
    event_id = str(uuid.uuid4())
    body = envelope("stage_completed", COMMUNE, "2026-03-02T15:00:00+07:00", {"outcome": "forward"}, code, event_id)
    for _ in range(2):  # a fresh Nats-Msg-Id each time, so only our inbox can catch the repeat
        await js.publish(
            subjects.in_agency(COMMUNE, "stage_completed"),
            json.dumps(body).encode(),
            headers={"Nats-Msg-Id": str(uuid.uuid4())},
        )
    await poll_until(lambda: facts.of(".handoff_sent"), message="handoff_sent")
    await asyncio.sleep(0.7)
    assert len(facts.of(".handoff_sent")) == 1 and len(facts.of(".stage_completed")) == 1


async def test_an_event_for_an_unknown_dossier_is_refused_after_retries(pipeline):
    _, nc, js = pipeline
    out = await collect(nc, "lt.out.>")
    code = f"{COMMUNE}-260302-9999"
    body = await act(js, COMMUNE, "stage_completed", code, "2026-03-02T15:00:00+07:00", outcome="forward")
    rejected = await poll_until(lambda: out.of(".input_rejected"), timeout=40, message="refusal")
    assert rejected[0]["data"]["refused_event_id"] == body["event_id"]
    assert rejected[0]["data"]["reason"] == f"dossier_code: unknown dossier '{code}'"


async def test_two_routing_instances_never_corrupt_one_dossier(fresh_streams: str, database_url: str):
    """Two consumers on the same durable race on one dossier. Competing consumers do not keep a
    dossier's order, so an event may be refused (e.g. a completion while paused), but every event
    is applied or refused exactly once and each dossier's facts stay a gapless sequence."""
    settings = settings_for(fresh_streams, database_url)
    async with running(build_intake, settings), running(build_routing, settings), running(build_routing, settings):
        nc, js = await connect(fresh_streams)
        facts = await collect(nc, "lt.evt.dossier.>")
        out = await collect(nc, "lt.out.>")
        codes = [await submit(nc, procedure="9.000002") for _ in range(20)]
        await poll_until(lambda: len(facts.of(".routed")) == 20, message="20 routed")
        for code in codes:  # forward, receive (auto), supplement, then an apology, all at once
            await act(js, COMMUNE, "stage_completed", code, "2026-03-02T09:00:00+07:00", outcome="forward")
            await act(js, COMMUNE, "supplement_requested", code, "2026-03-02T10:00:00+07:00")
            await act(js, COMMUNE, "supplement_received", code, "2026-03-03T10:00:00+07:00")

        def accounted() -> bool:
            accepted = len(facts.of(".stage_completed")) + len(facts.of(".paused")) + len(facts.of(".resumed"))
            return accepted + len(out.of(".input_rejected")) == 60

        await poll_until(accounted, timeout=60, message="every event applied or refused")
        await asyncio.sleep(0.5)
        assert accounted()  # and nothing twice
        for code in codes:
            seqs = [b["data"]["seq"] for _, b in facts.messages if b["dossier_code"] == code and "seq" in b["data"]]
            assert sorted(seqs) == list(range(1, len(seqs) + 1)), (code, seqs)
        await nc.close()
