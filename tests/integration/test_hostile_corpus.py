"""The hostile input corpus (tests/hostile/corpus.py) against intake, routing and postal on the real
NATS and PostgreSQL: every bad message gets exactly one answer with its precise reason (or, for a
replayed event id, none), nothing is dead-lettered as an internal error, no state changes, and the
services still admit and route valid dossiers afterwards."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from services.intake.app import build_runtime as build_intake
from services.postal.app import build_runtime as build_postal
from services.routing.app import build_runtime as build_routing
from shared.contracts import subjects
from shared.contracts.envelope import derived_event_id
from shared.messaging import message_key
from tests.harness import running, settings_for
from tests.hostile.corpus import (
    COMMUNE,
    Case,
    Context,
    Ignored,
    Rejected,
    cases,
    edge_cases,
    env,
    raw,
    submitted,
)
from tests.support import collect, connect, envelope, poll_until

pytestmark = pytest.mark.integration


@pytest.fixture
async def district(fresh_streams: str, database_url: str):
    settings = settings_for(fresh_streams, database_url)
    async with running(build_intake, settings), running(build_routing, settings), running(build_postal, settings):
        nc, js = await connect(fresh_streams)
        yield nc, js, database_url
        await nc.close()


def reply_id(case: Case) -> str:
    """The event id of the answer: derived from the inbox key every service computes alike."""
    return derived_event_id(message_key(case.subject, case.body, {"Nats-Msg-Id": case.msg_id}, "unused"), 0)


async def publish(js, case: Case) -> None:
    await js.publish(case.subject, case.body, headers={"Nats-Msg-Id": case.msg_id})


def check(case: Case, answers: list[tuple[str, dict]]) -> str | None:
    """None when the case got what it expects; else what went wrong."""
    expect = case.expect
    if isinstance(expect, Ignored):
        return None if len(answers) == expect.earlier else f"expected {expect.earlier} answers, got {answers}"
    if len(answers) != 1:
        return f"expected one answer, got {len(answers)}: {answers}"
    subject, body = answers[0]
    if isinstance(expect, Rejected):
        want = (
            subjects.out_agency(expect.agency, "input_rejected")
            if expect.agency
            else subjects.out_postal("input_rejected")
        )
        if subject != want or body["data"]["refused_subject"] != case.subject:
            return f"answered on {subject} (about {body['data'].get('refused_subject')}), expected {want}"
    elif subject != subjects.dead_letter(expect.service):
        return f"answered on {subject}, expected {subjects.dead_letter(expect.service)}"
    if expect.reason not in body["data"]["reason"]:
        return f"reason {body['data']['reason']!r} does not contain {expect.reason!r}"
    return None


async def snapshot(db: asyncpg.Connection, code: str) -> dict:
    return {
        "intake dossiers": await db.fetchval("SELECT count(*) FROM intake.dossiers"),
        "routing dossiers": await db.fetchval("SELECT count(*) FROM routing.dossiers"),
        "routing row": dict(await db.fetchrow("SELECT * FROM routing.dossiers WHERE code = $1", code)),
        "postal shipments": await db.fetchval("SELECT count(*) FROM postal.shipments"),
        "pauses": await db.fetchval("SELECT count(*) FROM routing.pauses"),
    }


async def test_every_hostile_message_gets_its_precise_answer_and_changes_nothing(district):
    nc, js, database_url = district
    out = await collect(nc, "lt.out.>")
    facts = await collect(nc, "lt.evt.>")
    # A routed dossier whose first stage COMMUNE completed: LABOUR now holds stage 1.
    body = envelope("submitted", COMMUNE, "2026-03-02T08:00:00+07:00", submitted())
    reply = json.loads((await nc.request(subjects.RPC_INTAKE_SUBMIT, raw(body), timeout=5)).data)
    assert reply["ok"], reply
    code = reply["dossier_code"]
    await poll_until(lambda: facts.of(".routed"), message="routed")
    applied = {
        **env("stage_completed", data={"outcome": "forward"}, code=code),
        "occurred_at": "2026-03-02T15:00:00+07:00",
    }
    await js.publish(
        subjects.in_agency(COMMUNE, "stage_completed"), raw(applied), headers={"Nats-Msg-Id": applied["event_id"]}
    )
    await poll_until(lambda: facts.of(".handoff_sent"), message="handoff_sent")
    refused = env("stage_completed", data={"outcome": "done"}, code=code)
    await js.publish(subjects.in_agency(COMMUNE, "stage_completed"), raw(refused))
    await poll_until(lambda: out.of(".input_rejected"), message="the first refusal")

    db = await asyncpg.connect(database_url)
    try:
        before = await snapshot(db, code)
        facts_before = len(facts.messages)
        corpus = cases(Context(code, applied["event_id"], refused["event_id"]))
        assert len(corpus) >= 50
        ids = {case.name: reply_id(case) for case in corpus}
        for case in corpus:
            await publish(js, case)

        def by_id() -> dict[str, list[tuple[str, dict]]]:
            found: dict[str, list[tuple[str, dict]]] = {}
            for subject, msg in out.messages:
                found.setdefault(msg.get("event_id"), []).append((subject, msg))
            return found

        awaited = [c for c in corpus if not isinstance(c.expect, Ignored)]
        try:
            await poll_until(lambda: all(ids[c.name] in by_id() for c in awaited), timeout=45, message="answers")
        except AssertionError:
            missing = [c.name for c in awaited if ids[c.name] not in by_id()]
            raise AssertionError(f"no answer to {missing}") from None
        await asyncio.sleep(1.0)  # time for a stray second answer, or an answer to a replay
        found = by_id()
        failures = {c.name: problem for c in corpus if (problem := check(c, found.get(ids[c.name], [])))}
        assert failures == {}, "\n".join(f"{name}: {problem}" for name, problem in failures.items())
        answered = sum(len(found.get(ids[c.name], [])) for c in corpus)
        print(
            f"\nhostile corpus: {len(corpus)} messages, {answered} answers, "
            f"{sum(isinstance(c.expect, Ignored) for c in corpus)} replays ignored"
        )

        # Nothing moved: no dossier, shipment, pause or fact; no handler failed on any of them.
        assert await snapshot(db, code) == before
        assert len(facts.messages) == facts_before
        for schema in ("intake", "routing", "postal"):
            internal = await db.fetch(
                f"SELECT subject, reason FROM {schema}.dead_letters WHERE reason LIKE 'internal error%'"
            )
            assert internal == [], internal

        # The services still admit and route dossiers, odd-but-valid names and references included.
        valid = [("plain", submitted()), *edge_cases()]
        for _, data in valid:
            sub = env("submitted", data=data, occurred_at="2026-03-03T09:00:00+07:00")
            await js.publish(
                subjects.in_agency(COMMUNE, "submitted"), raw(sub), headers={"Nats-Msg-Id": sub["event_id"]}
            )
        refs = {data["external_ref"] for _, data in valid}

        def routed_refs() -> set[str]:
            received = {b["dossier_code"]: b["data"]["external_ref"] for b in facts.of(".received")}
            return {received.get(b["dossier_code"]) for b in facts.of(".routed")} & refs

        await poll_until(lambda: routed_refs() == refs, timeout=20, message="the valid dossiers routed")
        assert await db.fetchval("SELECT count(*) FROM intake.dossiers") == before["intake dossiers"] + len(valid)
        stored = {r["external_ref"] for r in await db.fetch("SELECT external_ref FROM intake.dossiers")}
        assert refs <= stored  # the SQL-looking reference is a reference, stored as it came
    finally:
        await db.close()
