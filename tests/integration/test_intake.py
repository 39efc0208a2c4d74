"""Intake against the real NATS and PostgreSQL: codes, appointments, idempotency, refusals."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg
import pytest

from services.intake.app import build_runtime
from shared.contracts import subjects
from tests.factories import submitted_data, unique_ref
from tests.harness import running, settings_for
from tests.support import collect, connect, envelope, poll_until, publish_agency

pytestmark = pytest.mark.integration

COMMUNE = "T01.00.01.X99"
OTHER_COMMUNE = "T01.00.02.X99"


@pytest.fixture
async def intake(fresh_streams: str, database_url: str):
    async with running(build_runtime, settings_for(fresh_streams, database_url)) as runtime:
        nc, js = await connect(fresh_streams)
        yield runtime, nc, js, database_url
        await nc.close()


async def test_submission_gets_a_code_and_the_exact_appointment_once_even_when_delivered_twice(intake):
    _, nc, js, _ = intake
    facts = await collect(nc, "lt.evt.>")
    body = envelope("submitted", COMMUNE, "2026-03-02T08:15:00+07:00", submitted_data("9.000001"))
    await publish_agency(js, COMMUNE, body)
    # The same event again, with another Nats-Msg-Id so that JetStream's own dedupe does not hide it.
    await js.publish(
        subjects.in_agency(COMMUNE, "submitted"), json.dumps(body).encode(), headers={"Nats-Msg-Id": str(uuid.uuid4())}
    )
    received = await poll_until(lambda: facts.of("dossier.received"), message="dossier.received")
    await asyncio.sleep(0.5)
    assert len(facts.of("dossier.received")) == 1
    fact = received[0]
    assert fact["dossier_code"] == f"{COMMUNE}-260302-0001"
    assert fact["type"] == "received"
    assert fact["data"]["appointment_at"] == "2026-03-16T08:15:00+07:00"
    assert fact["data"]["procedure"] == "9.000001"


async def test_receipt_after_the_cutoff_counts_from_the_next_working_day(intake):
    _, _, _, database_url = intake
    runtime = intake[0]
    body = envelope("submitted", COMMUNE, "2026-03-02T15:05:00+07:00", submitted_data("9.000001"))
    reply = await runtime.nc.request(subjects.RPC_INTAKE_SUBMIT, json.dumps(body).encode(), timeout=5)
    answer = json.loads(reply.data)
    assert answer["ok"] is True, answer
    assert answer["appointment_at"] == "2026-03-16T17:00:00+07:00"


async def test_rpc_submit_answers_at_once_and_is_idempotent_by_external_ref(intake):
    runtime, nc, _, _ = intake
    data = submitted_data("9.000002", return_method="postal")
    first = envelope("submitted", OTHER_COMMUNE, "2026-03-03T09:00:00+07:00", data)
    again = envelope("submitted", OTHER_COMMUNE, "2026-03-03T09:05:00+07:00", data)
    a = json.loads((await nc.request(subjects.RPC_INTAKE_SUBMIT, json.dumps(first).encode(), timeout=5)).data)
    b = json.loads((await nc.request(subjects.RPC_INTAKE_SUBMIT, json.dumps(again).encode(), timeout=5)).data)
    assert a["ok"] and b["ok"]
    assert a["dossier_code"] == b["dossier_code"] == f"{OTHER_COMMUNE}-260303-0001"
    assert b["duplicate"] is True


async def test_concurrent_submissions_get_distinct_consecutive_codes(intake):
    runtime, nc, js, database_url = intake
    facts = await collect(nc, "lt.evt.dossier.received")
    for _ in range(30):
        body = envelope("submitted", COMMUNE, "2026-03-04T10:00:00+07:00", submitted_data("9.000001"))
        await publish_agency(js, COMMUNE, body)
    replies = await asyncio.gather(
        *(
            nc.request(
                subjects.RPC_INTAKE_SUBMIT,
                json.dumps(
                    envelope("submitted", COMMUNE, "2026-03-04T10:00:00+07:00", submitted_data("9.000001"))
                ).encode(),
                timeout=10,
            )
            for _ in range(10)
        )
    )
    assert all(json.loads(r.data)["ok"] for r in replies)
    await poll_until(lambda: len(facts.messages) == 40, message="40 dossiers")
    codes = sorted(body["dossier_code"] for _, body in facts.messages)
    assert codes == [f"{COMMUNE}-260304-{n:04d}" for n in range(1, 41)]


async def test_no_personal_data_leaves_intake_in_facts(intake):
    _, nc, js, _ = intake
    facts = await collect(nc, "lt.evt.>")
    data = submitted_data("9.000001", return_method="postal")
    await publish_agency(js, COMMUNE, envelope("submitted", COMMUNE, "2026-03-05T08:00:00+07:00", data))
    await poll_until(lambda: facts.messages, message="fact")
    raw = json.dumps(facts.messages, ensure_ascii=False)
    for secret in ("Nguyễn Thị Test", "046190000001", "0905000001", "Đường Thử Nghiệm"):
        assert secret not in raw


BAD_INPUTS = [
    ("malformed JSON", b'{"event_id": "x", "type": ', "not valid JSON"),
    (
        "wrong agency",
        envelope("submitted", OTHER_COMMUNE, "2026-03-02T08:00:00+07:00", submitted_data("9.000001")),
        "does not match the subject's agency",
    ),
    (
        "unknown procedure",
        envelope("submitted", COMMUNE, "2026-03-02T08:00:00+07:00", submitted_data("0.000000")),
        "unknown procedure '0.000000'",
    ),
    (
        "naive timestamp",
        envelope("submitted", COMMUNE, "2026-03-02T08:00:00", submitted_data("9.000001")),
        "occurred_at: Input should have timezone info",
    ),
    (
        "postal return without address",
        envelope(
            "submitted",
            COMMUNE,
            "2026-03-02T08:00:00+07:00",
            submitted_data("9.000001", return_method="postal", delivery_address=None),
        ),
        "delivery_address is required when return_method is 'postal'",
    ),
    (
        "oversize body",
        envelope(
            "submitted",
            COMMUNE,
            "2026-03-02T08:00:00+07:00",
            submitted_data("9.000001", external_ref="x" * 100, note="y" * 70_000),
        ),
        "more than the 65536 allowed",
    ),
    (
        "type differs from subject",
        {**envelope("submitted", COMMUNE, "2026-03-02T08:00:00+07:00", submitted_data("9.000001")), "type": "refused"},
        "does not match the subject's action",
    ),
    (
        "bad channel",
        envelope("submitted", COMMUNE, "2026-03-02T08:00:00+07:00", submitted_data("9.000001", channel="fax")),
        "data.channel",
    ),
]


@pytest.mark.parametrize(("case", "body", "reason"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
async def test_bad_input_is_refused_with_a_precise_reason_and_leaves_no_state(intake, case, body, reason):
    _, nc, js, database_url = intake
    out = await collect(nc, "lt.out.>")
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    await js.publish(subjects.in_agency(COMMUNE, "submitted"), payload)
    rejected = await poll_until(lambda: out.of(".input_rejected"), message="input_rejected")
    assert out.subjects()[0] == subjects.out_agency(COMMUNE, "input_rejected")
    assert reason in rejected[0]["data"]["reason"], rejected[0]["data"]["reason"]
    if isinstance(body, dict):
        assert rejected[0]["data"]["refused_event_id"] == body["event_id"]
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM intake.dossiers") == 0
    finally:
        await conn.close()


async def test_message_from_an_unknown_agency_goes_to_the_dead_letter_subject(intake):
    _, nc, js, _ = intake
    out = await collect(nc, "lt.out.>")
    body = envelope("submitted", "Z.Z", "2026-03-02T08:00:00+07:00", submitted_data("9.000001"))
    await js.publish("lt.in.agency.Z_Z.submitted", json.dumps(body).encode())
    letters = await poll_until(lambda: out.of("dead_letter.intake"), message="dead letter")
    assert "agency token 'Z_Z' is not in the catalog" in letters[0]["data"]["reason"]


async def test_a_dossier_code_brought_by_the_publisher_is_kept(intake):
    _, nc, js, _ = intake
    facts = await collect(nc, "lt.evt.dossier.received")
    code = f"{COMMUNE}-260302-0777"
    body = envelope("submitted", COMMUNE, "2026-03-02T08:00:00+07:00", submitted_data("9.000001"), dossier_code=code)
    await publish_agency(js, COMMUNE, body)
    received = await poll_until(lambda: facts.messages, message="received")
    assert received[0][1]["dossier_code"] == code
    assert unique_ref()


async def test_personal_data_is_sealed_at_rest_and_opened_only_for_the_postal_service(intake):
    runtime, nc, js, database_url = intake
    data = submitted_data("9.000001", return_method="postal")
    body = envelope("submitted", COMMUNE, "2026-03-06T08:00:00+07:00", data)
    answer = json.loads((await nc.request(subjects.RPC_INTAKE_SUBMIT, json.dumps(body).encode(), timeout=5)).data)
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT applicant, delivery_address FROM intake.personal_data")
    finally:
        await conn.close()
    for sealed in row.values():
        assert b"Nguy" not in sealed and "Thử Nghiệm".encode() not in sealed
    request = json.dumps({"dossier_code": answer["dossier_code"]}).encode()
    address = json.loads((await nc.request(subjects.RPC_INTAKE_DELIVERY_ADDRESS, request, timeout=5)).data)
    assert address["ok"] and address["address"]["line"] == "12 Đường Thử Nghiệm"
