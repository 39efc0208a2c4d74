"""Routing's SQL: the dossier row (locked for each decision) and its control slip."""

from __future__ import annotations

import asyncpg

from services.routing.state import DossierState

SCHEMA = "routing"


async def load_for_update(conn: asyncpg.Connection, code: str) -> DossierState | None:
    """The dossier's state, its row locked until the transaction ends (two consumers never race)."""
    raw = await conn.fetchval("SELECT state FROM routing.dossiers WHERE code = $1 FOR UPDATE", code)
    return DossierState.model_validate_json(raw) if raw is not None else None


async def insert(conn: asyncpg.Connection, state: DossierState) -> bool:
    """Insert a new dossier; False if it already exists (a replayed `received`)."""
    inserted = await conn.fetchval(
        "INSERT INTO routing.dossiers (code, procedure, receiving_agency, status, sub_state, holder, current_stage, "
        "appointment_at, seq, state) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) ON CONFLICT (code) DO NOTHING "
        "RETURNING true",
        state.code,
        state.procedure,
        state.receiving_agency,
        state.status,
        state.sub_state,
        state.holder,
        state.current,
        state.appointment_at,
        state.seq,
        state.model_dump_json(),
    )
    if inserted:
        await save_stages(conn, state)
    return bool(inserted)


async def update(conn: asyncpg.Connection, state: DossierState) -> None:
    await conn.execute(
        "UPDATE routing.dossiers SET status = $2, sub_state = $3, holder = $4, current_stage = $5, "
        "appointment_at = $6, seq = $7, state = $8, updated_at = now() WHERE code = $1",
        state.code,
        state.status,
        state.sub_state,
        None if state.closed_as else state.holder,
        state.current,
        state.appointment_at,
        state.seq,
        state.model_dump_json(),
    )
    await save_stages(conn, state)


async def save_stages(conn: asyncpg.Connection, state: DossierState) -> None:
    await conn.executemany(
        "INSERT INTO routing.stages (dossier_code, stage_index, agency, level, role, budget_seconds, sent_at, "
        "received_at, received_inferred, completed_at, outcome, due_at, paused_seconds) "
        "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) ON CONFLICT (dossier_code, stage_index) DO UPDATE SET "
        "budget_seconds = EXCLUDED.budget_seconds, sent_at = EXCLUDED.sent_at, received_at = EXCLUDED.received_at, "
        "received_inferred = EXCLUDED.received_inferred, completed_at = EXCLUDED.completed_at, "
        "outcome = EXCLUDED.outcome, due_at = EXCLUDED.due_at, paused_seconds = EXCLUDED.paused_seconds",
        [
            (
                state.code,
                r.index,
                p.agency,
                p.level,
                p.role,
                r.budget_seconds,
                r.sent_at,
                r.received_at,
                r.received_inferred,
                r.completed_at,
                r.outcome,
                r.due_at,
                r.paused_seconds,
            )
            for r, p in zip(state.stages, state.plan, strict=True)
            if r.sent_at is not None
        ],
    )
