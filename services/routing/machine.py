"""The routing state machine: pure decisions from (state, inbound action) to (state, facts,
assignments) or a precise refusal. The rules are those of docs/design.md ("Routing rules")."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel

from services.routing.plans import last_processing_index, planned_stages, resolve_plan, return_index
from services.routing.state import DossierState, OpenPause, StageRecord
from shared.calendar import WorkCalendar
from shared.catalog import Catalog
from shared.contracts import events as ev

CLOSED_STATUS = {"returned": 10, "withdrawn": 7}


@dataclass(frozen=True)
class FactOut:
    type: str  # the lt.evt.dossier.{type}
    agency: str | None
    occurred_at: datetime
    data: BaseModel


@dataclass(frozen=True)
class AssignmentOut:
    agency: str
    occurred_at: datetime
    data: ev.Assigned


@dataclass(frozen=True)
class Decision:
    state: DossierState
    facts: list[FactOut] = field(default_factory=list)
    assignments: list[AssignmentOut] = field(default_factory=list)


@dataclass(frozen=True)
class Refusal:
    reason: str


class _Builder:
    """Accumulates the consequences of one decision, numbering facts with the dossier's seq."""

    def __init__(self, state: DossierState, calendar: WorkCalendar) -> None:
        self.state, self.calendar = state, calendar
        self.facts: list[FactOut] = []
        self.assignments: list[AssignmentOut] = []

    def fact(self, type_: str, sender: str | None, at: datetime, model: type[BaseModel], /, **data) -> None:
        """Record a fact; `sender` is the envelope's agency, `data` the fact's fields (seq added)."""
        seq = self.state.seq + 1
        self.state = self.state.model_copy(update={"seq": seq})
        self.facts.append(FactOut(type_, sender, at, model(seq=seq, **data)))

    def decision(self) -> Decision:
        return Decision(self.state, self.facts, self.assignments)

    def receive(self, at: datetime, inferred: bool) -> None:
        record = self.state.stage.model_copy(update={"received_at": at, "received_inferred": inferred})
        self.state = self.state.with_stage(record).model_copy(
            update={"sub_state": "paused" if self.state.pause else "processing"}
        )
        self.fact(
            "handoff_received",
            record_agency(self.state),
            at,
            ev.HandoffReceived,
            stage_index=record.index,
            agency=record_agency(self.state),
            received_at=at,
            inferred=inferred,
        )

    def complete(self, at: datetime, outcome: str) -> None:
        record = self.state.stage.model_copy(update={"completed_at": at, "outcome": outcome})
        self.state = self.state.with_stage(record)
        self.fact(
            "stage_completed",
            self.state.holder,
            at,
            ev.StageCompleted,
            stage_index=record.index,
            agency=self.state.holder,
            outcome=outcome,
            completed_at=at,
        )

    def send(self, index: int, at: datetime, procedure: str) -> None:
        """Hand the dossier to stage `index` (its clock starts now) and tell its agency."""
        previous = self.state.holder
        stage = self.state.plan[index]
        budget = self.calendar.budget_seconds(at, stage.working_days)
        due = self.calendar.add_working_seconds(at, budget)
        same_agency = stage.agency == previous
        record = StageRecord(index=index, sent_at=at, budget_seconds=budget, due_at=due)
        self.state = self.state.with_stage(record).model_copy(
            update={"current": index, "sub_state": "awaiting_handoff", "status": max(self.state.status, 4)}
        )
        self.fact(
            "handoff_sent",
            previous,
            at,
            ev.HandoffSent,
            stage_index=index,
            from_agency=previous,
            to_agency=stage.agency,
            to_level=stage.level,
            role=stage.role,
            budget_hours=round(budget / 3600, 4),
            sent_at=at,
            due_at=due,
        )
        purpose = "return" if stage.role == "return" else "process"
        self.assignments.append(
            AssignmentOut(
                stage.agency,
                at,
                ev.Assigned(
                    stage_index=index,
                    role=stage.role,
                    procedure=procedure,
                    from_agency=previous,
                    budget_hours=round(budget / 3600, 4),
                    sent_at=at,
                    due_at=due,
                    purpose=purpose,
                ),
            )
        )
        if same_agency:
            self.state = self.state.with_stage(self.state.stage.model_copy(update={"auto_received": True}))
            self.receive(at, inferred=True)


def record_agency(state: DossierState) -> str:
    return state.plan[state.stage.index].agency


def stage_start(state: DossierState) -> datetime:
    return state.stage.sent_at or state.counting_from


def start_dossier(code: str, received: ev.DossierReceived, catalog: Catalog) -> Decision:
    """A received dossier: resolve its plan, publish it, and start stage 0 at the receipt."""
    procedure = catalog.procedures[received.procedure]
    plan = resolve_plan(procedure, received.receiving_agency, catalog)
    calendar = catalog.calendar
    start = received.counting_from
    budget = calendar.budget_seconds(start, plan[0].working_days)
    first = StageRecord(
        index=0,
        sent_at=start,
        received_at=start,
        budget_seconds=budget,
        due_at=calendar.add_working_seconds(start, budget),
    )
    state = DossierState(
        code=code,
        procedure=procedure.code,
        receiving_agency=received.receiving_agency,
        return_method=received.return_method,
        supplement_policy=procedure.supplement_policy,
        intake_cutoff=procedure.intake_cutoff,
        total_working_days=procedure.total_working_days,
        counting_from=start,
        plan=plan,
        stages=(first, *(StageRecord(index=s.index) for s in plan[1:])),
        current=0,
        status=2,
        sub_state="processing",
        appointment_at=received.appointment_at,
    )
    build = _Builder(state, calendar)
    build.fact(
        "routed",
        received.receiving_agency,
        received.received_at,
        ev.DossierRouted,
        procedure=procedure.code,
        receiving_agency=received.receiving_agency,
        supplement_policy=procedure.supplement_policy,
        appointment_at=received.appointment_at,
        stages=planned_stages(plan, start, calendar),
    )
    return build.decision()


def decide(
    state: DossierState, action: str, agency: str, at: datetime, data: BaseModel, catalog: Catalog
) -> Decision | Refusal:
    """Apply one inbound agency action (CONTRACT.md §2) to the dossier, or say why not."""
    if state.closed_as:
        return Refusal(
            f"dossier {state.code} is closed ({state.closed_as} at {state.closed_at.isoformat()}); "
            f"no further '{action}' is accepted"
        )
    handler = _ACTIONS[action]
    return handler(state, agency, at, data, _Builder(state, catalog.calendar))


def _holder_only(state: DossierState, agency: str, action: str) -> Refusal | None:
    if agency != state.holder:
        return Refusal(
            f"dossier {state.code} is held by {state.holder} (stage {state.current}), not {agency}; "
            f"only the holding agency may send '{action}'"
        )
    return None


def _not_before_stage(state: DossierState, at: datetime) -> Refusal | None:
    start = stage_start(state)
    if at < start:
        return Refusal(f"occurred_at {at.isoformat()} is before stage {state.current} started ({start.isoformat()})")
    return None


def _stage_index_matches(state: DossierState, data: BaseModel) -> Refusal | None:
    index = getattr(data, "stage_index", None)
    if index is not None and index != state.current:
        return Refusal(f"data.stage_index: {index} is not the dossier's current stage ({state.current})")
    return None


def _handoff_received(state, agency, at, data, build: _Builder):
    problem = _holder_only(state, agency, "handoff_received") or _stage_index_matches(state, data)
    if problem:
        return problem
    if state.stage.received_at is not None:
        if state.stage.auto_received:
            return build.decision()  # same-agency stage, received when it was sent: nothing to do
        return Refusal(
            f"the hand-off of stage {state.current} to {agency} was already received at "
            f"{state.stage.received_at.isoformat()}"
        )
    problem = _not_before_stage(state, at)
    if problem:
        return problem
    build.receive(at, inferred=False)
    return build.decision()


def _ensure_received(state: DossierState, at: datetime, build: _Builder) -> None:
    """Out of order across agencies: an act by the agency the dossier was sent to proves receipt."""
    if state.stage.received_at is None:
        build.receive(at, inferred=True)


def _stage_completed(state, agency, at, data: ev.StageCompletedData, build: _Builder):
    problem = (
        _holder_only(state, agency, "stage_completed")
        or _stage_index_matches(state, data)
        or _not_before_stage(state, at)
    )
    if problem:
        return problem
    if state.pause:
        return Refusal(
            f"dossier {state.code} is paused ({state.pause.kind} requested at "
            f"{state.pause.since.isoformat()}); a stage cannot be completed while paused"
        )
    stage = state.plan[state.current]
    last = last_processing_index(state.plan)
    back = return_index(state.plan)
    if data.outcome == "forward":
        if stage.role == "return":
            return Refusal("outcome 'forward': the return stage ends with 'result_returned' (or postal delivery)")
        if state.current + 1 >= len(state.plan):
            return Refusal(
                f"outcome 'forward': stage {state.current} is the last stage of the plan; use outcome 'result_ready'"
            )
        _ensure_received(state, at, build)
        build.complete(at, "forward")
        build.send(state.current + 1, at, state.procedure)
        return build.decision()
    if state.result_ready_at is not None:
        return Refusal(f"the result of dossier {state.code} is already ready (at {state.result_ready_at.isoformat()})")
    if state.current != last and stage.role != "return":
        return Refusal(
            f"outcome 'result_ready' is only allowed on the plan's last processing stage ({last}) "
            f"or the return stage, not on stage {state.current} ({stage.role})"
        )
    _ensure_received(state, at, build)
    if stage.role != "return":
        build.complete(at, "result_ready")
    _result_ready(build, at)
    if stage.role != "return" and back is not None:
        build.send(back, at, state.procedure)
    elif stage.role != "return":
        build.state = build.state.model_copy(update={"sub_state": "awaiting_return"})
    return build.decision()


def _result_ready(build: _Builder, at: datetime) -> None:
    state = build.state
    build.state = state.model_copy(update={"result_ready_at": at, "status": 9})
    build.fact(
        "result_ready",
        state.holder,
        at,
        ev.ResultReady,
        stage_index=state.current,
        agency=state.holder,
        ready_at=at,
        appointment_at=state.appointment_at,
        late=at > state.appointment_at,
        return_method=state.return_method,
    )


def _pause_requested(kind: str):
    def handle(state, agency, at, data, build: _Builder):
        action = f"{kind}_requested"
        problem = _holder_only(state, agency, action) or _not_before_stage(state, at)
        if problem:
            return problem
        if state.pause:
            return Refusal(
                f"dossier {state.code} is already paused ({state.pause.kind} requested at "
                f"{state.pause.since.isoformat()})"
            )
        _ensure_received(state, at, build)
        pause = OpenPause(kind=kind, since=at, stage_index=state.current, agency=agency)
        build.state = build.state.model_copy(
            update={"pause": pause, "sub_state": "paused", "status": 5 if kind == "supplement" else 6}
        )
        build.fact("paused", agency, at, ev.Paused, kind=kind, stage_index=state.current, agency=agency, paused_at=at)
        return build.decision()

    return handle


def _pause_ended(kind: str):
    def handle(state, agency, at, data, build: _Builder):
        action = "supplement_received" if kind == "supplement" else "obligation_fulfilled"
        if state.pause is None or state.pause.kind != kind:
            return Refusal(f"'{action}': dossier {state.code} is not waiting for a {kind}")
        if agency not in (state.holder, state.receiving_agency):
            return Refusal(
                f"'{action}' may come from the holding agency {state.holder} or the receiving agency "
                f"{state.receiving_agency}, not {agency}"
            )
        if at < state.pause.since:
            return Refusal(f"occurred_at {at.isoformat()} is before the pause began ({state.pause.since.isoformat()})")
        calendar = build.calendar
        paused = calendar.working_seconds_between(state.pause.since, at)
        record = state.stage
        record = record.model_copy(
            update={
                "paused_seconds": record.paused_seconds + paused,
                "due_at": calendar.add_working_seconds(record.due_at, paused)
                if record.due_at and paused
                else record.due_at,
            }
        )
        policy = state.supplement_policy if kind == "supplement" else "pause"
        build.state = state.with_stage(record).model_copy(
            update={
                "pause": None,
                "status": 2 if state.current == 0 else (9 if state.result_ready_at else 4),
                "sub_state": "processing" if record.received_at else "awaiting_handoff",
            }
        )
        build.fact(
            "resumed",
            agency,
            at,
            ev.Resumed,
            kind=kind,
            stage_index=state.current,
            agency=agency,
            paused_at=state.pause.since,
            resumed_at=at,
            paused_hours=round(paused / 3600, 4),
            policy=policy,
        )
        previous = state.appointment_at
        if policy == "restart":
            new = calendar.add_working_days(calendar.counting_start(at, state.intake_cutoff), state.total_working_days)
            cause = "restart"
        else:
            new = calendar.add_working_seconds(previous, paused) if paused else previous
            cause = "pause"
        if new != previous:
            build.state = build.state.model_copy(update={"appointment_at": new})
            build.fact(
                "rescheduled",
                agency,
                at,
                ev.Rescheduled,
                cause=cause,
                previous_appointment_at=previous,
                appointment_at=new,
                agency=agency,
            )
        return build.decision()

    return handle


def _apology_issued(state, agency, at, data: ev.ApologyIssuedData, build: _Builder):
    if agency not in {s.agency for s in state.plan}:
        return Refusal(f"agency {agency} has no stage in dossier {state.code}'s plan and cannot issue its apology")
    if state.apology_issued_at is not None:
        return Refusal(
            f"an apology was already issued for dossier {state.code} at "
            f"{state.apology_issued_at.isoformat()}; the appointment may be reset only once (Decree 61)"
        )
    if state.result_ready_at is not None:
        return Refusal(f"the result of dossier {state.code} is already ready; no apology is needed")
    if data.new_appointment_at <= state.appointment_at:
        return Refusal(
            f"data.new_appointment_at: {data.new_appointment_at.isoformat()} is not later than the "
            f"current appointment {state.appointment_at.isoformat()}"
        )
    build.state = state.model_copy(update={"apology_issued_at": at, "appointment_at": data.new_appointment_at})
    build.fact(
        "rescheduled",
        agency,
        at,
        ev.Rescheduled,
        cause="apology",
        previous_appointment_at=state.appointment_at,
        appointment_at=data.new_appointment_at,
        agency=agency,
    )
    return build.decision()


def _refused(state, agency, at, data: ev.RefusedData, build: _Builder):
    problem = _holder_only(state, agency, "refused") or _not_before_stage(state, at)
    if problem:
        return problem
    build.state = state.model_copy(
        update={
            "status": 3 if state.current == 0 else 8,
            "sub_state": "closed",
            "closed_as": "refused",
            "closed_at": at,
        }
    )
    build.fact("refused", agency, at, ev.Refused, stage_index=state.current, agency=agency, reason=data.reason)
    return build.decision()


def _withdrawn(state, agency, at, data: ev.WithdrawnData, build: _Builder):
    if agency not in (state.holder, state.receiving_agency):
        return Refusal(
            f"a withdrawal of dossier {state.code} comes from the receiving agency "
            f"{state.receiving_agency} or the holder {state.holder}, not {agency}"
        )
    problem = _not_before_stage(state, at)
    if problem:
        return problem
    build.state = state.model_copy(
        update={"status": 7, "sub_state": "closed", "closed_as": "withdrawn", "closed_at": at}
    )
    build.fact("withdrawn", agency, at, ev.Withdrawn, stage_index=state.current, agency=agency, reason=data.reason)
    return build.decision()


def _result_returned(state, agency, at, data, build: _Builder):
    if state.result_ready_at is None:
        return Refusal(f"dossier {state.code} has no result yet; 'result_returned' comes after 'result_ready'")
    if agency not in (state.receiving_agency, state.holder):
        return Refusal(
            f"the result of dossier {state.code} is returned by the receiving agency "
            f"{state.receiving_agency}, not {agency}"
        )
    return close_returned(state, at, "counter", build)


def close_returned(state: DossierState, at: datetime, via: str, build: _Builder) -> Decision | Refusal:
    if at < state.result_ready_at:
        return Refusal(
            f"occurred_at {at.isoformat()} is before the result was ready ({state.result_ready_at.isoformat()})"
        )
    if state.plan[state.current].role == "return":
        _ensure_received(state, at, build)
        build.complete(at, "returned")
    build.state = build.state.model_copy(
        update={"status": 10, "sub_state": "closed", "closed_as": "returned", "closed_at": at}
    )
    build.fact("returned", state.receiving_agency, at, ev.Returned, returned_at=at, via=via)
    return build.decision()


def delivered_by_post(state: DossierState, at: datetime, catalog: Catalog) -> Decision | Refusal:
    """The post delivered the result to the citizen: the dossier is returned (status 10)."""
    if state.closed_as:
        return Refusal(f"dossier {state.code} is already closed ({state.closed_as})")
    if state.result_ready_at is None:
        return Refusal(f"dossier {state.code} has no result yet")
    return close_returned(state, at, "postal", _Builder(state, catalog.calendar))


_ACTIONS = {
    "handoff_received": _handoff_received,
    "stage_completed": _stage_completed,
    "supplement_requested": _pause_requested("supplement"),
    "supplement_received": _pause_ended("supplement"),
    "obligation_requested": _pause_requested("obligation"),
    "obligation_fulfilled": _pause_ended("obligation"),
    "apology_issued": _apology_issued,
    "refused": _refused,
    "withdrawn": _withdrawn,
    "result_returned": _result_returned,
}
ROUTED_ACTIONS = frozenset(_ACTIONS)
