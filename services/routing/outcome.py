"""What a routing decision produces, and the recorder that builds it step by step.

Every step that changes the dossier records its fact with the dossier's next `seq`, so facts are
numbered in the order they happened within one decision and across decisions.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel

from services.routing.plans import hours, stage_budget
from services.routing.state import DossierState, StageRecord, settle
from shared.calendar import WorkCalendar
from shared.contracts import events as ev


@dataclass(frozen=True)
class FactOut:
    type: str  # the {type} of lt.evt.dossier.{type}
    agency: str | None  # the envelope's agency: the agency the fact concerns
    occurred_at: datetime
    data: BaseModel


@dataclass(frozen=True)
class AssignmentOut:
    """lt.out.agency.{agency}.assigned: the dossier has been handed to `agency`."""

    agency: str
    occurred_at: datetime
    data: ev.Assigned


@dataclass(frozen=True)
class Decision:
    state: DossierState
    facts: tuple[FactOut, ...] = ()
    assignments: tuple[AssignmentOut, ...] = ()


@dataclass(frozen=True)
class Refusal:
    reason: str


@dataclass
class Recorder:
    """Accumulates the consequences of one decision."""

    state: DossierState
    calendar: WorkCalendar
    facts: list[FactOut] = field(default_factory=list)
    assignments: list[AssignmentOut] = field(default_factory=list)

    def fact(self, type_: str, agency: str | None, at: datetime, model: type[BaseModel], /, **data) -> None:
        seq = self.state.seq + 1
        self.state = self.state.replace(seq=seq)
        self.facts.append(FactOut(type_, agency, at, model(seq=seq, **data)))

    def change(self, **changes) -> None:
        self.state = self.state.replace(**changes)

    def change_stage(self, **changes) -> None:
        self.state = self.state.with_stage(dataclasses.replace(self.state.stage, **changes))

    def decision(self) -> Decision:
        return Decision(settle(self.state), tuple(self.facts), tuple(self.assignments))

    # -- the steps of the control slip ----------------------------------------------------------

    def receive(self, at: datetime, inferred: bool, automatic: bool = False) -> None:
        """The current stage's agency has the dossier (explicitly, inferred from an act, or at once)."""
        self.change_stage(received_at=at, received_inferred=inferred, auto_received=automatic)
        stage = self.state.plan_stage
        self.fact(
            "handoff_received",
            stage.agency,
            at,
            ev.HandoffReceived,
            stage_index=stage.index,
            agency=stage.agency,
            received_at=at,
            inferred=inferred,
        )

    def receive_if_needed(self, at: datetime) -> None:
        """Out of order across agencies: an act by the agency the dossier was sent to proves receipt."""
        if self.state.stage.received_at is None:
            self.receive(at, inferred=True)

    def complete(self, at: datetime, outcome: str) -> None:
        self.change_stage(completed_at=at, outcome=outcome)
        stage = self.state.plan_stage
        self.fact(
            "stage_completed",
            stage.agency,
            at,
            ev.StageCompleted,
            stage_index=stage.index,
            agency=stage.agency,
            outcome=outcome,
            completed_at=at,
        )

    def send(self, index: int, at: datetime) -> None:
        """Hand the dossier to stage `index`: its clock starts now; its agency is told to take it."""
        previous = self.state.holder
        stage = self.state.plan[index]
        budget, due = stage_budget(self.calendar, at, stage.working_days)
        record = StageRecord(index=index, sent_at=at, budget_seconds=budget, due_at=due)
        self.state = self.state.with_stage(record).replace(current=index)
        self.fact(
            "handoff_sent",
            stage.agency,
            at,
            ev.HandoffSent,
            stage_index=index,
            from_agency=previous,
            to_agency=stage.agency,
            to_level=stage.level,
            role=stage.role,
            budget_hours=hours(budget),
            sent_at=at,
            due_at=due,
        )
        assigned = ev.Assigned(
            stage_index=index,
            role=stage.role,
            procedure=self.state.procedure,
            from_agency=previous,
            budget_hours=hours(budget),
            sent_at=at,
            due_at=due,
            purpose="return" if stage.role == "return" else "process",
        )
        self.assignments.append(AssignmentOut(stage.agency, at, assigned))
        if stage.agency == previous:
            self.receive(at, inferred=True, automatic=True)
