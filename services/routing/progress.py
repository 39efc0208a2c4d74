"""Moving a dossier along its plan: receipts of hand-offs and completed stages. Pure."""

from __future__ import annotations

from datetime import datetime

from services.routing import checks
from services.routing.outcome import Decision, Recorder, Refusal
from services.routing.plans import last_processing_index, return_index
from shared.contracts import events as ev


def handoff_received(rec: Recorder, agency: str, at: datetime, data: ev.HandoffReceivedData) -> Decision | Refusal:
    state = rec.state
    problem = checks.first(
        checks.held_by(state, agency, "handoff_received"),
        checks.matching_stage_index(state, data.stage_index),
        checks.stage_still_open(state, "handoff_received"),
    )
    if problem:
        return problem
    record = state.stage
    if record.received_at is not None:
        if record.received_inferred:
            # Received automatically (same agency) or inferred from an earlier act of this agency:
            # the explicit receipt confirms it and changes nothing.
            return rec.decision()
        return Refusal(
            f"the hand-off of stage {state.current} of dossier {state.code} to {agency} was already "
            f"received at {record.received_at.isoformat()}"
        )
    problem = checks.not_before_stage_start(state, at)
    if problem:
        return problem
    rec.receive(at, inferred=False)
    return rec.decision()


def stage_completed(rec: Recorder, agency: str, at: datetime, data: ev.StageCompletedData) -> Decision | Refusal:
    state = rec.state
    problem = checks.first(
        checks.held_by(state, agency, "stage_completed"),
        checks.matching_stage_index(state, data.stage_index),
        checks.stage_still_open(state, "stage_completed"),
        checks.not_before_stage_start(state, at),
        checks.not_paused(state, "stage_completed"),
    )
    if problem:
        return problem
    if data.outcome == "forward":
        return _forward(rec, at)
    return _result_ready(rec, at)


def _forward(rec: Recorder, at: datetime) -> Decision | Refusal:
    state = rec.state
    if state.plan_stage.role == "return":
        return Refusal(
            f"outcome 'forward': stage {state.current} is the return stage; it ends with "
            f"'result_returned' (or the post's delivery)"
        )
    if state.current + 1 >= len(state.plan):
        return Refusal(
            f"outcome 'forward': stage {state.current} is the last stage of the plan of dossier "
            f"{state.code}; there is no next stage (use outcome 'result_ready')"
        )
    rec.receive_if_needed(at)
    rec.complete(at, "forward")
    rec.send(state.current + 1, at)
    return rec.decision()


def _result_ready(rec: Recorder, at: datetime) -> Decision | Refusal:
    state = rec.state
    stage = state.plan_stage
    last = last_processing_index(state.plan)
    if state.result_ready_at is not None:
        return Refusal(
            f"outcome 'result_ready': the result of dossier {state.code} is already ready "
            f"(at {state.result_ready_at.isoformat()})"
        )
    if state.current != last and stage.role != "return":
        return Refusal(
            f"outcome 'result_ready' is only allowed on the plan's last processing stage ({last}) "
            f"or its return stage, not on stage {state.current} ({stage.role} at {stage.agency})"
        )
    rec.receive_if_needed(at)
    if stage.role != "return":
        rec.complete(at, "result_ready")
    rec.change(result_ready_at=at)
    rec.fact(
        "result_ready",
        stage.agency,
        at,
        ev.ResultReady,
        stage_index=stage.index,
        agency=stage.agency,
        ready_at=at,
        appointment_at=state.appointment_at,
        late=at > state.appointment_at,
        return_method=state.return_method,
    )
    back = return_index(state.plan)
    if back is not None and back != state.current:
        rec.send(back, at)
    return rec.decision()
