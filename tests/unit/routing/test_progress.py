"""Hand-offs and completed stages: how a dossier moves along its plan, and what is refused."""

from __future__ import annotations

import pytest

from tests.unit.routing.support import (
    CODE,
    COMMUNE,
    JUSTICE,
    LABOUR,
    NO_RETURN,
    PROVINCE,
    PROVINCE_DEPT,
    RESTART,
    TWO_TIER,
    apply,
    at,
    refused,
    result_ready_at_province,
    seqs,
    started,
    step,
    three_tier_at_province,
    types,
)


def test_forward_ends_the_stage_and_hands_the_dossier_to_the_next_agency():
    decision = step(started(), "stage_completed", COMMUNE, "02T15:00:00", outcome="forward")
    assert types(decision) == ["stage_completed", "handoff_sent"] and seqs(decision) == [2, 3]
    completed, sent = (f.data for f in decision.facts)
    assert (completed.stage_index, completed.agency, completed.outcome) == (0, COMMUNE, "forward")
    assert (sent.stage_index, sent.from_agency, sent.to_agency, sent.to_level) == (1, COMMUNE, LABOUR, "district")
    assert (sent.sent_at, sent.budget_hours, sent.due_at) == (at("02T15:00:00"), 32, at("06T15:00:00"))
    assert decision.facts[1].agency == LABOUR
    (assigned,) = decision.assignments
    assert (assigned.agency, assigned.occurred_at) == (LABOUR, at("02T15:00:00"))
    assert (assigned.data.stage_index, assigned.data.from_agency, assigned.data.purpose) == (1, COMMUNE, "process")
    assert (assigned.data.due_at, assigned.data.procedure) == (at("06T15:00:00"), "9.000001")
    state = decision.state
    assert (state.current, state.holder, state.status, state.sub_state) == (1, LABOUR, 4, "awaiting_handoff")


def test_an_explicit_receipt_marks_the_hand_off_received():
    state = step(started(), "stage_completed", COMMUNE, "02T15:00:00", outcome="forward").state
    decision = step(state, "handoff_received", LABOUR, "03T08:00:00", stage_index=1)
    assert types(decision) == ["handoff_received"] and seqs(decision) == [4]
    fact = decision.facts[0].data
    assert (fact.stage_index, fact.agency, fact.received_at, fact.inferred) == (1, LABOUR, at("03T08:00:00"), False)
    assert decision.state.sub_state == "processing"
    assert decision.state.stage.due_at == at("06T15:00:00")  # the stage started when it was sent


def test_a_completion_whose_receipt_never_came_infers_the_receipt_at_the_completion():
    state = step(started(), "stage_completed", COMMUNE, "02T15:00:00", outcome="forward").state
    decision = step(state, "stage_completed", LABOUR, "04T10:00:00", outcome="forward")
    assert types(decision) == ["handoff_received", "stage_completed", "handoff_sent"]
    receipt = decision.facts[0].data
    assert (receipt.stage_index, receipt.received_at, receipt.inferred) == (1, at("04T10:00:00"), True)
    assert decision.state.stages[1].received_inferred is True


def test_the_late_explicit_receipt_of_an_inferred_receipt_is_a_no_op():
    state = step(started(), "stage_completed", COMMUNE, "02T15:00:00", outcome="forward").state
    state = step(state, "supplement_requested", LABOUR, "03T10:00:00").state  # infers the receipt
    again = step(state, "handoff_received", LABOUR, "03T09:00:00")
    assert again.facts == () and again.state == state


def test_a_second_explicit_receipt_is_refused():
    state = step(started(), "stage_completed", COMMUNE, "02T15:00:00", outcome="forward").state
    state = step(state, "handoff_received", LABOUR, "02T16:00:00").state
    reason = refused(state, "handoff_received", LABOUR, "02T16:30:00")
    assert reason == (
        f"the hand-off of stage 1 of dossier {CODE} to {LABOUR} was already received at 2026-03-02T16:00:00+07:00"
    )


def test_a_same_agency_stage_is_received_when_sent_and_its_explicit_receipt_is_a_no_op():
    state = started(RESTART)  # receive@commune -> process@commune -> decide@justice -> return@commune
    decision = step(state, "stage_completed", COMMUNE, "02T10:00:00", outcome="forward")
    assert types(decision) == ["stage_completed", "handoff_sent", "handoff_received"]
    receipt = decision.facts[2].data
    assert (receipt.stage_index, receipt.received_at, receipt.inferred) == (1, at("02T10:00:00"), True)
    assert decision.state.stage.auto_received and decision.state.sub_state == "processing"
    assert [a.agency for a in decision.assignments] == [COMMUNE]  # the unit still gets its assignment
    again = step(decision.state, "handoff_received", COMMUNE, "02T10:05:00")
    assert again.facts == () and again.state == decision.state


def test_only_the_holding_agency_may_receive_or_complete_its_stage():
    reason = refused(started(), "stage_completed", LABOUR, "02T15:00:00", outcome="forward")
    assert reason == (
        f"dossier {CODE} is held by {COMMUNE} (stage 0), not {LABOUR}; only the holding agency may send "
        "'stage_completed'"
    )
    state = step(started(), "stage_completed", COMMUNE, "02T15:00:00", outcome="forward").state
    assert refused(state, "handoff_received", PROVINCE_DEPT, "03T08:00:00").startswith(
        f"dossier {CODE} is held by {LABOUR} (stage 1), not {PROVINCE_DEPT}"
    )


@pytest.mark.parametrize("wrong_index", [0, 2])
def test_a_stage_index_that_is_not_the_current_stage_is_refused(wrong_index):
    state = step(started(), "stage_completed", COMMUNE, "02T15:00:00", outcome="forward").state
    reason = refused(state, "handoff_received", LABOUR, "03T08:00:00", stage_index=wrong_index)
    assert reason == f"data.stage_index: {wrong_index} is not the dossier's current stage (1, at {LABOUR})"


def test_an_event_earlier_than_the_current_stage_start_is_refused():
    state = step(started(), "stage_completed", COMMUNE, "02T15:00:00", outcome="forward").state
    reason = refused(state, "handoff_received", LABOUR, "02T14:00:00")
    assert reason == (
        "occurred_at 2026-03-02T14:00:00+07:00 is earlier than the start of stage 1 at "
        f"{LABOUR} (2026-03-02T15:00:00+07:00)"
    )
    assert "earlier than the start of stage 0" in refused(
        started(), "stage_completed", COMMUNE, "02T07:59:59", outcome="forward"
    )


def test_result_ready_is_refused_before_the_last_processing_stage():
    reason = refused(started(), "stage_completed", COMMUNE, "02T15:00:00", outcome="result_ready")
    assert reason == (
        "outcome 'result_ready' is only allowed on the plan's last processing stage (2) or its return "
        f"stage, not on stage 0 (receive at {COMMUNE})"
    )


def test_result_ready_on_the_last_processing_stage_sends_the_result_to_the_return_stage():
    decision = step(three_tier_at_province(), "stage_completed", PROVINCE_DEPT, "10T10:00:00", outcome="result_ready")
    assert types(decision) == ["stage_completed", "result_ready", "handoff_sent"]
    ready = decision.facts[1].data
    assert (ready.stage_index, ready.agency, ready.ready_at) == (2, PROVINCE_DEPT, at("10T10:00:00"))
    assert (ready.appointment_at, ready.late, ready.return_method) == (at("16T08:00:00"), False, "counter")
    sent = decision.facts[2].data
    assert (sent.stage_index, sent.to_agency, sent.role, sent.due_at) == (3, COMMUNE, "return", at("11T10:00:00"))
    (assigned,) = decision.assignments
    assert (assigned.agency, assigned.data.purpose, assigned.data.stage_index) == (COMMUNE, "return", 3)
    assert (decision.state.status, decision.state.sub_state) == (9, "awaiting_handoff")
    received = step(decision.state, "handoff_received", COMMUNE, "10T14:00:00").state
    assert received.sub_state == "awaiting_return"


def test_a_result_ready_after_the_appointment_is_late():
    decision = step(three_tier_at_province(), "stage_completed", PROVINCE_DEPT, "16T08:00:01", outcome="result_ready")
    assert decision.facts[1].data.late is True
    on_time = step(three_tier_at_province(), "stage_completed", PROVINCE_DEPT, "16T08:00:00", outcome="result_ready")
    assert on_time.facts[1].data.late is False  # compared to the second: at the appointment is on time


def test_the_result_is_ready_only_once():
    state = step(started(TWO_TIER), "stage_completed", COMMUNE, "02T09:00:00", outcome="forward").state
    state = step(state, "stage_completed", PROVINCE_DEPT, "03T09:00:00", outcome="forward").state
    state = step(state, "stage_completed", PROVINCE, "04T09:00:00", outcome="forward").state  # into the return
    ready = step(state, "stage_completed", COMMUNE, "04T10:00:00", outcome="result_ready")
    assert types(ready) == ["handoff_received", "result_ready"]  # the return stage itself is not completed
    assert (ready.facts[1].data.stage_index, ready.state.current, ready.assignments) == (3, 3, ())
    reason = refused(ready.state, "stage_completed", COMMUNE, "04T11:00:00", outcome="result_ready")
    assert (
        reason
        == f"outcome 'result_ready': the result of dossier {CODE} is already ready (at 2026-03-04T10:00:00+07:00)"
    )


def test_forward_from_the_return_stage_is_refused():
    state = result_ready_at_province()
    reason = refused(state, "stage_completed", COMMUNE, "10T15:00:00", outcome="forward")
    assert reason == (
        "outcome 'forward': stage 3 is the return stage; it ends with 'result_returned' (or the post's delivery)"
    )


def test_forward_from_the_last_stage_of_a_plan_without_return_is_refused():
    state = step(started(NO_RETURN), "stage_completed", COMMUNE, "02T15:00:00", outcome="forward").state
    reason = refused(state, "stage_completed", LABOUR, "03T15:00:00", outcome="forward")
    assert reason == (
        f"outcome 'forward': stage 1 is the last stage of the plan of dossier {CODE}; there is no next stage "
        "(use outcome 'result_ready')"
    )


def test_without_return_stage_the_last_stage_ends_at_result_ready_and_the_dossier_awaits_return():
    state = step(started(NO_RETURN), "stage_completed", COMMUNE, "02T15:00:00", outcome="forward").state
    decision = step(state, "stage_completed", LABOUR, "03T15:00:00", outcome="result_ready")
    assert types(decision) == ["handoff_received", "stage_completed", "result_ready"]
    assert decision.assignments == () and decision.state.sub_state == "awaiting_return"
    reason = refused(decision.state, "supplement_requested", LABOUR, "03T16:00:00")
    assert reason == (
        f"stage 1 of dossier {CODE} was completed at 2026-03-03T15:00:00+07:00; the dossier awaits the return "
        "of its result, so 'supplement_requested' is not accepted"
    )


def test_a_stage_cannot_be_completed_while_paused():
    state = step(three_tier_at_province(), "obligation_requested", PROVINCE_DEPT, "09T08:00:00").state
    reason = refused(state, "stage_completed", PROVINCE_DEPT, "09T09:00:00", outcome="result_ready")
    assert reason == (
        f"dossier {CODE} is paused (obligation requested at 2026-03-09T08:00:00+07:00); 'stage_completed' is "
        "not accepted until the obligation is fulfilled"
    )


def test_every_stage_of_a_two_tier_dossier_is_judged_on_its_own_budget():
    state = step(started(TWO_TIER), "stage_completed", COMMUNE, "02T15:00:00", outcome="forward").state
    assert (state.stage.budget_seconds, state.stage.due_at) == (24 * 3600, at("05T15:00:00"))
    late = step(state, "stage_completed", PROVINCE_DEPT, "09T15:00:00", outcome="forward").state
    assert late.stage.due_at == at("11T15:00:00")  # from its own hand-off, whatever stage 1 used
    assert (late.holder, late.plan_stage.level) == (PROVINCE, "province")


def test_a_completion_by_the_agency_that_no_longer_holds_the_dossier_is_refused():
    state = step(started(RESTART), "stage_completed", COMMUNE, "02T10:00:00", outcome="forward").state
    state = step(state, "stage_completed", COMMUNE, "02T11:00:00", outcome="forward").state
    assert state.holder == JUSTICE
    assert refused(state, "stage_completed", COMMUNE, "02T11:30:00", outcome="forward").startswith(
        f"dossier {CODE} is held by {JUSTICE} (stage 2), not {COMMUNE}"
    )


def test_decisions_do_not_touch_the_state_they_were_given():
    state = started()
    decision = apply(state, "stage_completed", COMMUNE, "02T15:00:00", outcome="forward")
    assert state.current == 0 and state.seq == 1 and decision.state.seq == 3
