"""What the deadline service knows about a dossier: its timeline, as frozen values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.deadline.attribution import Blame
from services.deadline.journey import Journey
from services.deadline.legs import PostalLeg

TERMINAL = {"returned", "refused", "withdrawn"}


@dataclass(frozen=True)
class Stage:
    index: int
    agency: str
    level: str
    role: str
    budget_seconds: int
    start: datetime | None = None  # stage 0: the receipt's counting start; then handoff_sent.sent_at
    received_at: datetime | None = None
    received_inferred: bool = False
    end: datetime | None = None
    outcome: str | None = None  # forward | result_ready | returned | refused | withdrawn
    paused_seconds: int = 0
    postal_seconds: int = 0
    clock_stopped: bool = False  # a pause (or postal transit) inside it is still open
    due: datetime | None = None
    used_seconds: int | None = None
    overrun_seconds: int = 0
    late: bool = False
    handoff_wait_seconds: int | None = None  # sent -> received, part of this stage

    @property
    def started(self) -> bool:
        return self.start is not None

    @property
    def open(self) -> bool:
        return self.start is not None and self.end is None


@dataclass(frozen=True)
class Pause:
    kind: str
    stage_index: int
    agency: str
    start: datetime
    end: datetime | None
    working_seconds: int | None


@dataclass(frozen=True)
class AppointmentChange:
    at: datetime
    appointment_at: datetime
    cause: str  # received | pause | restart | apology
    agency: str | None = None


@dataclass(frozen=True)
class Timeline:
    code: str
    procedure: str | None
    receiving_agency: str | None
    received_at: datetime | None
    counting_from: datetime | None
    appointment_at: datetime | None
    appointments: tuple[AppointmentChange, ...]
    stages: tuple[Stage, ...]
    pauses: tuple[Pause, ...]
    postal_legs: tuple[PostalLeg, ...]
    result_ready_at: datetime | None
    returned_at: datetime | None
    status: str  # in_progress | paused | result_ready | returned | refused | withdrawn
    late: bool
    late_seconds: int
    blamed: tuple[Blame, ...]
    holder_agency: str | None
    open_stage: int | None
    returned_via: str | None = None  # counter | postal
    journey: Journey | None = None  # the citizen's end-to-end time, postal legs included

    @property
    def clock_stopped(self) -> bool:
        return any(p.end is None for p in self.pauses)

    def stage(self, index: int) -> Stage | None:
        return next((s for s in self.stages if s.index == index), None)

    def agencies(self) -> list[str]:
        """The agencies the dossier went through so far: the receiving one and every stage's agency
        once the dossier was sent to it (not the stages of the plan still ahead)."""
        reached = {s.agency for s in self.stages if s.started}
        return sorted(reached | ({self.receiving_agency} if self.receiving_agency else set()))
