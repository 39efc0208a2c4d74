"""Supplements and obligations stop the clock; apologies move the appointment once."""

from __future__ import annotations

from tests.unit.routing.support import (
    CALENDAR,
    CODE,
    COMMUNE,
    JUSTICE,
    LABOUR,
    PROVINCE_DEPT,
    RESTART,
    at,
    refused,
    result_ready_at_province,
    seqs,
    started,
    step,
    three_tier_at_province,
    types,
)

HOUR = 3600


def test_a_supplement_request_stops_the_clock():
    state = three_tier_at_province()
    decision = step(state, "supplement_requested", PROVINCE_DEPT, "09T08:00:00", reason="thiếu bản sao")
    assert types(decision) == ["paused"] and seqs(decision) == [state.seq + 1]
    paused = decision.facts[0].data
    assert (paused.kind, paused.stage_index, paused.agency, paused.paused_at) == (
        "supplement",
        2,
        PROVINCE_DEPT,
        at("09T08:00:00"),
    )
    assert (decision.state.status, decision.state.sub_state) == (5, "paused")
    assert decision.state.stage.due_at == state.stage.due_at  # the move is known when the clock restarts


def test_the_supplement_received_moves_the_stage_due_and_the_appointment_by_the_paused_working_time():
    state = three_tier_at_province()
    assert (state.stage.due_at, state.appointment_at) == (at("11T10:00:00"), at("16T08:00:00"))
    paused = step(state, "supplement_requested", PROVINCE_DEPT, "09T08:00:00").state
    decision = step(paused, "supplement_received", COMMUNE, "10T08:00:00")  # one working day later
    assert types(decision) == ["resumed", "rescheduled"]
    resumed, rescheduled = (f.data for f in decision.facts)
    assert (resumed.kind, resumed.paused_at, resumed.resumed_at) == ("supplement", at("09T08:00:00"), at("10T08:00:00"))
    assert (resumed.paused_hours, resumed.policy, resumed.agency) == (8, "pause", PROVINCE_DEPT)
    assert (rescheduled.cause, rescheduled.previous_appointment_at, rescheduled.appointment_at) == (
        "pause",
        at("16T08:00:00"),
        at("17T08:00:00"),
    )
    after = decision.state
    assert (after.stage.due_at, after.stage.paused_seconds) == (at("12T10:00:00"), 8 * HOUR)
    assert (after.appointment_at, after.status, after.sub_state, after.pause) == (
        at("17T08:00:00"),
        4,
        "processing",
        None,
    )


def test_a_pause_over_a_weekend_counts_only_working_time():
    state = three_tier_at_province()
    paused = step(state, "obligation_requested", PROVINCE_DEPT, "06T16:00:00", amount_vnd=50000).state
    decision = step(paused, "obligation_fulfilled", PROVINCE_DEPT, "09T08:30:00")
    assert decision.facts[0].data.paused_hours == 2  # Friday 16:00-17:00 and Monday 07:30-08:30
    assert decision.state.stage.due_at == CALENDAR.add_working_seconds(state.stage.due_at, 2 * HOUR)


def test_a_restart_procedure_counts_its_whole_time_again_from_the_supplement_receipt():
    state = step(started(RESTART), "supplement_requested", COMMUNE, "02T09:00:00").state
    decision = step(state, "supplement_received", COMMUNE, "04T16:00:00")
    assert types(decision) == ["resumed", "rescheduled"]
    assert decision.facts[0].data.policy == "restart"
    rescheduled = decision.facts[1].data
    assert (rescheduled.cause, rescheduled.previous_appointment_at, rescheduled.appointment_at) == (
        "restart",
        at("10T08:00:00"),
        at("12T16:00:00"),  # 6 working days from the receipt
    )
    # The stage's own clock still moves by the paused time: Mon 09:00-17:00, Tue, Wed 07:30-16:00.
    assert decision.state.stage.paused_seconds == int(21.5 * HOUR)
    assert decision.state.stage.due_at == at("05T09:30:00")


def test_an_obligation_pause_is_status_6_and_never_restarts_the_appointment():
    state = step(started(RESTART), "obligation_requested", COMMUNE, "02T09:00:00", amount_vnd=50000)
    assert (state.state.status, state.facts[0].data.kind) == (6, "obligation")
    decision = step(state.state, "obligation_fulfilled", COMMUNE, "02T11:00:00")
    assert decision.facts[0].data.policy == "pause"
    assert decision.facts[1].data.cause == "pause" and decision.state.status == 2


def test_the_answer_must_match_the_pause_it_ends():
    state = step(started(), "obligation_requested", COMMUNE, "02T09:00:00").state
    reason = refused(state, "supplement_received", COMMUNE, "02T10:00:00")
    assert (
        reason
        == f"'supplement_received': dossier {CODE} is not waiting for a supplement (it is paused for a obligation)"
    )
    reason = refused(started(), "obligation_fulfilled", COMMUNE, "02T10:00:00")
    assert reason == f"'obligation_fulfilled': dossier {CODE} is not waiting for a obligation (it is not paused)"


def test_a_pause_ends_by_the_holder_or_the_receiving_agency_only():
    state = step(three_tier_at_province(), "supplement_requested", PROVINCE_DEPT, "09T08:00:00").state
    reason = refused(state, "supplement_received", LABOUR, "09T09:00:00")
    assert reason == (
        f"dossier {CODE} is held by {PROVINCE_DEPT} (stage 2) and was received by {COMMUNE}; "
        f"'supplement_received' from {LABOUR} is not accepted"
    )


def test_a_pause_cannot_end_before_it_began():
    state = step(three_tier_at_province(), "supplement_requested", PROVINCE_DEPT, "09T08:00:00").state
    reason = refused(state, "supplement_received", PROVINCE_DEPT, "06T10:00:00")
    assert reason == (
        "occurred_at 2026-03-06T10:00:00+07:00 is earlier than the supplement request it answers "
        "(2026-03-09T08:00:00+07:00)"
    )


def test_only_the_holder_requests_a_pause_and_only_one_at_a_time():
    state = three_tier_at_province()
    assert refused(state, "supplement_requested", COMMUNE, "09T08:00:00").startswith(
        f"dossier {CODE} is held by {PROVINCE_DEPT} (stage 2), not {COMMUNE}"
    )
    paused = step(state, "supplement_requested", PROVINCE_DEPT, "09T08:00:00").state
    reason = refused(paused, "obligation_requested", PROVINCE_DEPT, "09T09:00:00")
    assert reason == (
        f"dossier {CODE} is already paused (supplement requested at 2026-03-09T08:00:00+07:00); one pause at a time"
    )


def test_a_pause_requested_before_the_receipt_infers_the_receipt():
    state = step(started(), "stage_completed", COMMUNE, "02T15:00:00", outcome="forward").state
    decision = step(state, "supplement_requested", LABOUR, "03T10:00:00")
    assert types(decision) == ["handoff_received", "paused"]
    assert decision.facts[0].data.inferred is True


def test_no_supplement_once_the_result_is_ready_but_an_obligation_at_the_return_stage_is_allowed():
    state = step(result_ready_at_province(), "handoff_received", COMMUNE, "10T14:00:00").state
    reason = refused(state, "supplement_requested", COMMUNE, "10T15:00:00")
    assert reason == (
        f"the result of dossier {CODE} is already ready (at 2026-03-10T10:00:00+07:00); "
        "'supplement_requested' is no longer accepted"
    )
    paused = step(state, "obligation_requested", COMMUNE, "10T15:00:00", amount_vnd=20000).state
    assert (paused.status, paused.sub_state) == (6, "paused")
    resumed = step(paused, "obligation_fulfilled", COMMUNE, "10T16:00:00").state
    assert (resumed.status, resumed.sub_state) == (9, "awaiting_return")


def test_an_apology_moves_the_appointment_to_its_new_date():
    state = three_tier_at_province()
    decision = step(state, "apology_issued", PROVINCE_DEPT, "09T08:00:00", new_appointment_at=at("19T08:00:00"))
    assert types(decision) == ["rescheduled"]
    fact = decision.facts[0]
    assert (fact.agency, fact.data.cause, fact.data.agency) == (PROVINCE_DEPT, "apology", PROVINCE_DEPT)
    assert (fact.data.previous_appointment_at, fact.data.appointment_at) == (at("16T08:00:00"), at("19T08:00:00"))
    assert decision.state.appointment_at == at("19T08:00:00")
    assert decision.state.apology_issued_at == at("09T08:00:00")


def test_an_apology_is_allowed_once():
    state = step(
        three_tier_at_province(), "apology_issued", PROVINCE_DEPT, "09T08:00:00", new_appointment_at=at("19T08:00:00")
    ).state
    reason = refused(state, "apology_issued", PROVINCE_DEPT, "09T09:00:00", new_appointment_at=at("20T08:00:00"))
    assert reason == (
        f"an apology was already issued for dossier {CODE} at 2026-03-09T08:00:00+07:00; "
        "the appointment may be moved by an apology only once"
    )


def test_an_apology_must_move_the_appointment_later():
    state = started()
    reason = refused(state, "apology_issued", COMMUNE, "02T09:00:00", new_appointment_at=state.appointment_at)
    assert reason == (
        "data.new_appointment_at: 2026-03-16T08:00:00+07:00 is not later than the current appointment "
        "2026-03-16T08:00:00+07:00"
    )


def test_no_apology_once_the_result_is_ready():
    reason = refused(
        result_ready_at_province(), "apology_issued", COMMUNE, "10T11:00:00", new_appointment_at=at("20T08:00:00")
    )
    assert reason == (
        f"the result of dossier {CODE} is already ready (at 2026-03-10T10:00:00+07:00); "
        "'apology_issued' is no longer accepted"
    )


def test_an_apology_comes_from_an_agency_of_the_plan():
    reason = refused(started(), "apology_issued", JUSTICE, "02T09:00:00", new_appointment_at=at("20T08:00:00"))
    assert reason == f"agency {JUSTICE} has no stage in the plan of dossier {CODE} and cannot apologise for it"


def test_a_pause_after_an_apology_moves_the_apology_date():
    state = step(
        three_tier_at_province(), "apology_issued", PROVINCE_DEPT, "09T08:00:00", new_appointment_at=at("19T08:00:00")
    ).state
    state = step(state, "supplement_requested", PROVINCE_DEPT, "09T09:00:00").state
    decision = step(state, "supplement_received", PROVINCE_DEPT, "09T13:00:00")  # 2.5 working hours
    assert decision.facts[1].data.previous_appointment_at == at("19T08:00:00")
    assert decision.state.appointment_at == at("19T10:30:00")
