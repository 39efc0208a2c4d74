"""Routing's SQL: the dossier row (locked for each decision), its control slip and its pauses."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.routing.outcome import FactOut
from services.routing.state import DossierState, dump_state, load_state

SCHEMA = "routing"


async def load_for_update(conn: asyncpg.Connection, code: str) -> DossierState | None:
    """The dossier's state, its row locked until the transaction ends, so that two consumers
    deciding on the same dossier at once take turns and the second sees the first's result."""
    raw = await conn.fetchval("SELECT state FROM routing.dossiers WHERE code = $1 FOR UPDATE", code)
    return load_state(raw) if raw is not None else None


async def insert(conn: asyncpg.Connection, state: DossierState) -> bool:
    """Insert a new dossier; False if it already exists (a replayed `received`)."""
    inserted = await conn.fetchval(
        "INSERT INTO routing.dossiers (code, procedure, receiving_agency, status, sub_state, holder, "
        "current_stage, appointment_at, seq, state) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) "
        "ON CONFLICT (code) DO NOTHING RETURNING true",
        state.code,
        state.procedure,
        state.receiving_agency,
        state.status,
        state.sub_state,
        state.holder,
        state.current,
        state.appointment_at,
        state.seq,
        dump_state(state),
    )
    if inserted:
        await _save_stages(conn, None, state)
    return bool(inserted)


async def save(conn: asyncpg.Connection, before: DossierState, after: DossierState, facts: Sequence[FactOut]) -> None:
    """Write a decision's new state: the dossier row, the stages it changed, its pauses."""
    await conn.execute(
        "UPDATE routing.dossiers SET status = $2, sub_state = $3, holder = $4, current_stage = $5, "
        "appointment_at = $6, seq = $7, state = $8, updated_at = now() WHERE code = $1",
        after.code,
        after.status,
        after.sub_state,
        None if after.closed else after.holder,
        after.current,
        after.appointment_at,
        after.seq,
        dump_state(after),
    )
    await _save_stages(conn, before, after)
    await _save_pauses(conn, after.code, facts)


async def _save_stages(conn: asyncpg.Connection, before: DossierState | None, after: DossierState) -> None:
    changed = [
        (record, after.plan[record.index])
        for record in after.stages
        if record.sent_at is not None and (before is None or before.stages[record.index] != record)
    ]
    if not changed:
        return
    await conn.executemany(
        "INSERT INTO routing.stages (dossier_code, stage_index, agency, level, role, budget_seconds, sent_at, "
        "received_at, received_inferred, completed_at, outcome, due_at, paused_seconds) "
        "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) ON CONFLICT (dossier_code, stage_index) DO UPDATE SET "
        "budget_seconds = EXCLUDED.budget_seconds, sent_at = EXCLUDED.sent_at, received_at = EXCLUDED.received_at, "
        "received_inferred = EXCLUDED.received_inferred, completed_at = EXCLUDED.completed_at, "
        "outcome = EXCLUDED.outcome, due_at = EXCLUDED.due_at, paused_seconds = EXCLUDED.paused_seconds",
        [
            (
                after.code,
                record.index,
                stage.agency,
                stage.level,
                stage.role,
                record.budget_seconds,
                record.sent_at,
                record.received_at,
                record.received_inferred,
                record.completed_at,
                record.outcome,
                record.due_at,
                record.paused_seconds,
            )
            for record, stage in changed
        ],
    )


async def _save_pauses(conn: asyncpg.Connection, code: str, facts: Sequence[FactOut]) -> None:
    for fact in facts:
        data = fact.data
        if fact.type == "paused":
            await conn.execute(
                "INSERT INTO routing.pauses (dossier_code, paused_seq, kind, stage_index, agency, paused_at) "
                "VALUES ($1,$2,$3,$4,$5,$6)",
                code,
                data.seq,
                data.kind,
                data.stage_index,
                data.agency,
                data.paused_at,
            )
        elif fact.type == "resumed":
            await conn.execute(
                "UPDATE routing.pauses SET resumed_at = $2, paused_seconds = $3, policy = $4 "
                "WHERE dossier_code = $1 AND resumed_at IS NULL",
                code,
                data.resumed_at,
                round(data.paused_hours * 3600),
                data.policy,
            )
