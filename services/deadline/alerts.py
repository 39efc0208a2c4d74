"""When each alert of a dossier fires, and what it says. Pure.

`plan_timers` turns a timeline into its timers; the scheduler stores them and `alert_messages`
writes the messages of one timer when it fires. A timer's identity says what "exactly once"
means: once per stage for stage alerts; the dossier's overdue flag once per promise (the
appointment given at the receipt and moved by pauses, then each new appointment of an apology
or a `restart` supplement); the apology request once per dossier, and never once an apology was
issued (Decree 61: one apology, one new appointment).

Event time: an alert is due when, by the facts' business times, the thing it watches reached its
moment while still running: a stage's clock (working time, stopped by its pauses and postal
transit) used up its budget before the stage ended, the appointment in force passed before the
result was ready, and so on. So facts that are ahead of the clock (a completion published just
after a tick and applied in the same batch) do not take back an alert that was due earlier, and
the same facts give the same alerts whatever the order and timing of their delivery.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.deadline.attribution import hours
from services.deadline.model import Stage, Timeline
from shared.calendar import VN_TZ, WorkCalendar
from shared.contracts import subjects
from shared.contracts.envelope import OutMessage, derived_event_id, envelope_message
from shared.contracts.events import AgencyDeadlineWarning, ApologyRequired, DeadlineOverdue, DeadlineWarning

STAGE_WARNING = "stage_warning"
STAGE_OVERDUE = "stage_overdue"
DOSSIER_OVERDUE = "dossier_overdue"
APOLOGY_REQUIRED = "apology_required"
KINDS = (STAGE_WARNING, STAGE_OVERDUE, DOSSIER_OVERDUE, APOLOGY_REQUIRED)
NEW_PROMISE = ("apology", "restart")  # appointment changes that give the citizen a new date

# A stage ending exactly at its due time is on time: it is overdue from the next second.
OVERDUE_AFTER = timedelta(seconds=1)

Interval = tuple[datetime, datetime | None]  # None: still open


@dataclass(frozen=True)
class Timer:
    dossier_code: str
    kind: str
    stage_index: int | None
    agency: str
    due_at: datetime
    fire_at: datetime
    until: datetime | None = None  # when what it watches ended (figures are taken no later)
    promise: int = 0  # dossier overdue: which appointment promise it watches

    @property
    def identity(self) -> str:
        if self.kind in (STAGE_WARNING, STAGE_OVERDUE):
            return f"{self.kind}:{self.stage_index}"
        if self.kind == DOSSIER_OVERDUE:
            return f"{self.kind}:{self.promise}"
        return self.kind


def warn_at(calendar: WorkCalendar, start: datetime, due: datetime, threshold_seconds: int) -> datetime:
    """The instant when only `threshold_seconds` of working time are left before `due`."""
    total = calendar.working_seconds_between(start, due)
    return calendar.add_working_seconds(start, max(0, total - threshold_seconds))


def _merged(stops: Iterable[Interval]) -> list[Interval]:
    """Stops in time order, overlapping ones joined (a stop that never ended swallows the rest)."""
    merged: list[Interval] = []
    for start, end in sorted(stops, key=lambda i: i[0]):
        if merged:
            last_start, last_end = merged[-1]
            if last_end is None:
                break
            if start <= last_end:
                merged[-1] = (last_start, None if end is None else max(last_end, end))
                continue
        merged.append((start, end))
    return merged


def clock_reaches(calendar: WorkCalendar, start: datetime, stops: Iterable[Interval], seconds: int) -> datetime | None:
    """When a clock started at `start`, running in working time except during `stops`, has run
    `seconds`; None if a stop that never ended comes first."""
    t, left = start, seconds
    for stop, resume in _merged(stops):
        if resume is not None and resume <= t:
            continue
        if stop > t:
            run = calendar.working_seconds_between(t, stop)
            if run >= left:
                return calendar.add_working_seconds(t, left)
            left -= run
        if resume is None:
            return None
        t = max(t, resume)
    return calendar.add_working_seconds(t, left)


def _stopped_at(stops: Iterable[Interval], t: datetime) -> datetime | bool | None:
    """If `t` falls in a stop: when it resumes (None: never); False if the clock runs at `t`."""
    for stop, resume in _merged(stops):
        if stop <= t and (resume is None or t < resume):
            return resume
    return False


def _stage_stops(timeline: Timeline, stage: Stage) -> list[Interval]:
    stops: list[Interval] = [(p.start, p.end) for p in timeline.pauses if p.stage_index == stage.index]
    for leg in timeline.postal_legs:
        if leg.start is None or (stage.end is not None and leg.start >= stage.end):
            continue
        if leg.end is not None and stage.start is not None and leg.end <= stage.start:
            continue
        stops.append((leg.start, leg.end))
    return stops


def _holder_at(timeline: Timeline, t: datetime) -> tuple[int | None, str | None]:
    """The stage running at `t` and its agency (the receiving agency between stages)."""
    running = [s for s in timeline.stages if s.start is not None and s.start <= t and (s.end is None or t < s.end)]
    if running:
        return running[-1].index, running[-1].agency
    return None, timeline.receiving_agency


def _stage_timers(timeline: Timeline, calendar: WorkCalendar, threshold: int | None) -> list[Timer]:
    timers = []
    for stage in timeline.stages:
        if stage.start is None or stage.budget_seconds <= 0:
            continue
        stops = _stage_stops(timeline, stage)
        due = clock_reaches(calendar, stage.start, stops, stage.budget_seconds)
        day = calendar.day_seconds(due or stage.due or stage.start)
        warning_after = max(0, stage.budget_seconds - (threshold if threshold is not None else day))
        warning = clock_reaches(calendar, stage.start, stops, warning_after)
        if warning is not None and (due is None or warning < due) and (stage.end is None or warning < stage.end):
            timers.append(
                Timer(timeline.code, STAGE_WARNING, stage.index, stage.agency, due or stage.due, warning, stage.end)
            )
        if due is not None and (stage.end is None or stage.end > due):
            overdue = due + OVERDUE_AFTER
            timers.append(Timer(timeline.code, STAGE_OVERDUE, stage.index, stage.agency, due, overdue, stage.end))
    return timers


def _dossier_end(timeline: Timeline) -> datetime | None:
    """When the dossier stopped needing its result: the result, or its refusal or withdrawal."""
    if timeline.result_ready_at is not None:
        return timeline.result_ready_at
    if timeline.status in ("refused", "withdrawn"):
        return max((s.end for s in timeline.stages if s.end is not None), default=timeline.received_at)
    return None


def _first_running(
    candidate: datetime, valid_from: datetime, ends: Iterable[datetime | None], stops: list[Interval]
) -> datetime | None:
    """`candidate` (not before `valid_from`, moved past a stop of the clock), if before every end."""
    t = max(candidate, valid_from)
    resume = _stopped_at(stops, t)
    if resume is None:
        return None
    if resume is not False:
        t = resume
    return t if all(end is None or t < end for end in ends) else None


def _dossier_timers(timeline: Timeline, calendar: WorkCalendar) -> list[Timer]:
    changes, anchor = timeline.appointments, timeline.counting_from
    if not changes or anchor is None:
        return []
    end = _dossier_end(timeline)
    stops = [(p.start, p.end) for p in timeline.pauses]
    apology_at = next((c.at for c in changes if c.cause == "apology"), None)
    timers: list[Timer] = []
    promise, overdue_promises, asked = 0, set(), False
    for i, change in enumerate(changes):
        if i and change.cause in NEW_PROMISE:
            promise += 1
        until = changes[i + 1].at if i + 1 < len(changes) else None
        appointment = change.appointment_at
        if promise not in overdue_promises:
            fire = _first_running(appointment + OVERDUE_AFTER, change.at, (until, end), stops)
            if fire is not None:
                index, holder = _holder_at(timeline, fire)
                if holder is not None:
                    timers.append(Timer(timeline.code, DOSSIER_OVERDUE, index, holder, appointment, fire, end, promise))
                    overdue_promises.add(promise)
        if not asked:
            one_day_before = warn_at(calendar, anchor, appointment, calendar.day_seconds(appointment))
            fire = _first_running(one_day_before, change.at, (until, end, apology_at), stops)
            if fire is not None:
                index, holder = _holder_at(timeline, fire)
                if holder is not None:
                    timers.append(Timer(timeline.code, APOLOGY_REQUIRED, index, holder, appointment, fire, end))
                    asked = True
    return timers


def plan_timers(timeline: Timeline, calendar: WorkCalendar, warn_threshold_seconds: int | None = None) -> list[Timer]:
    """Every alert the dossier's facts make due, at the instant it became due. The default warning
    threshold is one working day: the office hours of the due day."""
    return _stage_timers(timeline, calendar, warn_threshold_seconds) + _dossier_timers(timeline, calendar)


def alert_messages(timer: Timer, now: datetime, calendar: WorkCalendar) -> list[OutMessage]:
    """The messages a timer publishes when it fires at `now` (ids derived from its identity), with
    every time in Vietnamese local time, as the agencies read them."""
    code, agency, due, now = timer.dossier_code, timer.agency, timer.due_at.astimezone(VN_TZ), now.astimezone(VN_TZ)
    cause = f"deadline:{code}:{timer.identity}"
    seen = min(now, timer.until) if timer.until is not None else now  # figures as of its end, at the latest

    def message(subject: str, n: int, data) -> OutMessage:
        return envelope_message(
            subject, event_id=derived_event_id(cause, n), occurred_at=now, agency=agency, dossier_code=code, data=data
        )

    if timer.kind == STAGE_WARNING:
        remaining = hours(calendar.working_seconds_between(seen, due))
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
            overdue_by_hours=hours(calendar.working_seconds_between(due, seen)),
            detected_at=now,
        )
        return [message(subjects.fact("deadline", "overdue"), 0, overdue)]
    if timer.kind == APOLOGY_REQUIRED:
        passed = seen > due
        when_vi = "đã qua" if passed else "chỉ còn một ngày làm việc"
        when = "has passed" if passed else "is one working day away"
        reason = (
            f"Ngày hẹn trả kết quả ({due:%H:%M} ngày {due:%d/%m/%Y}) {when_vi} mà hồ sơ chưa có kết quả: "
            "cơ quan đang giữ hồ sơ phải gửi văn bản xin lỗi và hẹn lại ngày trả kết quả (chỉ một lần cho mỗi hồ sơ). "
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
