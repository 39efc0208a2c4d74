"""When each alert of a dossier fires, and what it says. Pure.

`plan_timers` turns a timeline into the timers it needs now; the scheduler stores them and
`alert_messages` writes the messages of one timer when it fires. A timer's identity says what
"exactly once" means: once per stage for stage alerts, once per appointment value for dossier
alerts (an apology's new appointment is a new promise, watched anew).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.deadline.attribution import hours
from services.deadline.model import TERMINAL, Timeline
from shared.calendar import VN_TZ, WorkCalendar
from shared.contracts import subjects
from shared.contracts.envelope import OutMessage, derived_event_id, envelope_message
from shared.contracts.events import AgencyDeadlineWarning, ApologyRequired, DeadlineOverdue, DeadlineWarning

STAGE_WARNING = "stage_warning"
STAGE_OVERDUE = "stage_overdue"
DOSSIER_OVERDUE = "dossier_overdue"
APOLOGY_REQUIRED = "apology_required"
KINDS = (STAGE_WARNING, STAGE_OVERDUE, DOSSIER_OVERDUE, APOLOGY_REQUIRED)

# A stage ending exactly at its due time is on time: it is overdue from the next second.
OVERDUE_AFTER = timedelta(seconds=1)


@dataclass(frozen=True)
class Timer:
    dossier_code: str
    kind: str
    stage_index: int | None
    agency: str
    due_at: datetime
    fire_at: datetime

    @property
    def identity(self) -> str:
        if self.kind in (STAGE_WARNING, STAGE_OVERDUE):
            return f"{self.kind}:{self.stage_index}"
        return f"{self.kind}:{self.due_at.astimezone(UTC).isoformat()}"


def warn_at(calendar: WorkCalendar, start: datetime, due: datetime, threshold_seconds: int) -> datetime:
    """The instant when only `threshold_seconds` of working time are left before `due`."""
    total = calendar.working_seconds_between(start, due)
    return calendar.add_working_seconds(start, max(0, total - threshold_seconds))


def plan_timers(timeline: Timeline, calendar: WorkCalendar, warn_threshold_seconds: int | None = None) -> list[Timer]:
    """The timers of a dossier as its facts stand. None while its clock stands still (a pause, or
    the post carrying it) or once it is finished; the default warning threshold is one working
    day: the office hours of the due day."""
    if timeline.status in TERMINAL:
        return []
    code, timers = timeline.code, []
    stage = timeline.stage(timeline.open_stage) if timeline.open_stage is not None else None
    if stage is not None and stage.due is not None and not stage.clock_stopped and stage.start is not None:
        threshold = warn_threshold_seconds if warn_threshold_seconds is not None else calendar.day_seconds(stage.due)
        warning = warn_at(calendar, stage.start, stage.due, threshold)
        if warning < stage.due:
            timers.append(Timer(code, STAGE_WARNING, stage.index, stage.agency, stage.due, warning))
        timers.append(Timer(code, STAGE_OVERDUE, stage.index, stage.agency, stage.due, stage.due + OVERDUE_AFTER))
    appointment, anchor = timeline.appointment_at, timeline.counting_from
    holder = timeline.holder_agency or timeline.receiving_agency
    if timeline.result_ready_at is None and not timeline.clock_stopped and appointment and anchor and holder:
        index = stage.index if stage is not None else None
        apology = warn_at(calendar, anchor, appointment, calendar.day_seconds(appointment))
        timers.append(Timer(code, APOLOGY_REQUIRED, index, holder, appointment, apology))
        timers.append(Timer(code, DOSSIER_OVERDUE, index, holder, appointment, appointment + OVERDUE_AFTER))
    return timers


def alert_messages(timer: Timer, now: datetime, calendar: WorkCalendar) -> list[OutMessage]:
    """The messages a timer publishes when it fires at `now` (ids derived from its identity), with
    every time in Vietnamese local time, as the agencies read them."""
    code, agency, due, now = timer.dossier_code, timer.agency, timer.due_at.astimezone(VN_TZ), now.astimezone(VN_TZ)
    cause = f"deadline:{code}:{timer.identity}"

    def message(subject: str, n: int, data) -> OutMessage:
        return envelope_message(
            subject, event_id=derived_event_id(cause, n), occurred_at=now, agency=agency, dossier_code=code, data=data
        )

    if timer.kind == STAGE_WARNING:
        remaining = hours(calendar.working_seconds_between(now, due))
        fact = DeadlineWarning(
            scope="stage", stage_index=timer.stage_index, agency=agency, due_at=due, remaining_hours=remaining
        )
        notice = AgencyDeadlineWarning(stage_index=timer.stage_index, due_at=due, remaining_hours=remaining)
        return [
            message(subjects.fact("deadline", "warning"), 0, fact),
            message(subjects.out_agency(agency, "deadline_warning"), 1, notice),
        ]
    if timer.kind in (STAGE_OVERDUE, DOSSIER_OVERDUE):
        overdue = DeadlineOverdue(
            scope="stage" if timer.kind == STAGE_OVERDUE else "dossier",
            stage_index=timer.stage_index,
            agency=agency,
            due_at=due,
            overdue_by_hours=hours(calendar.working_seconds_between(due, now)),
            detected_at=now,
        )
        return [message(subjects.fact("deadline", "overdue"), 0, overdue)]
    if timer.kind == APOLOGY_REQUIRED:
        when = "has passed" if now > due else "is one working day away"
        reason = (
            f"appointment_at {due.isoformat()} {when} and the result is not ready: "
            "the agency holding the dossier must issue the apology letter with a new appointment "
            "(apology_issued, at most once per dossier)"
        )
        return [
            message(
                subjects.out_agency(agency, "apology_required"),
                0,
                ApologyRequired(appointment_at=due, stage_index=timer.stage_index, reason=reason),
            )
        ]
    raise ValueError(f"unknown timer kind {timer.kind!r}")
