"""Postal's SQL. No table holds an address."""

from __future__ import annotations

from datetime import datetime

import asyncpg

SCHEMA = "postal"


async def upsert_dossier(
    conn: asyncpg.Connection, code: str, agency: str, procedure: str, return_method: str, waybill: str | None
) -> None:
    await conn.execute(
        "INSERT INTO postal.dossiers (code, receiving_agency, procedure, return_method, postal_waybill) "
        "VALUES ($1,$2,$3,$4,$5) ON CONFLICT (code) DO NOTHING",
        code,
        agency,
        procedure,
        return_method,
        waybill,
    )


async def set_return_stage(conn: asyncpg.Connection, code: str, index: int | None) -> None:
    await conn.execute("UPDATE postal.dossiers SET return_stage_index = $2 WHERE code = $1", code, index)


async def dossier(conn: asyncpg.Connection, code: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM postal.dossiers WHERE code = $1", code)


async def next_waybill_serial(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT nextval('postal.waybill_serial')")


async def create_shipment(
    conn: asyncpg.Connection,
    waybill: str,
    direction: str,
    dossier_code: str | None,
    agency: str,
    created_at: datetime,
    *,
    procedure: str | None = None,
    external_ref: str | None = None,
    order_pending: bool = False,
) -> bool:
    return bool(
        await conn.fetchval(
            "INSERT INTO postal.shipments (waybill, direction, dossier_code, agency, procedure, external_ref, state, "
            "order_pending, created_at) VALUES ($1,$2,$3,$4,$5,$6,'ordered',$7,$8) "
            "ON CONFLICT DO NOTHING RETURNING true",
            waybill,
            direction,
            dossier_code,
            agency,
            procedure,
            external_ref,
            order_pending,
            created_at,
        )
    )


async def shipment_for_update(conn: asyncpg.Connection, waybill: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM postal.shipments WHERE waybill = $1 FOR UPDATE", waybill)


async def update_shipment(
    conn: asyncpg.Connection, waybill: str, state: str, attempt: int, order_pending: bool
) -> None:
    await conn.execute(
        "UPDATE postal.shipments SET state = $2, attempt = $3, order_pending = $4 WHERE waybill = $1",
        waybill,
        state,
        attempt,
        order_pending,
    )


async def link_pickup(conn: asyncpg.Connection, waybill: str, code: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "UPDATE postal.shipments SET dossier_code = $2 WHERE waybill = $1 AND direction = 'pickup' "
        "AND dossier_code IS NULL RETURNING *",
        waybill,
        code,
    )


async def record_status(conn: asyncpg.Connection, waybill: str, status: str, at: datetime, attempt: int) -> bool:
    return bool(
        await conn.fetchval(
            "INSERT INTO postal.shipment_events (waybill, status, at, attempt) VALUES ($1,$2,$3,$4) "
            "ON CONFLICT DO NOTHING RETURNING true",
            waybill,
            status,
            at,
            attempt,
        )
    )


async def unemitted_statuses(conn: asyncpg.Connection, waybill: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "UPDATE postal.shipment_events SET emitted = true WHERE waybill = $1 AND NOT emitted "
        "RETURNING status, at, attempt",
        waybill,
    )


async def pending_orders(conn: asyncpg.Connection, limit: int = 50) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM postal.shipments WHERE order_pending ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED", limit
    )


async def order_sent(conn: asyncpg.Connection, waybill: str) -> None:
    await conn.execute("UPDATE postal.shipments SET order_pending = false WHERE waybill = $1", waybill)
