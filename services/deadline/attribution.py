"""Verdicts on stages and dossiers, and who the lateness is charged to (CONTRACT.md §6).

Pure. Each agency is judged on its own budget: a stage is due at its start plus its budget plus
the working time the clock stood still inside it (pauses, postal transit), whatever earlier
stages did. A stage is late when it ends after its due time; its overrun is the working time
between the two. A dossier is late when its result is ready after the appointment in force.
Pauses and postal legs are charged to no agency.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from shared.calendar import WorkCalendar

JUDGED_OUTCOMES = frozenset({"forward", "result_ready", "returned"})


@dataclass(frozen=True)
class StageVerdict:
    due: datetime
    used_seconds: int | None  # None while the stage is open
    overrun_seconds: int
    late: bool


@dataclass(frozen=True)
class Blame:
    stage_index: int
    agency: str
    overrun_seconds: int


def union_seconds(calendar: WorkCalendar, intervals: list[tuple[datetime, datetime]]) -> int:
    """Working time covered by closed intervals, overlaps counted once (a fee requested while a
    supplement is awaited stops the same clock, it does not stop it twice)."""
    total, reach = 0, None
    for start, end in sorted(intervals):
        if reach is not None and start < reach:
            start = reach
        if end > start:
            total += calendar.working_seconds_between(start, end)
            reach = end
    return total


def judge_stage(
    calendar: WorkCalendar,
    start: datetime,
    budget_seconds: int,
    stopped_seconds: int,
    end: datetime | None,
    outcome: str | None,
) -> StageVerdict:
    """Due, used time and overrun of one stage. Only a stage ended by its own work is judged:
    a refusal or withdrawal stops the dossier, it is not a result delivered late."""
    due = calendar.add_working_seconds(start, budget_seconds + stopped_seconds)
    if end is None:
        return StageVerdict(due, None, 0, False)
    used = max(0, calendar.working_seconds_between(start, end) - stopped_seconds)
    if outcome not in JUDGED_OUTCOMES:
        return StageVerdict(due, used, 0, False)
    late = end > due
    overrun = calendar.working_seconds_between(due, end) if late else 0
    return StageVerdict(due, used, overrun, late)


def judge_dossier(
    calendar: WorkCalendar, appointment_at: datetime | None, ready_at: datetime | None
) -> tuple[bool, int]:
    """(late, by how many working seconds): result ready after the appointment in force."""
    if appointment_at is None or ready_at is None or ready_at <= appointment_at:
        return False, 0
    return True, calendar.working_seconds_between(appointment_at, ready_at)


def blame(stages: Iterable[tuple[int, str, int, bool]]) -> list[Blame]:
    """The stages that overran, largest overrun first: (index, agency, overrun seconds, late)."""
    late = [Blame(index, agency, overrun) for index, agency, overrun, is_late in stages if is_late]
    return sorted(late, key=lambda b: (-b.overrun_seconds, b.stage_index))


def hours(seconds: int) -> float:
    """Working seconds as hours, the unit of every figure the service publishes."""
    return round(seconds / 3600, 4)
