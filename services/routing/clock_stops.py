"""What stops the clock or moves the appointment: supplements, financial obligations, apologies. Pure.

A pause stops the current stage's clock: when it ends, the stage's due time moves by the paused
working time, and so does the appointment (cause `pause`); a `restart` procedure instead counts
its whole time again from the supplement's receipt (cause `restart`). An apology moves the
appointment to the date it announces (cause `apology`), once per dossier.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from services.routing import checks
from services.routing.outcome import Decision, Recorder, Refusal
from services.routing.state import Pause
from shared.contracts import events as ev

REQUESTS = {"supplement_requested": "supplement", "obligation_requested": "obligation"}
ANSWERS = {"supplement_received": "supplement", "obligation_fulfilled": "obligation"}


def pause_requested(rec: Recorder, agency: str, at: datetime, data: BaseModel, *, action: str) -> Decision | Refusal:
    state, kind = rec.state, REQUESTS[action]
    problem = checks.first(
        checks.held_by(state, agency, action),
        checks.stage_still_open(state, action),
        checks.not_before_stage_start(state, at),
    )
    if problem:
        return problem
    if state.pause is not None:
        return Refusal(
            f"dossier {state.code} is already paused ({state.pause.kind} requested at "
            f"{state.pause.since.isoformat()}); one pause at a time"
        )
    if kind == "supplement" and state.result_ready_at is not None:
        return checks.no_result_yet(state, action)
    rec.receive_if_needed(at)
    rec.change(pause=Pause(kind=kind, since=at, stage_index=state.current, agency=agency))
    rec.fact("paused", agency, at, ev.Paused, kind=kind, stage_index=state.current, agency=agency, paused_at=at)
    return rec.decision()


def pause_ended(rec: Recorder, agency: str, at: datetime, data: BaseModel, *, action: str) -> Decision | Refusal:
    state, kind = rec.state, ANSWERS[action]
    pause = state.pause
    if pause is None or pause.kind != kind:
        now = f"paused for a {pause.kind}" if pause else "not paused"
        return Refusal(f"'{action}': dossier {state.code} is not waiting for a {kind} (it is {now})")
    problem = checks.held_by_or_receiving(state, agency, action)
    if problem:
        return problem
    if at < pause.since:
        return Refusal(
            f"occurred_at {at.isoformat()} is earlier than the {kind} request it answers ({pause.since.isoformat()})"
        )
    calendar = rec.calendar
    paused = calendar.working_seconds_between(pause.since, at)
    record = state.stage
    due = calendar.add_working_seconds(record.due_at, paused) if paused else record.due_at
    rec.change_stage(paused_seconds=record.paused_seconds + paused, due_at=due)
    rec.change(pause=None)
    policy = state.supplement_policy if kind == "supplement" else "pause"
    rec.fact(
        "resumed",
        pause.agency,
        at,
        ev.Resumed,
        kind=kind,
        stage_index=pause.stage_index,
        agency=pause.agency,
        paused_at=pause.since,
        resumed_at=at,
        paused_hours=round(paused / 3600, 4),
        policy=policy,
    )
    if policy == "restart":
        restarted = calendar.counting_start(at, state.intake_cutoff)
        _reschedule(rec, "restart", calendar.add_working_days(restarted, state.total_working_days), at, pause.agency)
    elif paused:
        _reschedule(rec, "pause", calendar.add_working_seconds(state.appointment_at, paused), at, pause.agency)
    return rec.decision()


def apology_issued(rec: Recorder, agency: str, at: datetime, data: ev.ApologyIssuedData) -> Decision | Refusal:
    state = rec.state
    if agency not in {s.agency for s in state.plan}:
        return Refusal(f"agency {agency} has no stage in the plan of dossier {state.code} and cannot apologise for it")
    if state.apology_issued_at is not None:
        return Refusal(
            f"an apology was already issued for dossier {state.code} at {state.apology_issued_at.isoformat()}; "
            f"the appointment may be moved by an apology only once"
        )
    problem = checks.first(checks.no_result_yet(state, "apology_issued"), checks.not_before_stage_start(state, at))
    if problem:
        return problem
    if data.new_appointment_at <= state.appointment_at:
        return Refusal(
            f"data.new_appointment_at: {data.new_appointment_at.isoformat()} is not later than the "
            f"current appointment {state.appointment_at.isoformat()}"
        )
    rec.change(apology_issued_at=at)
    _reschedule(rec, "apology", data.new_appointment_at, at, agency)
    return rec.decision()


def _reschedule(rec: Recorder, cause: str, appointment_at: datetime, at: datetime, agency: str) -> None:
    previous = rec.state.appointment_at
    if appointment_at == previous:
        return
    rec.change(appointment_at=appointment_at)
    rec.fact(
        "rescheduled",
        agency,
        at,
        ev.Rescheduled,
        cause=cause,
        previous_appointment_at=previous,
        appointment_at=appointment_at,
        agency=agency,
    )
