"""The routing state machine, rule by rule (pure: no NATS, no database)."""

from __future__ import annotations

from datetime import datetime

import pytest

from services.routing import machine
from services.routing.machine import Refusal
from shared.catalog import load_catalog
from shared.contracts import events as ev
from tests.harness import CATALOGS

CATALOG = load_catalog(CATALOGS / "basic.yaml")
COMMUNE, LABOUR, PROVINCE_DEPT, JUSTICE = "T01.00.01.X99", "T01.31.00.X99", "T00.05.00.X99", "T01.32.00.X99"
CODE = f"{COMMUNE}-260302-0001"


def at(text: str) -> datetime:
    return datetime.fromisoformat(f"2026-03-{text}+07:00")


def received(procedure: str = "9.000001", when: str = "02T08:00:00", return_method: str = "counter"):
    calendar = CATALOG.calendar
    proc = CATALOG.procedures[procedure]
    start = calendar.counting_start(at(when), proc.intake_cutoff)
    return ev.DossierReceived(
        procedure=procedure,
        receiving_agency=COMMUNE,
        channel="counter",
        return_method=return_method,
        received_at=at(when),
        counting_from=start,
        appointment_at=calendar.add_working_days(start, proc.total_working_days),
        total_working_days=proc.total_working_days,
        external_ref="r",
    )


def started(procedure: str = "9.000001", **kw):
    return machine.start_dossier(CODE, received(procedure, **kw), CATALOG).state


def apply(state, action, agency, when, **data):
    model = ev.AGENCY_ACTIONS[action]
    return machine.decide(state, action, agency, at(when), model(**data), CATALOG)


def step(state, action, agency, when, **data):
    result = apply(state, action, agency, when, **data)
    assert not isinstance(result, Refusal), result
    return result


def types(decision) -> list[str]:
    return [f.type for f in decision.facts]


def test_a_received_dossier_is_routed_with_its_plan_and_planned_dues():
    decision = machine.start_dossier(CODE, received(), CATALOG)
    assert types(decision) == ["routed"]
    routed = decision.facts[0].data
    assert routed.seq == 1
    assert [s.agency for s in routed.stages] == [COMMUNE, LABOUR, PROVINCE_DEPT, COMMUNE]
    assert [s.agency_level for s in routed.stages] == ["commune", "district", "province", "commune"]
    assert routed.stages[0].planned_due == at("03T08:00:00")  # 1 working day from 08:00 Monday
    assert decision.state.status == 2 and decision.state.holder == COMMUNE
    assert decision.assignments == []  # stage 0 is at the receiving agency already


def test_forward_hands_the_dossier_to_the_next_agency_and_assigns_it():
    decision = step(started(), "stage_completed", COMMUNE, "02T15:00:00", outcome="forward")
    assert types(decision) == ["stage_completed", "handoff_sent"]
    sent = decision.facts[1].data
    assert (sent.stage_index, sent.to_agency, sent.to_level) == (1, LABOUR, "district")
    assert sent.due_at == at("06T15:00:00")  # 4 working days
    assert [f.data.seq for f in decision.facts] == [2, 3]
    (assigned,) = decision.assignments
    assert assigned.agency == LABOUR and assigned.data.due_at == sent.due_at and assigned.data.purpose == "process"
    assert decision.state.sub_state == "awaiting_handoff" and decision.state.status == 4


def test_only_the_holding_agency_may_complete_its_stage():
    result = apply(started(), "stage_completed", LABOUR, "02T15:00:00", outcome="forward")
    assert isinstance(result, Refusal)
    assert result.reason.startswith(f"dossier {CODE} is held by {COMMUNE} (stage 0), not {LABOUR}")


def test_a_completion_whose_receipt_never_came_infers_the_receipt():
    state = step(started(), "stage_completed", COMMUNE, "02T15:00:00", outcome="forward").state
    decision = step(state, "stage_completed", LABOUR, "04T10:00:00", outcome="forward")
    assert types(decision) == ["handoff_received", "stage_completed", "handoff_sent"]
    assert decision.facts[0].data.inferred is True and decision.facts[0].data.received_at == at("04T10:00:00")


def test_a_second_explicit_receipt_is_refused():
    state = step(started(), "stage_completed", COMMUNE, "02T15:00:00", outcome="forward").state
    state = step(state, "handoff_received", LABOUR, "02T16:00:00").state
    result = apply(state, "handoff_received", LABOUR, "02T16:30:00")
    assert isinstance(result, Refusal) and "already received" in result.reason


def test_a_same_agency_stage_is_received_when_sent_and_its_explicit_receipt_is_a_no_op():
    state = started("9.000002")  # receive@commune -> process@commune -> decide@justice -> return
    decision = step(state, "stage_completed", COMMUNE, "02T10:00:00", outcome="forward")
    assert types(decision) == ["stage_completed", "handoff_sent", "handoff_received"]
    assert decision.facts[2].data.inferred is True
    again = step(decision.state, "handoff_received", COMMUNE, "02T10:05:00")
    assert again.facts == [] and again.state == decision.state


def test_result_ready_is_only_allowed_on_the_last_processing_stage():
    result = apply(started(), "stage_completed", COMMUNE, "02T15:00:00", outcome="result_ready")
    assert isinstance(result, Refusal)
    assert "only allowed on the plan's last processing stage (2)" in result.reason


def full_route(procedure="9.000001"):
    state = step(started(procedure), "stage_completed", COMMUNE, "02T15:00:00", outcome="forward").state
    state = step(state, "handoff_received", LABOUR, "03T08:00:00").state
    state = step(state, "stage_completed", LABOUR, "05T10:00:00", outcome="forward").state
    return step(state, "handoff_received", PROVINCE_DEPT, "06T09:00:00").state


def test_result_ready_on_the_last_processing_stage_sends_the_result_back_for_return():
    decision = step(full_route(), "stage_completed", PROVINCE_DEPT, "10T10:00:00", outcome="result_ready")
    assert types(decision) == ["stage_completed", "result_ready", "handoff_sent", "handoff_received"] or types(
        decision
    ) == ["stage_completed", "result_ready", "handoff_sent"]
    ready = decision.facts[1].data
    assert ready.late is False and ready.return_method == "counter"
    assert decision.assignments[0].agency == COMMUNE and decision.assignments[0].data.purpose == "return"
    assert decision.state.status == 9


def test_the_result_is_returned_at_the_counter_and_the_dossier_closes():
    state = step(full_route(), "stage_completed", PROVINCE_DEPT, "10T10:00:00", outcome="result_ready").state
    decision = step(state, "result_returned", COMMUNE, "11T09:00:00")
    assert types(decision)[-2:] == ["stage_completed", "returned"]
    assert decision.state.status == 10 and decision.state.closed_as == "returned"
    late = apply(decision.state, "handoff_received", COMMUNE, "11T10:00:00")
    assert isinstance(late, Refusal) and "is closed (returned" in late.reason


def test_result_returned_before_the_result_is_refused():
    result = apply(started(), "result_returned", COMMUNE, "02T15:00:00")
    assert isinstance(result, Refusal) and "has no result yet" in result.reason


def test_a_supplement_request_stops_the_clock_and_moves_the_due_time_and_the_appointment():
    state = full_route()
    due_before, appointment_before = state.stage.due_at, state.appointment_at
    paused = step(state, "supplement_requested", PROVINCE_DEPT, "09T08:00:00", reason="thiếu bản sao")
    assert types(paused) == ["paused"] and paused.state.status == 5
    refused = apply(paused.state, "stage_completed", PROVINCE_DEPT, "09T09:00:00", outcome="result_ready")
    assert isinstance(refused, Refusal) and "is paused" in refused.reason
    resumed = step(paused.state, "supplement_received", COMMUNE, "10T08:00:00")  # one working day later
    assert types(resumed) == ["resumed", "rescheduled"]
    assert resumed.facts[0].data.paused_hours == 8
    assert resumed.state.stage.due_at == CATALOG.calendar.add_working_seconds(due_before, 8 * 3600)
    assert resumed.state.appointment_at == CATALOG.calendar.add_working_seconds(appointment_before, 8 * 3600)
    assert resumed.facts[1].data.cause == "pause"


def test_a_restart_procedure_recomputes_the_appointment_from_the_supplement_receipt():
    state = step(started("9.000002"), "supplement_requested", COMMUNE, "02T09:00:00")
    decision = step(state.state, "supplement_received", COMMUNE, "04T10:00:00")
    rescheduled = decision.facts[-1].data
    assert rescheduled.cause == "restart"
    assert rescheduled.appointment_at == CATALOG.calendar.add_working_days(at("04T10:00:00"), 6)


def test_an_obligation_pause_uses_status_6():
    decision = step(started(), "obligation_requested", COMMUNE, "02T09:00:00", amount_vnd=50000)
    assert decision.state.status == 6 and decision.facts[0].data.kind == "obligation"
    wrong = apply(decision.state, "supplement_received", COMMUNE, "02T10:00:00")
    assert isinstance(wrong, Refusal) and "not waiting for a supplement" in wrong.reason


def test_an_apology_moves_the_appointment_once():
    state = full_route()
    later = CATALOG.calendar.add_working_days(state.appointment_at, 3)
    decision = step(state, "apology_issued", PROVINCE_DEPT, "09T08:00:00", new_appointment_at=later)
    assert decision.facts[0].data.cause == "apology" and decision.state.appointment_at == later
    second = apply(
        decision.state,
        "apology_issued",
        PROVINCE_DEPT,
        "09T09:00:00",
        new_appointment_at=CATALOG.calendar.add_working_days(later, 1),
    )
    assert isinstance(second, Refusal) and "only once" in second.reason


def test_an_apology_must_move_the_appointment_later():
    state = started()
    result = apply(state, "apology_issued", COMMUNE, "02T09:00:00", new_appointment_at=state.appointment_at)
    assert isinstance(result, Refusal) and "is not later than the current appointment" in result.reason


def test_a_refusal_at_the_receiving_stage_is_status_3_and_later_status_8():
    assert step(started(), "refused", COMMUNE, "02T09:00:00", reason="không đủ").state.status == 3
    assert step(full_route(), "refused", PROVINCE_DEPT, "09T09:00:00", reason="không đủ").state.status == 8


def test_a_withdrawal_closes_the_dossier_with_status_7():
    decision = step(full_route(), "withdrawn", COMMUNE, "09T09:00:00")
    assert decision.state.status == 7 and types(decision) == ["withdrawn"]


def test_events_before_the_stage_started_are_refused():
    state = step(started(), "stage_completed", COMMUNE, "02T15:00:00", outcome="forward").state
    result = apply(state, "handoff_received", LABOUR, "02T14:00:00")
    assert isinstance(result, Refusal) and "before stage 1 started" in result.reason


def test_forward_from_the_last_stage_is_refused_when_there_is_no_return_stage():
    state = step(started("9.000003"), "stage_completed", COMMUNE, "02T15:00:00", outcome="forward").state
    result = apply(state, "stage_completed", LABOUR, "03T15:00:00", outcome="forward")
    assert isinstance(result, Refusal) and "is the last stage of the plan" in result.reason


def test_a_late_result_is_flagged_against_the_appointment():
    decision = step(full_route(), "stage_completed", PROVINCE_DEPT, "20T10:00:00", outcome="result_ready")
    assert decision.facts[1].data.late is True


def test_postal_delivery_returns_the_dossier():
    state = step(full_route(), "stage_completed", PROVINCE_DEPT, "10T10:00:00", outcome="result_ready").state
    decision = machine.delivered_by_post(state, at("12T10:00:00"), CATALOG)
    assert types(decision)[-1] == "returned" and decision.facts[-1].data.via == "postal"
    assert decision.state.status == 10


@pytest.mark.parametrize("wrong_index", [0, 2])
def test_a_stage_index_that_is_not_the_current_stage_is_refused(wrong_index):
    state = step(started(), "stage_completed", COMMUNE, "02T15:00:00", outcome="forward").state
    result = apply(state, "handoff_received", LABOUR, "03T08:00:00", stage_index=wrong_index)
    assert isinstance(result, Refusal) and f"data.stage_index: {wrong_index}" in result.reason


def test_state_survives_its_json_round_trip():
    from services.routing.state import DossierState

    state = full_route()
    assert DossierState.model_validate_json(state.model_dump_json()) == state
