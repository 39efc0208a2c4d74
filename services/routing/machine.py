"""The routing state machine: pure decisions from (state, event) to (new state, facts, assignments)
or a precise refusal. The rules are those of docs/design.md ("Routing rules").

    decide(state, envelope, data, catalog) -> Decision | Refusal

`envelope` is the inbound event's envelope (its `type` is the action, its `agency` the sender,
its `occurred_at` the business time every consequence is dated with); `data` its validated data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

from pydantic import BaseModel

from services.routing import checks, clock_stops, closing, progress
from services.routing.outcome import AssignmentOut, Decision, FactOut, Recorder, Refusal
from services.routing.plans import planned_stages, resolve_plan, stage_budget
from services.routing.state import DossierState, StageRecord, settle
from shared.catalog import Catalog
from shared.contracts import events as ev

__all__ = ["AssignmentOut", "Decision", "FactOut", "Refusal", "decide", "start_dossier", "unknown_dossier"]

# Deliveries of an event for a dossier routing does not know yet before it is refused: the
# dossier's `received` fact may still be on its way from intake.
UNKNOWN_DOSSIER_DELIVERIES = 3

Step = Callable[[Recorder, str, datetime, BaseModel], Decision | Refusal]

AGENCY_STEPS: dict[str, Step] = {
    "handoff_received": progress.handoff_received,
    "stage_completed": progress.stage_completed,
    "apology_issued": clock_stops.apology_issued,
    "refused": closing.refused,
    "withdrawn": closing.withdrawn,
    "result_returned": closing.result_returned,
    **{action: partial(clock_stops.pause_requested, action=action) for action in clock_stops.REQUESTS},
    **{action: partial(clock_stops.pause_ended, action=action) for action in clock_stops.ANSWERS},
}
ROUTED_ACTIONS = frozenset(AGENCY_STEPS)
SHIPMENT_UPDATED = "shipment_updated"


def start_dossier(code: str, received: ev.DossierReceived, catalog: Catalog) -> Decision:
    """A received dossier: resolve its plan, publish it (`routed`, seq 1), start stage 0 at the receipt.

    Stage 0 is at the receiving agency and already received; its clock counts from the counting
    start of the receipt (the next working day after the intake cut-off)."""
    procedure = catalog.procedure(received.procedure)
    plan = resolve_plan(procedure, received.receiving_agency, catalog)
    calendar = catalog.calendar
    budget, due = stage_budget(calendar, received.counting_from, plan[0].working_days)
    first = StageRecord(
        index=0,
        sent_at=received.received_at,
        received_at=received.received_at,
        budget_seconds=budget,
        due_at=due,
    )
    state = DossierState(
        code=code,
        procedure=procedure.code,
        receiving_agency=received.receiving_agency,
        return_method=received.return_method,
        supplement_policy=procedure.supplement_policy,
        intake_cutoff=procedure.intake_cutoff,
        total_working_days=procedure.total_working_days,
        received_at=received.received_at,
        counting_from=received.counting_from,
        plan=plan,
        stages=(first, *(StageRecord(index=s.index) for s in plan[1:])),
        current=0,
        status=0,
        sub_state="",
        appointment_at=received.appointment_at,
    )
    rec = Recorder(settle(state), calendar)
    rec.fact(
        "routed",
        received.receiving_agency,
        received.received_at,
        ev.DossierRouted,
        procedure=procedure.code,
        receiving_agency=received.receiving_agency,
        supplement_policy=procedure.supplement_policy,
        appointment_at=received.appointment_at,
        stages=planned_stages(plan, received.counting_from, calendar),
    )
    return rec.decision()


def decide(state: DossierState, envelope: ev.Envelope, data: BaseModel, catalog: Catalog) -> Decision | Refusal:
    """Apply one event to the dossier: an agency's action (CONTRACT.md §2) or the post's delivery."""
    action = envelope.type
    rec = Recorder(state, catalog.calendar)
    if action == SHIPMENT_UPDATED:
        return _shipment_updated(rec, data)
    step = AGENCY_STEPS.get(action)
    if step is None:
        return Refusal(f"type: '{action}' is not an action routing accepts ({', '.join(sorted(ROUTED_ACTIONS))})")
    if envelope.agency is None:
        return Refusal(f"agency: required on '{action}'")
    problem = checks.closed(state, action)
    if problem:
        return problem
    return step(rec, envelope.agency, envelope.occurred_at, data)


def _shipment_updated(rec: Recorder, shipment: ev.ShipmentUpdated) -> Decision | Refusal:
    """Only a delivered result changes the dossier; pickups and other statuses are the post's business."""
    if shipment.direction != "delivery" or shipment.status != "delivered":
        return rec.decision()
    problem = checks.closed(rec.state, f"{shipment.direction} {shipment.status}")
    if problem:
        return problem
    return closing.delivered_by_post(rec, shipment.at)


def unknown_dossier(code: str, deliveries: int) -> Refusal | None:
    """None: wait and retry (the dossier may be in flight); a Refusal once retries are used up."""
    if deliveries <= UNKNOWN_DOSSIER_DELIVERIES:
        return None
    return Refusal(f"dossier_code: unknown dossier '{code}'")
