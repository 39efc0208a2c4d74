"""Every procedure of the demo catalog (infra/catalog/demo.yaml), each followed stage by stage through
the four service processes from submission to `result_returned`, as its agencies' systems would
report it: the receiving commune forwards, each agency acknowledges the hand-off and completes its
stage, the last processing stage makes the result ready, and the commune hands it to the citizen.

The expected facts and `assigned` messages are derived here from the catalog by the rules of
CONTRACT.md §2/§6 and docs/design.md (a stage starts when it is sent; consecutive stages at one
agency are received at once, the receipt then marked inferred), not from the services' code."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import asyncpg
import pytest

from shared.calendar import WorkCalendar
from shared.catalog import Procedure, load_catalog
from shared.contracts import subjects
from tests.conftest import ROOT
from tests.factories import submitted_data
from tests.support import collect, connect, envelope, poll_until, publish_agency

pytestmark = pytest.mark.e2e

CATALOG = load_catalog(ROOT / "infra" / "catalog" / "demo.yaml")
ICT = timezone(timedelta(hours=7))
START = datetime(2026, 3, 9, 8, 0, tzinfo=ICT)  # a Monday, no holiday in the weeks that follow
STEP = timedelta(minutes=40)


def commune() -> str:
    return next(a.code for a in CATALOG.agencies.values() if a.level == "commune")


def expected_story(procedure: Procedure, receiving: str) -> list[tuple[str, int | None, str]]:
    """(fact type, stage index, agency) of every routing fact after `routed`, in order."""
    agencies = [receiving if s.agency == "receiving" else s.agency for s in procedure.stages]
    roles = [s.role for s in procedure.stages]
    last_processing = max(i for i, role in enumerate(roles) if role != "return")
    story: list[tuple[str, int | None, str]] = []
    for index in range(len(agencies)):
        if index > 0:
            story.append(("handoff_sent", index, agencies[index]))
            story.append(("handoff_received", index, agencies[index]))
        story.append(("stage_completed", index, agencies[index]))
        if index == last_processing:
            story.append(("result_ready", index, agencies[index]))
    story.append(("returned", None, receiving))
    return story


@pytest.fixture
async def desk(demo_services):
    nc, js = await connect(demo_services.nats_url)
    db = await asyncpg.connect(demo_services.database_url)
    facts = await collect(nc, subjects.EVT_DOSSIER_ALL)
    out = await collect(nc, "lt.out.agency.>")
    try:
        yield nc, js, db, facts, out
    finally:
        await db.close()
        await nc.close()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("code", sorted(CATALOG.procedures))
async def test_a_demo_procedure_runs_its_standard_process_to_the_citizen(desk, code):
    nc, js, db, facts, out = desk
    procedure = CATALOG.procedures[code]
    calendar: WorkCalendar = CATALOG.calendar
    receiving = commune()
    agencies = [receiving if s.agency == "receiving" else s.agency for s in procedure.stages]
    last_processing = max(i for i, s in enumerate(procedure.stages) if s.role != "return")
    at = START
    reply = await nc.request(
        subjects.RPC_INTAKE_SUBMIT, json.dumps(envelope("submitted", receiving, at, submitted_data(code))).encode(), 10
    )
    dossier = json.loads(reply.data)["dossier_code"]
    seq, statuses = 1, []  # `routed` is fact 1

    async def act(agency: str, action: str, facts_caused: int, **data) -> None:
        nonlocal at, seq
        at += STEP
        await publish_agency(js, agency, envelope(action, agency, at, data, dossier))
        seq += facts_caused

        async def row():
            found = await db.fetchrow("SELECT seq, status FROM routing.dossiers WHERE code = $1", dossier)
            return found if found is not None and found["seq"] >= seq else None

        found = await poll_until(row, timeout=30, message=f"{dossier}: {action} at stage {agencies.index(agency)}")
        assert found["seq"] == seq
        statuses.append((action, found["status"]))

    def published() -> set[int]:
        return {b["data"].get("seq") for s, b in facts.messages if b.get("dossier_code") == dossier}

    await act(receiving, "stage_completed", 3 if agencies[1] == receiving else 2, outcome="forward")
    for index in range(1, len(agencies)):
        agency, role = agencies[index], procedure.stages[index].role
        if agencies[index - 1] != agency:
            await act(agency, "handoff_received", 1)
        if role == "return":
            await act(agency, "result_returned", 2)  # stage_completed, returned
            continue
        handing_on = 2 + (index + 1 < len(agencies) and agencies[index + 1] == agency)  # + inferred receipt
        if index == last_processing:
            await act(agency, "stage_completed", 1 + handing_on, outcome="result_ready")  # + result_ready
        else:
            await act(agency, "stage_completed", handing_on, outcome="forward")

    # committed is not yet published: wait for the outbox relay's last fact and assignment
    await poll_until(lambda: published() >= set(range(1, seq + 1)), timeout=20, message="every fact published")
    await poll_until(
        lambda: (
            sum(s.endswith(".assigned") and b["dossier_code"] == dossier for s, b in out.messages) == len(agencies) - 1
        ),
        timeout=20,
        message="every assignment published",
    )
    mine = [(s.rsplit(".", 1)[-1], b) for s, b in facts.messages if b.get("dossier_code") == dossier]
    routed = next(b["data"] for t, b in mine if t == "routed")
    assert [(s["index"], s["agency"], s["role"], s["working_days"]) for s in routed["stages"]] == [
        (i, agencies[i], s.role, s.working_days) for i, s in enumerate(procedure.stages)
    ]
    story = [(t, b["data"].get("stage_index"), b["agency"]) for t, b in mine if t not in ("received", "routed")]
    assert story == expected_story(procedure, receiving)
    assert [b["data"]["seq"] for t, b in mine if t != "received"] == list(range(1, len(mine)))

    # a receipt is inferred exactly where one agency holds two stages in a row
    inferred = [b["data"]["stage_index"] for t, b in mine if t == "handoff_received" and b["data"]["inferred"]]
    assert inferred == [i for i in range(1, len(agencies)) if agencies[i] == agencies[i - 1]]

    # every stage is handed to its agency with its own budget, due at its start plus that budget
    assigned = [b for s, b in out.messages if s.endswith(".assigned") and b["dossier_code"] == dossier]
    sent = [b["data"] for t, b in mine if t == "handoff_sent"]
    assert [(b["agency"], b["data"]["stage_index"], b["data"]["purpose"]) for b in assigned] == [
        (agencies[i], i, "return" if procedure.stages[i].role == "return" else "process")
        for i in range(1, len(agencies))
    ]
    for message, handoff in zip(assigned, sent, strict=True):
        start = datetime.fromisoformat(handoff["sent_at"])
        budget_seconds = round(procedure.stages[handoff["stage_index"]].working_days * calendar.day_seconds(start))
        assert handoff["budget_hours"] == message["data"]["budget_hours"] == budget_seconds / 3600
        due = calendar.add_working_seconds(start, budget_seconds)
        assert datetime.fromisoformat(handoff["due_at"]) == datetime.fromisoformat(message["data"]["due_at"]) == due

    # DVCQG status after each report: in processing (4), result ready (9), returned (10)
    ready = 1 + [n for n, (action, _) in enumerate(statuses) if action == "stage_completed"][-1]
    assert [status for _, status in statuses] == [4] * (ready - 1) + [9] * (len(statuses) - ready) + [10]
    result = next(b["data"] for t, b in mine if t == "result_ready")
    assert (result["stage_index"], result["late"]) == (last_processing, False)
    assert not [b for s, b in out.messages if s.endswith(".input_rejected")]
