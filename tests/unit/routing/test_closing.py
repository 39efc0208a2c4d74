"""How a dossier ends (refused, withdrawn, returned at a counter or by post), and that nothing
happens to it afterwards; the rules every event goes through first."""

from __future__ import annotations

import pytest

from services.routing import machine
from services.routing.machine import Decision, Refusal
from tests.unit.routing.support import (
    CATALOG,
    CODE,
    COMMUNE,
    LABOUR,
    NO_RETURN,
    PROVINCE_DEPT,
    TWO_TIER,
    at,
    delivered,
    envelope,
    refused,
    result_ready_at_province,
    started,
    step,
    three_tier_at_province,
    types,
)


def test_a_refusal_at_the_receiving_stage_is_status_3():
    decision = step(started(), "refused", COMMUNE, "02T09:00:00", reason="Hồ sơ không đủ điều kiện")
    assert types(decision) == ["refused"]
    fact = decision.facts[0].data
    assert (fact.stage_index, fact.agency, fact.reason) == (0, COMMUNE, "Hồ sơ không đủ điều kiện")
    state = decision.state
    assert (state.status, state.sub_state, state.closed, state.closed_at) == (3, "closed", "refused", at("02T09:00:00"))


def test_a_refusal_after_the_receiving_stage_stops_the_dossier_with_status_8():
    decision = step(three_tier_at_province(), "refused", PROVINCE_DEPT, "09T09:00:00", reason="Không đủ điều kiện")
    assert (decision.state.status, decision.facts[0].data.stage_index) == (8, 2)


def test_only_the_holder_refuses_and_not_once_the_result_is_ready():
    assert refused(three_tier_at_province(), "refused", COMMUNE, "09T09:00:00", reason="x").startswith(
        f"dossier {CODE} is held by {PROVINCE_DEPT} (stage 2), not {COMMUNE}"
    )
    state = step(result_ready_at_province(), "handoff_received", COMMUNE, "10T14:00:00").state
    assert refused(state, "refused", COMMUNE, "10T15:00:00", reason="x") == (
        f"the result of dossier {CODE} is already ready (at 2026-03-10T10:00:00+07:00); 'refused' is no longer accepted"
    )


def test_a_withdrawal_by_the_receiving_agency_closes_the_dossier_with_status_7():
    decision = step(three_tier_at_province(), "withdrawn", COMMUNE, "09T09:00:00", reason="Công dân rút hồ sơ")
    assert types(decision) == ["withdrawn"]
    assert (decision.facts[0].data.stage_index, decision.facts[0].data.agency) == (2, COMMUNE)
    assert (decision.state.status, decision.state.closed) == (7, "withdrawn")


def test_a_withdrawal_from_an_agency_neither_holding_nor_receiving_is_refused():
    reason = refused(three_tier_at_province(), "withdrawn", LABOUR, "09T09:00:00")
    assert reason == (
        f"dossier {CODE} is held by {PROVINCE_DEPT} (stage 2) and was received by {COMMUNE}; "
        f"'withdrawn' from {LABOUR} is not accepted"
    )


def test_the_result_returned_at_the_counter_closes_the_return_stage_and_the_dossier():
    state = step(result_ready_at_province(), "handoff_received", COMMUNE, "10T14:00:00").state
    decision = step(state, "result_returned", COMMUNE, "11T09:00:00")
    assert types(decision) == ["stage_completed", "returned"]
    completed, returned = (f.data for f in decision.facts)
    assert (completed.stage_index, completed.outcome, completed.completed_at) == (3, "returned", at("11T09:00:00"))
    assert (returned.returned_at, returned.via, decision.facts[1].agency) == (at("11T09:00:00"), "counter", COMMUNE)
    after = decision.state
    assert (after.status, after.sub_state, after.closed, after.returned_at) == (
        10,
        "closed",
        "returned",
        at("11T09:00:00"),
    )


def test_a_return_without_the_return_stage_receipt_infers_it():
    decision = step(result_ready_at_province(), "result_returned", COMMUNE, "10T15:00:00")
    assert types(decision) == ["handoff_received", "stage_completed", "returned"]
    assert decision.facts[0].data.inferred is True


def test_the_result_is_returned_only_after_it_is_ready():
    reason = refused(started(), "result_returned", COMMUNE, "02T15:00:00")
    assert reason == f"dossier {CODE} has no result yet; 'result_returned' comes after 'result_ready'"


def test_the_result_is_returned_by_the_receiving_agency_or_the_return_stage_agency_only():
    reason = refused(result_ready_at_province(), "result_returned", PROVINCE_DEPT, "10T15:00:00")
    assert reason == f"the result of dossier {CODE} is handed to the citizen by {COMMUNE}, not {PROVINCE_DEPT}"
    state = step(started(NO_RETURN), "stage_completed", COMMUNE, "02T15:00:00", outcome="forward").state
    state = step(state, "stage_completed", LABOUR, "03T15:00:00", outcome="result_ready").state
    assert refused(state, "result_returned", LABOUR, "03T16:00:00").endswith(f"by {COMMUNE}, not {LABOUR}")
    decision = step(state, "result_returned", COMMUNE, "04T08:00:00")
    assert types(decision) == ["returned"]  # no return stage to close


def test_the_result_is_not_returned_before_it_was_ready():
    reason = refused(result_ready_at_province(), "result_returned", COMMUNE, "10T09:00:00")
    assert reason == (
        f"occurred_at 2026-03-10T09:00:00+07:00 is earlier than the result of dossier {CODE} was ready "
        "(2026-03-10T10:00:00+07:00)"
    )


def test_the_result_is_not_returned_while_an_obligation_is_unpaid():
    state = step(result_ready_at_province(), "obligation_requested", COMMUNE, "10T11:00:00").state
    assert refused(state, "result_returned", COMMUNE, "10T15:00:00").startswith(
        f"dossier {CODE} is paused (obligation requested at 2026-03-10T11:00:00+07:00)"
    )


def test_the_posts_delivery_returns_the_dossier_and_closes_the_return_stage():
    state = step(
        started(TWO_TIER, return_method="postal"), "stage_completed", COMMUNE, "02T09:00:00", outcome="forward"
    ).state
    state = step(state, "stage_completed", PROVINCE_DEPT, "03T09:00:00", outcome="forward").state
    state = step(state, "stage_completed", "T00.00.00.X99", "04T09:00:00", outcome="result_ready").state
    assert state.stage.received_at is None and state.result_ready_at == at("04T09:00:00")
    decision = delivered(state, "05T10:00:00")
    assert types(decision) == ["handoff_received", "stage_completed", "returned"]
    returned = decision.facts[-1].data
    assert (returned.via, returned.returned_at) == ("postal", at("05T10:00:00"))
    assert (decision.state.status, decision.state.stages[3].outcome) == (10, "returned")


@pytest.mark.parametrize(
    ("status", "direction"), [("in_transit", "delivery"), ("delivery_failed", "delivery"), ("delivered", "pickup")]
)
def test_other_shipment_updates_change_nothing(status, direction):
    state = result_ready_at_province()
    decision = delivered(state, "11T10:00:00", status=status, direction=direction)
    assert isinstance(decision, Decision) and decision.facts == () and decision.state == state


def test_a_delivery_before_the_result_is_refused():
    result = delivered(three_tier_at_province(), "09T10:00:00")
    assert result == Refusal(f"dossier {CODE} has no result yet, so the post cannot have delivered it")


@pytest.mark.parametrize(
    ("action", "agency", "data"),
    [
        ("handoff_received", COMMUNE, {}),
        ("stage_completed", COMMUNE, {"outcome": "forward"}),
        ("supplement_requested", COMMUNE, {}),
        ("apology_issued", COMMUNE, {"new_appointment_at": at("30T08:00:00")}),
        ("withdrawn", COMMUNE, {}),
        ("result_returned", COMMUNE, {}),
    ],
)
def test_no_event_is_accepted_on_a_closed_dossier(action, agency, data):
    state = step(result_ready_at_province(), "result_returned", COMMUNE, "11T09:00:00").state
    reason = refused(state, action, agency, "12T09:00:00", **data)
    assert reason == (
        f"dossier {CODE} is closed (returned at 2026-03-11T09:00:00+07:00); no further '{action}' is accepted"
    )


def test_a_second_delivery_of_a_returned_dossier_is_refused():
    state = step(result_ready_at_province(), "result_returned", COMMUNE, "11T09:00:00").state
    assert delivered(state, "12T09:00:00") == Refusal(
        f"dossier {CODE} is closed (returned at 2026-03-11T09:00:00+07:00); no further 'delivery delivered' is accepted"
    )


def test_an_action_routing_does_not_handle_is_refused():
    result = machine.decide(started(), envelope("submitted", COMMUNE, at("02T09:00:00")), None, CATALOG)
    assert isinstance(result, Refusal) and result.reason.startswith(
        "type: 'submitted' is not an action routing accepts"
    )


def test_an_unknown_dossier_is_retried_for_three_deliveries_then_refused():
    assert [machine.unknown_dossier(CODE, n) for n in (1, 2, 3)] == [None, None, None]
    assert machine.unknown_dossier(CODE, 4) == Refusal(f"dossier_code: unknown dossier '{CODE}'")
