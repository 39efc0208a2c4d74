"""The refusal rules shared by several actions: each returns a `Refusal` with its precise
reason, or None when the rule is satisfied. Pure."""

from __future__ import annotations

from datetime import datetime

from services.routing.outcome import Refusal
from services.routing.plans import return_index
from services.routing.state import DossierState


def first(*problems: Refusal | None) -> Refusal | None:
    return next((p for p in problems if p is not None), None)


def closed(state: DossierState, action: str) -> Refusal | None:
    if state.closed is None:
        return None
    return Refusal(
        f"dossier {state.code} is closed ({state.closed} at {state.closed_at.isoformat()}); "
        f"no further '{action}' is accepted"
    )


def held_by(state: DossierState, agency: str, action: str) -> Refusal | None:
    """Only the holding agency acts on its stage."""
    if agency == state.holder:
        return None
    return Refusal(
        f"dossier {state.code} is held by {state.holder} (stage {state.current}), not {agency}; "
        f"only the holding agency may send '{action}'"
    )


def held_by_or_receiving(state: DossierState, agency: str, action: str) -> Refusal | None:
    if agency in (state.holder, state.receiving_agency):
        return None
    return Refusal(
        f"dossier {state.code} is held by {state.holder} (stage {state.current}) and was received by "
        f"{state.receiving_agency}; '{action}' from {agency} is not accepted"
    )


def not_before_stage_start(state: DossierState, at: datetime) -> Refusal | None:
    """Event time never goes back before the current stage began (its hand-off, or the receipt)."""
    start = state.stage.sent_at
    if start is None or at >= start:
        return None
    return Refusal(
        f"occurred_at {at.isoformat()} is earlier than the start of stage {state.current} "
        f"at {state.holder} ({start.isoformat()})"
    )


def matching_stage_index(state: DossierState, stage_index: int | None) -> Refusal | None:
    if stage_index is None or stage_index == state.current:
        return None
    return Refusal(
        f"data.stage_index: {stage_index} is not the dossier's current stage ({state.current}, at {state.holder})"
    )


def stage_still_open(state: DossierState, action: str) -> Refusal | None:
    """With no return stage, the last stage ends at `result_ready`: nothing more happens there."""
    record = state.stage
    if record.completed_at is None:
        return None
    return Refusal(
        f"stage {state.current} of dossier {state.code} was completed at {record.completed_at.isoformat()}; "
        f"the dossier awaits the return of its result, so '{action}' is not accepted"
    )


def not_paused(state: DossierState, action: str) -> Refusal | None:
    if state.pause is None:
        return None
    return Refusal(
        f"dossier {state.code} is paused ({state.pause.kind} requested at {state.pause.since.isoformat()}); "
        f"'{action}' is not accepted until the {state.pause.kind} is "
        f"{'received' if state.pause.kind == 'supplement' else 'fulfilled'}"
    )


def no_result_yet(state: DossierState, action: str) -> Refusal | None:
    if state.result_ready_at is None:
        return None
    return Refusal(
        f"the result of dossier {state.code} is already ready (at {state.result_ready_at.isoformat()}); "
        f"'{action}' is no longer accepted"
    )


def returning_agencies(state: DossierState) -> tuple[str, ...]:
    """Who may hand the result to the citizen: the receiving agency, or the return stage's agency."""
    back = return_index(state.plan)
    agencies = [state.receiving_agency]
    if back is not None and state.plan[back].agency not in agencies:
        agencies.append(state.plan[back].agency)
    return tuple(agencies)
