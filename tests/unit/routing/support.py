"""Building dossiers and feeding the routing machine events, for the pure unit tests.

Times are March 2026, Vietnam time (`at("02T15:00:00")` is Monday 2 March, 15:00). Office hours of
the tests' catalog in March: 07:30-11:30 and 13:00-17:00 (8 working hours a day).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from services.routing import machine
from services.routing.machine import Decision, Refusal
from services.routing.state import DossierState
from shared.catalog import load_catalog
from shared.contracts import events as ev
from tests.harness import CATALOGS

CATALOG = load_catalog(CATALOGS / "basic.yaml")
CALENDAR = CATALOG.calendar
COMMUNE, LABOUR, JUSTICE = "T01.00.01.X99", "T01.31.00.X99", "T01.32.00.X99"
PROVINCE, PROVINCE_DEPT = "T00.00.00.X99", "T00.05.00.X99"
THREE_TIER = "9.000001"  # commune (1) -> district labour (4) -> province dept (4) -> commune return (1)
RESTART = "9.000002"  # commune (0.5) -> commune (1.5) -> district justice (3) -> commune return (1)
NO_RETURN = "9.000003"  # commune (1) -> district labour (2)
TWO_TIER = "9.000004"  # commune (1) -> province dept (3) -> province PC (2) -> commune return (1)
CODE = f"{COMMUNE}-260302-0001"


def at(text: str) -> datetime:
    return datetime.fromisoformat(f"2026-03-{text}+07:00")


def received(procedure: str = THREE_TIER, when: str = "02T08:00:00", return_method: str = "counter"):
    proc = CATALOG.procedures[procedure]
    start = CALENDAR.counting_start(at(when), proc.intake_cutoff)
    return ev.DossierReceived(
        procedure=procedure,
        receiving_agency=COMMUNE,
        channel="counter",
        return_method=return_method,
        received_at=at(when),
        counting_from=start,
        appointment_at=CALENDAR.add_working_days(start, proc.total_working_days),
        total_working_days=proc.total_working_days,
        external_ref="ref-1",
    )


def started(procedure: str = THREE_TIER, **kw) -> DossierState:
    return machine.start_dossier(CODE, received(procedure, **kw), CATALOG).state


def envelope(action: str, agency: str | None, when: datetime) -> ev.Envelope:
    return ev.Envelope(
        event_id=str(uuid.uuid4()), type=action, occurred_at=when, agency=agency, dossier_code=CODE, data={}
    )


def apply(state: DossierState, action: str, agency: str, when: str, **data) -> Decision | Refusal:
    model = ev.AGENCY_ACTIONS[action](**data)
    return machine.decide(state, envelope(action, agency, at(when)), model, CATALOG)


def step(state: DossierState, action: str, agency: str, when: str, **data) -> Decision:
    result = apply(state, action, agency, when, **data)
    assert isinstance(result, Decision), result
    return result


def refused(state: DossierState, action: str, agency: str, when: str, **data) -> str:
    result = apply(state, action, agency, when, **data)
    assert isinstance(result, Refusal), result
    return result.reason


def delivered(state: DossierState, when: str, status: str = "delivered", direction: str = "delivery"):
    shipment = ev.ShipmentUpdated(waybill="EB1", direction=direction, status=status, at=at(when))
    return machine.decide(state, envelope("shipment_updated", None, at(when)), shipment, CATALOG)


def types(decision: Decision) -> list[str]:
    return [f.type for f in decision.facts]


def seqs(decision: Decision) -> list[int]:
    return [f.data.seq for f in decision.facts]


def three_tier_at_province() -> DossierState:
    """9.000001 forwarded by the commune and the district, received at the province department."""
    state = step(started(), "stage_completed", COMMUNE, "02T15:00:00", outcome="forward").state
    state = step(state, "handoff_received", LABOUR, "03T08:00:00").state
    state = step(state, "stage_completed", LABOUR, "05T10:00:00", outcome="forward").state
    return step(state, "handoff_received", PROVINCE_DEPT, "06T09:00:00").state


def result_ready_at_province(when: str = "10T10:00:00") -> DossierState:
    return step(three_tier_at_province(), "stage_completed", PROVINCE_DEPT, when, outcome="result_ready").state
