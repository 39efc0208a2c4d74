"""How a dossier ends: refused, withdrawn, or returned to the citizen (at a counter or by post). Pure."""

from __future__ import annotations

from datetime import datetime

from services.routing import checks
from services.routing.outcome import Decision, Recorder, Refusal
from shared.contracts import events as ev


def refused(rec: Recorder, agency: str, at: datetime, data: ev.RefusedData) -> Decision | Refusal:
    state = rec.state
    problem = checks.first(
        checks.held_by(state, agency, "refused"),
        checks.no_result_yet(state, "refused"),
        checks.not_before_stage_start(state, at),
    )
    if problem:
        return problem
    rec.change(closed="refused", closed_at=at)
    rec.fact("refused", agency, at, ev.Refused, stage_index=state.current, agency=agency, reason=data.reason)
    return rec.decision()


def withdrawn(rec: Recorder, agency: str, at: datetime, data: ev.WithdrawnData) -> Decision | Refusal:
    state = rec.state
    problem = checks.first(
        checks.held_by_or_receiving(state, agency, "withdrawn"),
        checks.no_result_yet(state, "withdrawn"),
        checks.not_before_stage_start(state, at),
    )
    if problem:
        return problem
    rec.change(closed="withdrawn", closed_at=at)
    rec.fact("withdrawn", agency, at, ev.Withdrawn, stage_index=state.current, agency=agency, reason=data.reason)
    return rec.decision()


def result_returned(rec: Recorder, agency: str, at: datetime, data: ev.ResultReturnedData) -> Decision | Refusal:
    state = rec.state
    if state.result_ready_at is None:
        return Refusal(f"dossier {state.code} has no result yet; 'result_returned' comes after 'result_ready'")
    allowed = checks.returning_agencies(state)
    if agency not in allowed:
        return Refusal(
            f"the result of dossier {state.code} is handed to the citizen by {' or '.join(allowed)}, not {agency}"
        )
    problem = checks.not_paused(state, "result_returned")
    if problem:
        return problem
    return _returned(rec, at, "counter", agency)


def delivered_by_post(rec: Recorder, at: datetime) -> Decision | Refusal:
    """The post delivered the result to the citizen: the dossier is returned, closing the return stage."""
    state = rec.state
    if state.result_ready_at is None:
        return Refusal(f"dossier {state.code} has no result yet, so the post cannot have delivered it")
    return _returned(rec, at, "postal", state.holder)


def _returned(rec: Recorder, at: datetime, via: str, agency: str) -> Decision | Refusal:
    state = rec.state
    if at < state.result_ready_at:
        return Refusal(
            f"occurred_at {at.isoformat()} is earlier than the result of dossier {state.code} was ready "
            f"({state.result_ready_at.isoformat()})"
        )
    if state.plan_stage.role == "return":
        rec.receive_if_needed(at)
        rec.complete(at, "returned")
    rec.change(returned_at=at, closed="returned", closed_at=at)
    rec.fact("returned", agency, at, ev.Returned, returned_at=at, via=via)
    return rec.decision()
