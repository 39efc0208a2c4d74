"""A received dossier becomes a plan: `routed` with every stage's agency, level, budget and planned due."""

from __future__ import annotations

from services.routing import machine
from services.routing.plans import last_processing_index, resolve_plan, return_index
from services.routing.state import DossierState, dump_state, load_state
from tests.unit.routing.support import (
    CATALOG,
    CODE,
    COMMUNE,
    JUSTICE,
    LABOUR,
    NO_RETURN,
    PROVINCE,
    PROVINCE_DEPT,
    RESTART,
    TWO_TIER,
    at,
    received,
    result_ready_at_province,
    started,
    types,
)


def test_a_three_tier_plan_goes_commune_district_province_and_back():
    decision = machine.start_dossier(CODE, received(), CATALOG)
    assert types(decision) == ["routed"]
    fact = decision.facts[0]
    assert (fact.agency, fact.occurred_at, fact.data.seq) == (COMMUNE, at("02T08:00:00"), 1)
    routed = fact.data
    assert [(s.agency, s.agency_level, s.role) for s in routed.stages] == [
        (COMMUNE, "commune", "receive"),
        (LABOUR, "district", "process"),
        (PROVINCE_DEPT, "province", "decide"),
        (COMMUNE, "commune", "return"),
    ]
    assert [s.budget_hours for s in routed.stages] == [8, 32, 32, 8]
    assert [s.planned_due for s in routed.stages] == [
        at("03T08:00:00"),
        at("09T08:00:00"),
        at("13T08:00:00"),
        at("16T08:00:00"),
    ]
    assert routed.appointment_at == at("16T08:00:00")  # 10 working days
    assert decision.assignments == ()  # stage 0 is at the receiving agency already


def test_a_two_tier_plan_goes_commune_province_and_back():
    routed = machine.start_dossier(CODE, received(TWO_TIER), CATALOG).facts[0].data
    assert [(s.agency, s.agency_level) for s in routed.stages] == [
        (COMMUNE, "commune"),
        (PROVINCE_DEPT, "province"),
        (PROVINCE, "province"),
        (COMMUNE, "commune"),
    ]
    assert routed.stages[-1].planned_due == routed.appointment_at == at("11T08:00:00")


def test_receiving_resolves_to_the_agency_where_the_dossier_was_submitted():
    plan = resolve_plan(CATALOG.procedures[RESTART], "T01.00.02.X99", CATALOG)
    assert [s.agency for s in plan] == ["T01.00.02.X99", "T01.00.02.X99", JUSTICE, "T01.00.02.X99"]
    assert (last_processing_index(plan), return_index(plan)) == (2, 3)


def test_a_plan_without_return_stage_ends_at_its_last_processing_stage():
    plan = resolve_plan(CATALOG.procedures[NO_RETURN], COMMUNE, CATALOG)
    assert (last_processing_index(plan), return_index(plan)) == (1, None)


def test_stage_zero_starts_at_the_receipt_and_is_already_received():
    state = started()
    record = state.stage
    assert (state.current, state.holder, state.status, state.sub_state) == (0, COMMUNE, 2, "processing")
    assert record.sent_at == record.received_at == at("02T08:00:00")
    assert (record.budget_seconds, record.due_at) == (8 * 3600, at("03T08:00:00"))


def test_a_receipt_after_the_cutoff_counts_stage_zero_from_the_next_working_day():
    state = started(when="02T15:30:00")  # 9.000001 has an intake cut-off at 15:00
    assert state.stage.received_at == at("02T15:30:00")
    assert state.stage.due_at == at("03T17:00:00")  # one working day from Tuesday 07:30: its last second
    assert machine.start_dossier(CODE, received(when="02T15:30:00"), CATALOG).facts[0].occurred_at == at("02T15:30:00")


def test_a_half_day_budget_is_half_the_first_days_office_hours():
    assert started(RESTART).stage.due_at == at("02T13:30:00")  # 4 working hours from 08:00


def test_state_survives_its_json_round_trip():
    state = result_ready_at_province()
    again = load_state(dump_state(state))
    assert isinstance(again, DossierState) and again == state
