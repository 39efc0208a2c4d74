"""build_timeline: event-time semantics, order-proofness, the appointment and the dossier's state."""

from __future__ import annotations

import dataclasses
import json
import random
import uuid

from services.deadline.facts import Ignored, parse_fact
from services.deadline.timeline import build_timeline
from tests.unit.deadline.common import CALENDAR, CATALOG, COMMUNE, HOUR, LABOUR_OFFICE, THREE_LEVELS, vn
from tests.unit.deadline.story import Story


def finished_story() -> Story:
    s = Story(CATALOG, "T01.00.01.X99-260302-0001", THREE_LEVELS, COMMUNE)
    s.received(vn(2026, 3, 2, 8))
    s.completed(0, vn(2026, 3, 2, 10))
    s.handoff_received(1, vn(2026, 3, 3, 8))
    s.paused(1, vn(2026, 3, 3, 9))
    s.resumed(1, vn(2026, 3, 3, 9), vn(2026, 3, 4, 9))
    s.completed(1, vn(2026, 3, 10, 16))
    s.handoff_received(2, vn(2026, 3, 11, 8))
    s.completed(2, vn(2026, 3, 16, 16), "result_ready")
    s.handoff_received(3, vn(2026, 3, 17, 8))
    s.returned(vn(2026, 3, 17, 10))
    return s


def test_the_same_facts_in_any_order_and_delivered_twice_give_the_same_timeline():
    facts = finished_story().facts()
    expected = build_timeline(facts, CALENDAR)
    for seed in range(20):
        shuffled = facts + random.Random(seed).sample(facts, 5)
        random.Random(seed).shuffle(shuffled)
        assert build_timeline(shuffled, CALENDAR) == expected


def test_a_fact_republished_under_a_new_event_id_counts_once():
    facts = finished_story().facts()
    paused = next(f for f in facts if f.type == "paused")
    again = dataclasses.replace(paused, event_id=str(uuid.uuid4()))  # counted twice, it would never resume
    assert build_timeline([*facts, again], CALENDAR) == build_timeline(facts, CALENDAR)


def test_a_finished_dossier_has_its_stages_times_and_status():
    timeline = build_timeline(finished_story().facts(), CALENDAR)
    assert timeline.status == "returned"
    assert timeline.holder_agency is None and timeline.open_stage is None
    assert [s.agency for s in timeline.stages] == [COMMUNE, LABOUR_OFFICE, "T00.05.00.X99", COMMUNE]
    assert [s.outcome for s in timeline.stages] == ["forward", "forward", "result_ready", "returned"]
    assert timeline.stage(0).start == vn(2026, 3, 2, 8) and timeline.stage(0).handoff_wait_seconds == 0
    assert timeline.stage(1).received_at == vn(2026, 3, 3, 8)
    assert timeline.result_ready_at == vn(2026, 3, 16, 16) and timeline.returned_at == vn(2026, 3, 17, 10)
    assert [p.working_seconds for p in timeline.pauses] == [8 * HOUR]


def test_the_pause_moves_the_appointment_and_the_history_keeps_every_value():
    timeline = build_timeline(finished_story().facts(), CALENDAR)
    assert [(a.cause, a.appointment_at) for a in timeline.appointments] == [
        ("received", vn(2026, 3, 16, 8)),
        ("pause", vn(2026, 3, 17, 8)),
    ]
    assert timeline.appointment_at == vn(2026, 3, 17, 8)
    assert timeline.late is False  # ready Mon 16 16:00, before the moved appointment


def test_an_apology_moves_the_appointment_in_force_for_the_late_verdict():
    s = Story(CATALOG, "T01.00.01.X99-260302-0002", THREE_LEVELS, COMMUNE)
    s.received(vn(2026, 3, 2, 8))
    s.completed(0, vn(2026, 3, 2, 10))
    s.rescheduled("apology", vn(2026, 3, 20, 17), vn(2026, 3, 12, 9), agency=LABOUR_OFFICE)
    s.completed(1, vn(2026, 3, 13, 9))
    s.completed(2, vn(2026, 3, 18, 9), "result_ready")
    timeline = build_timeline(s.facts(), CALENDAR)
    assert timeline.appointments[-1].cause == "apology" and timeline.appointments[-1].agency == LABOUR_OFFICE
    assert timeline.late is False
    assert [b.stage_index for b in timeline.blamed] == [1]  # the stage still overran its own budget


def test_a_receipt_after_the_cutoff_starts_the_first_stage_next_working_day():
    s = Story(CATALOG, "T01.00.01.X99-260302-0003", THREE_LEVELS, COMMUNE)
    s.received(vn(2026, 3, 2, 15, 30))
    timeline = build_timeline(s.facts(), CALENDAR)
    assert timeline.received_at == vn(2026, 3, 2, 15, 30)
    assert timeline.stage(0).start == vn(2026, 3, 3, 7, 30)
    assert timeline.stage(0).due == vn(2026, 3, 3, 17)  # a due at the end of the day is that end


def test_a_refusal_ends_the_open_stage_without_a_verdict():
    s = Story(CATALOG, "T01.00.01.X99-260302-0004", THREE_LEVELS, COMMUNE)
    s.received(vn(2026, 3, 2, 8))
    s.completed(0, vn(2026, 3, 2, 10))
    s.refused(1, vn(2026, 3, 20, 9))  # long after its due time
    timeline = build_timeline(s.facts(), CALENDAR)
    assert timeline.status == "refused" and timeline.holder_agency is None
    stage = timeline.stage(1)
    assert stage.end == vn(2026, 3, 20, 9) and stage.outcome == "refused" and stage.late is False
    assert timeline.blamed == ()


def test_a_running_dossier_names_its_holder_and_open_stage():
    s = Story(CATALOG, "T01.00.01.X99-260302-0005", THREE_LEVELS, COMMUNE)
    s.received(vn(2026, 3, 2, 8))
    s.completed(0, vn(2026, 3, 2, 10))
    timeline = build_timeline(s.facts(), CALENDAR)
    assert timeline.status == "in_progress"
    assert (timeline.open_stage, timeline.holder_agency) == (1, LABOUR_OFFICE)
    assert timeline.stage(1).received_at is None and timeline.stage(2).start is None
    s.paused(1, vn(2026, 3, 3, 9))
    paused = build_timeline(s.facts(), CALENDAR)
    assert paused.status == "paused" and paused.stage(1).clock_stopped is True


def test_the_agencies_of_a_dossier_are_those_it_went_through_not_the_plan_ahead():
    s = Story(CATALOG, "T01.00.01.X99-260302-0008", THREE_LEVELS, COMMUNE)
    s.received(vn(2026, 3, 2, 8))
    assert build_timeline(s.facts(), CALENDAR).agencies() == [COMMUNE]  # the labour office is only planned
    s.completed(0, vn(2026, 3, 2, 10))
    assert build_timeline(s.facts(), CALENDAR).agencies() == [COMMUNE, LABOUR_OFFICE]  # sent to it


def test_an_inferred_receipt_is_kept_as_inferred():
    s = Story(CATALOG, "T01.00.01.X99-260302-0006", THREE_LEVELS, COMMUNE)
    s.received(vn(2026, 3, 2, 8))
    s.completed(0, vn(2026, 3, 2, 10))
    s.handoff_received(1, vn(2026, 3, 4, 10), inferred=True)
    assert build_timeline(s.facts(), CALENDAR).stage(1).received_inferred is True


def test_there_is_no_timeline_before_the_receipt():
    s = Story(CATALOG, "T01.00.01.X99-260302-0007", THREE_LEVELS, COMMUNE)
    s.received(vn(2026, 3, 2, 8))
    s.completed(0, vn(2026, 3, 2, 10))
    without_receipt = [f for f in s.facts() if f.type not in ("received", "routed")]
    assert build_timeline(without_receipt, CALENDAR) is None
    assert build_timeline([], CALENDAR) is None


def test_postal_facts_without_a_dossier_code_are_ignored_and_deadline_facts_are_not_ours():
    at = "2026-03-02T08:00:00+07:00"
    data = {"waybill": "W1", "direction": "pickup", "status": "picked_up", "at": at}
    body = {"event_id": "e1", "type": "shipment_updated", "occurred_at": at, "data": data}
    assert isinstance(parse_fact("lt.evt.postal.shipment_updated", json.dumps(body).encode()), Ignored)
    assert isinstance(parse_fact("lt.evt.deadline.overdue", b"{}"), Ignored)


def test_a_malformed_fact_is_refused_with_the_field_and_the_problem():
    s = Story(CATALOG, "T01.00.01.X99-260302-0008", THREE_LEVELS, COMMUNE)
    s.received(vn(2026, 3, 2, 8))
    subject, body = s.messages[1]
    del body["data"]["stages"]
    assert parse_fact(subject, json.dumps(body).encode()) == "data.stages: required field is missing"
    body["type"] = "received"
    assert "does not match the subject's type 'routed'" in parse_fact(subject, json.dumps(body).encode())
    assert parse_fact(subject, b"{").startswith("envelope: ")
