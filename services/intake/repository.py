"""Intake's SQL."""

from __future__ import annotations

import json
from datetime import date

import asyncpg

from services.intake.domain import Admission
from services.intake.sealing import Sealer
from shared.contracts.events import SubmittedData

SCHEMA = "intake"


async def lock_submission(conn: asyncpg.Connection, agency: str, external_ref: str) -> None:
    """Serialise concurrent submissions of the same (agency, external_ref)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"intake:{agency}/{external_ref}")


async def find_submission(conn: asyncpg.Connection, agency: str, external_ref: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT code, appointment_at FROM intake.dossiers WHERE agency = $1 AND external_ref = $2",
        agency,
        external_ref,
    )


async def code_taken(conn: asyncpg.Connection, code: str) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM intake.dossiers WHERE code = $1)", code)


async def next_sequence(conn: asyncpg.Connection, agency: str, day: date) -> int:
    """The next number of the agency's daily sequence; the row lock makes it safe under concurrency."""
    return await conn.fetchval(
        "INSERT INTO intake.daily_sequences (agency, day, last) VALUES ($1, $2, 1) "
        "ON CONFLICT (agency, day) DO UPDATE SET last = intake.daily_sequences.last + 1 RETURNING last",
        agency,
        day,
    )


async def insert_dossier(
    conn: asyncpg.Connection, code: str, admission: Admission, data: SubmittedData, event_id: str, sealer: Sealer
) -> None:
    await conn.execute(
        "INSERT INTO intake.dossiers (code, agency, external_ref, procedure, channel, return_method, received_at, "
        "counting_from, appointment_at, postal_waybill, event_id) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
        code,
        admission.agency,
        data.external_ref,
        admission.procedure,
        data.channel,
        data.return_method,
        admission.received_at,
        admission.counting_from,
        admission.appointment_at,
        data.postal_waybill,
        event_id,
    )
    await conn.execute(
        "INSERT INTO intake.personal_data (dossier_code, applicant, delivery_address) VALUES ($1, $2, $3)",
        code,
        sealer.seal(data.applicant.model_dump_json(exclude_none=True).encode(), code) if data.applicant else None,
        sealer.seal(data.delivery_address.model_dump_json(exclude_none=True).encode(), code)
        if data.delivery_address
        else None,
    )


async def delivery_address(conn: asyncpg.Connection, code: str, sealer: Sealer) -> tuple[str, dict | None] | None:
    row = await conn.fetchrow(
        "SELECT d.return_method, p.delivery_address FROM intake.dossiers d "
        "LEFT JOIN intake.personal_data p ON p.dossier_code = d.code WHERE d.code = $1",
        code,
    )
    if row is None:
        return None
    address = json.loads(sealer.open(row["delivery_address"], code)) if row["delivery_address"] else None
    return row["return_method"], address
