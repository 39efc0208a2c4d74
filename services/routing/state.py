"""A dossier's routing state: frozen values, stored as JSON in routing's own table.

The state holds everything a decision needs, so deciding is a pure function of (state, event).
`status` and `sub_state` are derived from the rest by `settle` after every change, so they can
never disagree with it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, time

from pydantic import TypeAdapter

# National Public Service Portal (DVCQG) status codes, docs/design.md "Routing rules".
RECEIVED, REFUSED_AT_INTAKE, PROCESSING, SUPPLEMENT, OBLIGATION = 2, 3, 4, 5, 6
WITHDRAWN, STOPPED, RESULT_READY, RETURNED = 7, 8, 9, 10


@dataclass(frozen=True)
class PlanStage:
    """One step of the procedure's standard process, with `receiving` resolved to an agency."""

    index: int
    agency: str
    level: str
    role: str  # receive | process | decide | consult | return
    working_days: float


@dataclass(frozen=True)
class StageRecord:
    """One row of the control slip (phiếu kiểm soát): given (sent), received, completed."""

    index: int
    sent_at: datetime | None = None
    received_at: datetime | None = None
    received_inferred: bool = False  # no explicit handoff_received: inferred from an act or automatic
    auto_received: bool = False  # same agency as the previous stage: received when sent
    completed_at: datetime | None = None
    outcome: str | None = None  # forward | result_ready | returned
    budget_seconds: int | None = None
    due_at: datetime | None = None
    paused_seconds: int = 0


@dataclass(frozen=True)
class Pause:
    kind: str  # supplement | obligation
    since: datetime
    stage_index: int
    agency: str


@dataclass(frozen=True)
class DossierState:
    code: str
    procedure: str
    receiving_agency: str
    return_method: str
    supplement_policy: str  # pause | restart
    intake_cutoff: time | None
    total_working_days: float
    received_at: datetime
    counting_from: datetime
    plan: tuple[PlanStage, ...]
    stages: tuple[StageRecord, ...]
    current: int
    status: int
    sub_state: str  # awaiting_handoff | processing | paused | awaiting_return | closed
    appointment_at: datetime
    pause: Pause | None = None
    apology_issued_at: datetime | None = None
    result_ready_at: datetime | None = None
    returned_at: datetime | None = None
    closed: str | None = None  # returned | refused | withdrawn
    closed_at: datetime | None = None
    seq: int = 0

    @property
    def holder(self) -> str:
        """The agency holding the dossier: the agency of the current stage."""
        return self.plan[self.current].agency

    @property
    def stage(self) -> StageRecord:
        return self.stages[self.current]

    @property
    def plan_stage(self) -> PlanStage:
        return self.plan[self.current]

    def replace(self, **changes) -> DossierState:
        return dataclasses.replace(self, **changes)

    def with_stage(self, record: StageRecord) -> DossierState:
        stages = list(self.stages)
        stages[record.index] = record
        return dataclasses.replace(self, stages=tuple(stages))


def derived_status(state: DossierState) -> int:
    if state.closed == "returned":
        return RETURNED
    if state.closed == "withdrawn":
        return WITHDRAWN
    if state.closed == "refused":
        return REFUSED_AT_INTAKE if state.current == 0 else STOPPED
    if state.pause is not None:
        return SUPPLEMENT if state.pause.kind == "supplement" else OBLIGATION
    if state.result_ready_at is not None:
        return RESULT_READY
    return RECEIVED if state.current == 0 else PROCESSING


def derived_sub_state(state: DossierState) -> str:
    if state.closed:
        return "closed"
    if state.pause is not None:
        return "paused"
    if state.stage.received_at is None:
        return "awaiting_handoff"
    if state.result_ready_at is not None:
        return "awaiting_return"
    return "processing"


def settle(state: DossierState) -> DossierState:
    return dataclasses.replace(state, status=derived_status(state), sub_state=derived_sub_state(state))


_STATE_JSON = TypeAdapter(DossierState)


def dump_state(state: DossierState) -> str:
    return _STATE_JSON.dump_json(state).decode()


def load_state(raw: str | bytes) -> DossierState:
    return _STATE_JSON.validate_json(raw)
