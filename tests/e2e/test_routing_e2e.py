"""Routing end to end: the four services as processes on the tests' own catalog
(tests/catalogs/basic.yaml, its own agencies and procedures: nothing here assumes the demo's).
Every procedure of that catalog goes from submission to `result_returned`: a 3-tier commune ->
district -> province dossier with a supplement (policy `pause`) and an obligation, a 2-tier
commune -> province dossier with an apology (once), a `restart` supplement, a procedure with no
return stage; and refusals (at intake and later), a withdrawal and refused inputs with their
reasons. Every fact on lt.evt.dossier.*, every lt.out.agency.{A}.assigned and the DVCQG status
(1-10) after every step are checked exactly."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest

from shared.contracts import subjects
from tests.factories import submitted_data
from tests.support import collect, connect, envelope, poll_until, publish_agency

pytestmark = pytest.mark.e2e

COMMUNE, COMMUNE_2 = "T01.00.01.X99", "T01.00.02.X99"
LABOUR, JUSTICE = "T01.31.00.X99", "T01.32.00.X99"  # district departments
PROVINCE_DEPT, PROVINCE = "T00.05.00.X99", "T00.00.00.X99"


def march(text: str) -> str:
    return f"2026-03-{text}+07:00"


class Desk:
    """The agencies' systems: submit over RPC, act on lt.in.agency.*, and watch what comes back."""

    def __init__(self, nc, js, db, facts, out) -> None:
        self.nc, self.js, self.db, self.facts, self.out = nc, js, db, facts, out
        self.trail: dict[str, list[tuple[int, str]]] = {}

    async def submit(self, agency: str, when: str, procedure: str, **extra: Any) -> str:
        body = envelope("submitted", agency, when, submitted_data(procedure, **extra))
        answer = await self.nc.request(subjects.RPC_INTAKE_SUBMIT, json.dumps(body).encode(), timeout=10)
        reply = json.loads(answer.data)
        assert reply["ok"], reply
        code = reply["dossier_code"]
        assert code.startswith(f"{agency}-{when[2:4]}{when[5:7]}{when[8:10]}-")  # {agency}-{YYMMDD}-{NNNN}
        await self.settled(code, 1)
        return code

    async def act(self, agency: str, action: str, code: str, when: str, seq: int | None = None, **data) -> dict:
        """Publish an action; with `seq`, wait until routing has recorded that many facts."""
        body = envelope(action, agency, when, data, dossier_code=code)
        await publish_agency(self.js, agency, body)
        if seq is not None:
            await self.settled(code, seq)
        return body

    async def settled(self, code: str, seq: int) -> None:
        async def row():
            found = await self.db.fetchrow("SELECT status, sub_state, seq FROM routing.dossiers WHERE code = $1", code)
            return found if found is not None and found["seq"] >= seq else None

        found = await poll_until(row, timeout=20, message=f"{code} to reach fact {seq}")
        assert found["seq"] == seq, f"{code}: expected {seq} facts, routing has {found['seq']}"
        # committed is not yet published: the outbox relay sends the facts just after the commit
        await poll_until(
            lambda: {b["data"].get("seq") for _, b in self.of(code)} >= set(range(1, seq + 1)),
            timeout=20,
            message=f"{code}: facts 1..{seq} on lt.evt.dossier.*",
        )
        self.trail.setdefault(code, []).append((found["status"], found["sub_state"]))

    async def refused_input(self, agency: str, action: str, code: str, when: str, **data) -> str:
        """Publish an action routing must refuse; return the reason sent to the agency."""
        body = await self.act(agency, action, code, when, **data)
        subject = subjects.out_agency(agency, "input_rejected")

        def reply():
            return [
                b for s, b in self.out.messages if s == subject and b["data"]["refused_event_id"] == body["event_id"]
            ]

        (rejected,) = await poll_until(reply, timeout=20, message=f"input_rejected for {action}")
        assert rejected["data"]["refused_subject"] == subjects.in_agency(agency, action)
        return rejected["data"]["reason"]

    def statuses(self, code: str) -> list[int]:
        return [status for status, _ in self.trail[code]]

    def of(self, code: str) -> list[tuple[str, dict]]:
        return [(s.rsplit(".", 1)[-1], b) for s, b in self.facts.messages if b.get("dossier_code") == code]

    def summary(self, code: str) -> list[tuple]:
        """(type, seq, envelope agency, occurred_at) of every fact of the dossier, in order."""
        return [(t, b["data"].get("seq"), b["agency"], b["occurred_at"]) for t, b in self.of(code)]

    def fact(self, code: str, type_: str, n: int = 0) -> dict:
        return [b["data"] for t, b in self.of(code) if t == type_][n]

    def assigned(self, code: str) -> list[tuple]:
        return [
            (
                s,
                b["agency"],
                b["occurred_at"],
                b["data"]["stage_index"],
                b["data"]["purpose"],
                b["data"]["budget_hours"],
                b["data"]["due_at"],
            )
            for s, b in self.out.messages
            if s.endswith(".assigned") and b.get("dossier_code") == code
        ]

    def unexpected_rejections(self, expected: int) -> None:
        assert len(self.out.of(".input_rejected")) == expected, self.out.of(".input_rejected")


@pytest.fixture
async def desk(services):
    nc, js = await connect(services.nats_url)
    db = await asyncpg.connect(services.database_url)
    facts = await collect(nc, subjects.EVT_DOSSIER_ALL)
    out = await collect(nc, "lt.out.agency.>")
    try:
        yield Desk(nc, js, db, facts, out)
    finally:
        await db.close()
        await nc.close()


def assigned_to(agency: str) -> str:
    return subjects.out_agency(agency, "assigned")


async def test_three_tiers_with_a_paused_supplement_an_obligation_and_the_result_at_the_counter(desk, services):
    code = await desk.submit(COMMUNE, march("02T08:00:00"), "9.000001")
    await desk.act(COMMUNE, "stage_completed", code, march("02T15:00:00"), 3, outcome="forward")
    await desk.act(LABOUR, "handoff_received", code, march("03T08:00:00"), 4, stage_index=1)
    await desk.act(LABOUR, "supplement_requested", code, march("04T08:00:00"), 5, reason="Thiếu giấy xác nhận")
    await desk.act(COMMUNE, "supplement_received", code, march("04T12:00:00"), 7)
    await desk.act(LABOUR, "stage_completed", code, march("05T10:00:00"), 9, outcome="forward")
    await desk.act(PROVINCE_DEPT, "handoff_received", code, march("05T14:00:00"), 10)
    await desk.act(PROVINCE_DEPT, "obligation_requested", code, march("06T08:00:00"), 11, amount_vnd=50000)
    wrong_holder = await desk.refused_input(LABOUR, "stage_completed", code, march("06T09:00:00"), outcome="forward")
    await desk.act(PROVINCE_DEPT, "obligation_fulfilled", code, march("06T10:00:00"), 13)
    await desk.act(PROVINCE_DEPT, "stage_completed", code, march("10T10:00:00"), 16, outcome="result_ready")
    await desk.act(COMMUNE, "handoff_received", code, march("10T14:00:00"), 17)
    await desk.act(COMMUNE, "result_returned", code, march("11T09:00:00"), 19)
    after_return = await desk.refused_input(COMMUNE, "supplement_requested", code, march("11T10:00:00"))

    assert desk.summary(code) == [
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
        ("handoff_received", 10, PROVINCE_DEPT, march("05T14:00:00")),
        ("paused", 11, PROVINCE_DEPT, march("06T08:00:00")),
        ("resumed", 12, PROVINCE_DEPT, march("06T10:00:00")),
        ("rescheduled", 13, PROVINCE_DEPT, march("06T10:00:00")),
        ("stage_completed", 14, PROVINCE_DEPT, march("10T10:00:00")),
        ("result_ready", 15, PROVINCE_DEPT, march("10T10:00:00")),
        ("handoff_sent", 16, COMMUNE, march("10T10:00:00")),
        ("handoff_received", 17, COMMUNE, march("10T14:00:00")),
        ("stage_completed", 18, COMMUNE, march("11T09:00:00")),
        ("returned", 19, COMMUNE, march("11T09:00:00")),
    ]
    received = desk.fact(code, "received")
    assert (received["procedure"], received["receiving_agency"], received["appointment_at"]) == (
        "9.000001",
        COMMUNE,
        march("16T08:00:00"),
    )
    routed = desk.fact(code, "routed")
    assert routed["supplement_policy"] == "pause"
    assert [(s["index"], s["agency"], s["agency_level"], s["role"], s["budget_hours"]) for s in routed["stages"]] == [
        (0, COMMUNE, "commune", "receive", 8),
        (1, LABOUR, "district", "process", 32),
        (2, PROVINCE_DEPT, "province", "decide", 32),
        (3, COMMUNE, "commune", "return", 8),
    ]
    sent = [desk.fact(code, "handoff_sent", n) for n in range(3)]
    assert [(d["stage_index"], d["from_agency"], d["to_agency"], d["to_level"], d["due_at"]) for d in sent] == [
        (1, COMMUNE, LABOUR, "district", march("06T15:00:00")),
        (2, LABOUR, PROVINCE_DEPT, "province", march("11T10:00:00")),
        (3, PROVINCE_DEPT, COMMUNE, "commune", march("11T10:00:00")),
    ]
    supplement, obligation = desk.fact(code, "resumed", 0), desk.fact(code, "resumed", 1)
    assert (supplement["kind"], supplement["stage_index"], supplement["paused_hours"], supplement["policy"]) == (
        "supplement",
        1,
        3.5,
        "pause",
    )
    assert (obligation["kind"], obligation["stage_index"], obligation["paused_hours"], obligation["policy"]) == (
        "obligation",
        2,
        2.0,
        "pause",
    )
    moves = [desk.fact(code, "rescheduled", n) for n in range(2)]
    assert [(m["cause"], m["previous_appointment_at"], m["appointment_at"]) for m in moves] == [
        ("pause", march("16T08:00:00"), march("16T11:30:00")),  # 3.5 working hours later
        ("pause", march("16T11:30:00"), march("16T15:00:00")),  # 2 more, across the lunch break
    ]
    ready = desk.fact(code, "result_ready")
    assert (ready["stage_index"], ready["late"], ready["appointment_at"], ready["return_method"]) == (
        2,
        False,
        march("16T15:00:00"),
        "counter",
    )
    assert desk.fact(code, "returned") == {"seq": 19, "returned_at": march("11T09:00:00"), "via": "counter"}
    assert desk.assigned(code) == [
        (assigned_to(LABOUR), LABOUR, march("02T15:00:00"), 1, "process", 32, march("06T15:00:00")),
        (assigned_to(PROVINCE_DEPT), PROVINCE_DEPT, march("05T10:00:00"), 2, "process", 32, march("11T10:00:00")),
        (assigned_to(COMMUNE), COMMUNE, march("10T10:00:00"), 3, "return", 8, march("11T10:00:00")),
    ]
    assert desk.trail[code] == [
        (2, "processing"),  # routed: stage 0 at the receiving commune
        (4, "awaiting_handoff"),
        (4, "processing"),
        (5, "paused"),
        (4, "processing"),
        (4, "awaiting_handoff"),
        (4, "processing"),
        (6, "paused"),
        (4, "processing"),
        (9, "awaiting_handoff"),  # result ready, on its way back to the commune's counter
        (9, "awaiting_return"),
        (10, "closed"),
    ]
    assert wrong_holder == (
        f"dossier {code} is held by {PROVINCE_DEPT} (stage 2), not {LABOUR}; "
        "only the holding agency may send 'stage_completed'"
    )
    assert after_return == (
        f"dossier {code} is closed (returned at 2026-03-11T09:00:00+07:00); "
        "no further 'supplement_requested' is accepted"
    )
    stages = await desk.db.fetch(
        "SELECT stage_index, agency, sent_at, received_at, completed_at, outcome, paused_seconds, due_at "
        "FROM routing.stages WHERE dossier_code = $1 ORDER BY stage_index",
        code,
    )
    assert [(r["agency"], r["outcome"], r["paused_seconds"]) for r in stages] == [
        (COMMUNE, "forward", 0),
        (LABOUR, "forward", 3.5 * 3600),
        (PROVINCE_DEPT, "result_ready", 2 * 3600),
        (COMMUNE, "returned", 0),
    ]
    assert [r["due_at"].isoformat() for r in stages[1:3]] == [
        "2026-03-09T02:00:00+00:00",  # Fri 17:00 + 3.5 h: Mon 09:00 in Vietnam
        "2026-03-11T06:30:00+00:00",  # Wed 10:00 + 2 h across lunch: 13:30
    ]


async def test_two_tiers_commune_to_province_with_one_apology(desk):
    code = await desk.submit(COMMUNE_2, march("02T09:00:00"), "9.000004")
    await desk.act(COMMUNE_2, "stage_completed", code, march("02T10:00:00"), 3, outcome="forward")
    await desk.act(PROVINCE_DEPT, "handoff_received", code, march("02T14:00:00"), 4)
    early = await desk.refused_input(
        PROVINCE_DEPT, "stage_completed", code, march("03T08:00:00"), outcome="result_ready"
    )
    await desk.act(PROVINCE_DEPT, "stage_completed", code, march("05T16:00:00"), 6, outcome="forward")
    await desk.act(PROVINCE, "handoff_received", code, march("06T08:00:00"), 7)
    await desk.act(PROVINCE, "apology_issued", code, march("10T08:00:00"), 8, new_appointment_at=march("13T17:00:00"))
    again = await desk.refused_input(
        PROVINCE, "apology_issued", code, march("10T09:00:00"), new_appointment_at=march("16T17:00:00")
    )
    await desk.act(PROVINCE, "stage_completed", code, march("10T10:00:00"), 11, outcome="result_ready")
    await desk.act(COMMUNE_2, "handoff_received", code, march("10T11:00:00"), 12)
    await desk.act(COMMUNE_2, "result_returned", code, march("12T08:00:00"), 14)

    assert [(t, seq, agency) for t, seq, agency, _ in desk.summary(code)] == [
        ("received", None, COMMUNE_2),
        ("routed", 1, COMMUNE_2),
        ("stage_completed", 2, COMMUNE_2),
        ("handoff_sent", 3, PROVINCE_DEPT),
        ("handoff_received", 4, PROVINCE_DEPT),
        ("stage_completed", 5, PROVINCE_DEPT),
        ("handoff_sent", 6, PROVINCE),
        ("handoff_received", 7, PROVINCE),
        ("rescheduled", 8, PROVINCE),
        ("stage_completed", 9, PROVINCE),
        ("result_ready", 10, PROVINCE),
        ("handoff_sent", 11, COMMUNE_2),
        ("handoff_received", 12, COMMUNE_2),
        ("stage_completed", 13, COMMUNE_2),
        ("returned", 14, COMMUNE_2),
    ]
    routed = desk.fact(code, "routed")
    assert [(s["agency"], s["agency_level"], s["role"], s["budget_hours"]) for s in routed["stages"]] == [
        (COMMUNE_2, "commune", "receive", 8),
        (PROVINCE_DEPT, "province", "process", 24),
        (PROVINCE, "province", "decide", 16),
        (COMMUNE_2, "commune", "return", 8),
    ]
    assert desk.fact(code, "received")["appointment_at"] == march("11T09:00:00")
    assert desk.fact(code, "rescheduled") == {
        "seq": 8,
        "cause": "apology",
        "previous_appointment_at": march("11T09:00:00"),
        "appointment_at": march("13T17:00:00"),
        "agency": PROVINCE,
    }
    ready = desk.fact(code, "result_ready")
    assert (ready["late"], ready["appointment_at"]) == (False, march("13T17:00:00"))
    assert desk.assigned(code) == [
        (assigned_to(PROVINCE_DEPT), PROVINCE_DEPT, march("02T10:00:00"), 1, "process", 24, march("05T10:00:00")),
        (assigned_to(PROVINCE), PROVINCE, march("05T16:00:00"), 2, "process", 16, march("09T16:00:00")),
        (assigned_to(COMMUNE_2), COMMUNE_2, march("10T10:00:00"), 3, "return", 8, march("11T10:00:00")),
    ]
    assert desk.statuses(code) == [2, 4, 4, 4, 4, 4, 9, 9, 10]
    assert again == (
        f"an apology was already issued for dossier {code} at 2026-03-10T08:00:00+07:00; "
        "the appointment may be moved by an apology only once"
    )
    assert early == (
        "outcome 'result_ready' is only allowed on the plan's last processing stage (2) or its return stage, "
        f"not on stage 1 (process at {PROVINCE_DEPT})"
    )


async def test_a_restart_supplement_counts_the_whole_time_again_and_a_stage_with_no_return(desk):
    restart = await desk.submit(COMMUNE, march("02T08:00:00"), "9.000002")
    assert desk.fact(restart, "received")["appointment_at"] == march("10T08:00:00")  # 6 working days
    await desk.act(COMMUNE, "stage_completed", restart, march("02T09:00:00"), 4, outcome="forward")
    await desk.act(COMMUNE, "supplement_requested", restart, march("02T10:00:00"), 5)
    await desk.act(COMMUNE, "supplement_received", restart, march("03T09:00:00"), 7)
    await desk.act(COMMUNE, "stage_completed", restart, march("03T10:00:00"), 9, outcome="forward")
    await desk.act(JUSTICE, "stage_completed", restart, march("05T10:00:00"), 13, outcome="result_ready")
    await desk.act(COMMUNE, "result_returned", restart, march("05T15:00:00"), 16)

    assert [(t, agency) for t, _, agency, _ in desk.summary(restart)][2:] == [
        ("stage_completed", COMMUNE),
        ("handoff_sent", COMMUNE),  # stage 1 at the same commune: received as it is sent
        ("handoff_received", COMMUNE),
        ("paused", COMMUNE),
        ("resumed", COMMUNE),
        ("rescheduled", COMMUNE),
        ("stage_completed", COMMUNE),
        ("handoff_sent", JUSTICE),
        ("handoff_received", JUSTICE),  # inferred from its completion
        ("stage_completed", JUSTICE),
        ("result_ready", JUSTICE),
        ("handoff_sent", COMMUNE),
        ("handoff_received", COMMUNE),  # the result is collected at the counter: receipt inferred
        ("stage_completed", COMMUNE),
        ("returned", COMMUNE),
    ]
    resumed = desk.fact(restart, "resumed")
    assert (resumed["policy"], resumed["paused_hours"]) == ("restart", 7.0)
    moved = desk.fact(restart, "rescheduled")
    assert (moved["cause"], moved["previous_appointment_at"], moved["appointment_at"]) == (
        "restart",
        march("10T08:00:00"),
        march("11T09:00:00"),  # the supplement's receipt + the 6 working days again
    )
    # none was sent by an agency: automatic (same agency), from a completion, from the return
    assert [desk.fact(restart, "handoff_received", n)["inferred"] for n in range(3)] == [True, True, True]
    assert [(a[1], a[3], a[4]) for a in desk.assigned(restart)] == [
        (COMMUNE, 1, "process"),
        (JUSTICE, 2, "process"),
        (COMMUNE, 3, "return"),
    ]
    assert desk.statuses(restart) == [2, 4, 5, 4, 4, 9, 10]

    no_return = await desk.submit(COMMUNE_2, march("02T08:00:00"), "9.000003")
    await desk.act(COMMUNE_2, "stage_completed", no_return, march("02T11:00:00"), 3, outcome="forward")
    await desk.act(LABOUR, "handoff_received", no_return, march("02T14:00:00"), 4)
    await desk.act(LABOUR, "stage_completed", no_return, march("04T10:00:00"), 6, outcome="result_ready")
    late_step = await desk.refused_input(LABOUR, "supplement_requested", no_return, march("04T11:00:00"))
    await desk.act(COMMUNE_2, "result_returned", no_return, march("04T15:00:00"), 7)
    assert [t for t, _ in desk.of(no_return)] == [
        "received",
        "routed",
        "stage_completed",
        "handoff_sent",
        "handoff_received",
        "stage_completed",
        "result_ready",
        "returned",
    ]
    assert desk.fact(no_return, "returned")["via"] == "counter"
    assert [(a[1], a[3], a[4], a[5]) for a in desk.assigned(no_return)] == [(LABOUR, 1, "process", 16)]
    assert desk.statuses(no_return) == [2, 4, 4, 9, 10]
    assert late_step == (
        f"stage 1 of dossier {no_return} was completed at 2026-03-04T10:00:00+07:00; "
        "the dossier awaits the return of its result, so 'supplement_requested' is not accepted"
    )


async def test_refusals_at_intake_and_later_a_withdrawal_and_nothing_after_them(desk):
    at_intake = await desk.submit(COMMUNE, march("03T08:00:00"), "9.000001")
    await desk.act(COMMUNE, "refused", at_intake, march("03T09:00:00"), 2, reason="Hồ sơ không thuộc thẩm quyền")
    later = await desk.submit(COMMUNE_2, march("03T08:00:00"), "9.000004")
    await desk.act(COMMUNE_2, "stage_completed", later, march("03T10:00:00"), 3, outcome="forward")
    not_holder = await desk.refused_input(COMMUNE_2, "refused", later, march("03T11:00:00"), reason="Sai")
    await desk.act(PROVINCE_DEPT, "handoff_received", later, march("03T14:00:00"), 4)
    await desk.act(PROVINCE_DEPT, "refused", later, march("04T09:00:00"), 5, reason="Không đủ điều kiện")
    withdrawn = await desk.submit(COMMUNE, march("03T08:00:00"), "9.000002")
    await desk.act(COMMUNE, "stage_completed", withdrawn, march("03T08:30:00"), 4, outcome="forward")
    await desk.act(COMMUNE, "stage_completed", withdrawn, march("03T10:00:00"), 6, outcome="forward")
    await desk.act(COMMUNE, "withdrawn", withdrawn, march("03T11:00:00"), 7, reason="Công dân xin rút")
    after_refusal = await desk.refused_input(
        PROVINCE_DEPT, "stage_completed", later, march("04T10:00:00"), outcome="forward"
    )
    after_withdrawal = await desk.refused_input(JUSTICE, "handoff_received", withdrawn, march("03T14:00:00"))
    unknown = await desk.refused_input(
        COMMUNE, "stage_completed", "T01.00.01.X99-260303-9999", march("03T15:00:00"), outcome="forward"
    )

    assert desk.fact(at_intake, "refused") == {
        "seq": 2,
        "stage_index": 0,
        "agency": COMMUNE,
        "reason": "Hồ sơ không thuộc thẩm quyền",
    }
    assert desk.fact(later, "refused") == {
        "seq": 5,
        "stage_index": 1,
        "agency": PROVINCE_DEPT,
        "reason": "Không đủ điều kiện",
    }
    assert desk.fact(withdrawn, "withdrawn") == {
        "seq": 7,
        "stage_index": 2,
        "agency": COMMUNE,
        "reason": "Công dân xin rút",
    }
    assert desk.trail[at_intake][-1] == (3, "closed")  # refused at the receiving stage
    assert desk.trail[later][-1] == (8, "closed")  # stopped later on
    assert desk.trail[withdrawn][-1] == (7, "closed")
    assert [(a[1], a[3]) for a in desk.assigned(withdrawn)] == [(COMMUNE, 1), (JUSTICE, 2)]
    assert not desk.assigned(at_intake)
    assert not_holder == (
        f"dossier {later} is held by {PROVINCE_DEPT} (stage 1), not {COMMUNE_2}; "
        "only the holding agency may send 'refused'"
    )
    assert after_refusal == (
        f"dossier {later} is closed (refused at 2026-03-04T09:00:00+07:00); no further 'stage_completed' is accepted"
    )
    assert after_withdrawal == (
        f"dossier {withdrawn} is closed (withdrawn at 2026-03-03T11:00:00+07:00); "
        "no further 'handoff_received' is accepted"
    )
    assert unknown == "dossier_code: unknown dossier 'T01.00.01.X99-260303-9999'"
