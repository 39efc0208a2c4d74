"""A dossier's routing state: frozen values, serialised as JSON in routing's own table."""

from __future__ import annotations

from datetime import datetime, time

from pydantic import BaseModel, ConfigDict

from services.routing.plans import PlanStage


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class StageRecord(Frozen):
    """One row of the control slip (phiếu kiểm soát): given (sent), received, completed."""

    index: int
    sent_at: datetime | None = None
    received_at: datetime | None = None
    received_inferred: bool = False
    auto_received: bool = False  # same agency as the previous stage: received when sent
    completed_at: datetime | None = None
    outcome: str | None = None
    budget_seconds: int | None = None
    due_at: datetime | None = None
    paused_seconds: int = 0


class OpenPause(Frozen):
    kind: str  # supplement | obligation
    since: datetime
    stage_index: int
    agency: str


class DossierState(Frozen):
    code: str
    procedure: str
    receiving_agency: str
    return_method: str
    supplement_policy: str
    intake_cutoff: time | None
    total_working_days: float
    counting_from: datetime
    plan: tuple[PlanStage, ...]
    stages: tuple[StageRecord, ...]
    current: int
    status: int  # National Public Service Portal code (DOMAIN.md §3)
    sub_state: str  # awaiting_handoff | processing | paused | awaiting_return | closed
    appointment_at: datetime
    pause: OpenPause | None = None
    apology_issued_at: datetime | None = None
    result_ready_at: datetime | None = None
    closed_as: str | None = None  # returned | refused | withdrawn
    closed_at: datetime | None = None
    seq: int = 0

    @property
    def holder(self) -> str:
        return self.plan[self.current].agency

    @property
    def stage(self) -> StageRecord:
        return self.stages[self.current]

    def with_stage(self, record: StageRecord) -> DossierState:
        stages = list(self.stages)
        stages[record.index] = record
        return self.model_copy(update={"stages": tuple(stages)})
