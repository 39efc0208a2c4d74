"""Postal's SQL. No table holds an address."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.postal.domain import Report

SCHEMA = "postal"


# ---- dossiers (from lt.evt.dossier.*) ----------------------------------------------------------


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


async def set_plan(conn: asyncpg.Connection, code: str, return_index: int | None, last_index: int | None) -> None:
    await conn.execute(
        "UPDATE postal.dossiers SET return_stage_index = $2, last_stage_index = $3 WHERE code = $1",
        code,
        return_index,
        last_index,
    )


async def set_return_stage_start(
    conn: asyncpg.Connection, code: str, index: int, sent_at: datetime, budget_seconds: int
) -> None:
    await conn.execute(
        "UPDATE postal.dossiers SET return_stage_index = $2, return_sent_at = $3, return_budget_seconds = $4 "
        "WHERE code = $1",
        code,
        index,
        sent_at,
        budget_seconds,
    )


async def dossier(conn: asyncpg.Connection, code: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM postal.dossiers WHERE code = $1", code)


# ---- shipments ------------------------------------------------------------------------------------


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
            "order_pending, created_at, ordered_at) VALUES ($1,$2,$3,$4,$5,$6,'ordered',$7,$8,$8) "
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


async def open_pickup(conn: asyncpg.Connection, agency: str, external_ref: str) -> asyncpg.Record | None:
    """A pickup already ordered for this submission reference, unless the post gave the papers back."""
    return await conn.fetchrow(
        "SELECT * FROM postal.shipments WHERE direction = 'pickup' AND agency = $1 AND external_ref = $2 "
        "AND state <> 'returned_to_sender' ORDER BY created_at LIMIT 1",
        agency,
        external_ref,
    )


async def update_shipment(
    conn: asyncpg.Connection, waybill: str, state: str, attempt: int, ordered_at: datetime, reorder: bool
) -> None:
    await conn.execute(
        "UPDATE postal.shipments SET state = $2, attempt = $3, ordered_at = $4, "
        "order_pending = order_pending OR $5, dispatch_after = NULL, dispatch_failures = 0 WHERE waybill = $1",
        waybill,
        state,
        attempt,
        ordered_at,
        reorder,
    )


async def link_pickup(conn: asyncpg.Connection, waybill: str, code: str, agency: str) -> asyncpg.Record | None:
    """Attach a pickup to the dossier it brought (same receiving agency, not linked yet)."""
    return await conn.fetchrow(
        "UPDATE postal.shipments SET dossier_code = $2 WHERE waybill = $1 AND direction = 'pickup' "
        "AND agency = $3 AND dossier_code IS NULL RETURNING *",
        waybill,
        code,
        agency,
    )


async def reports(conn: asyncpg.Connection, waybill: str) -> tuple[Report, ...]:
    rows = await conn.fetch(
        "SELECT status, at, attempt FROM postal.shipment_events WHERE waybill = $1 ORDER BY at, attempt, status",
        waybill,
    )
    return tuple(Report(r["status"], r["at"], r["attempt"]) for r in rows)


async def record_status(conn: asyncpg.Connection, waybill: str, report: Report, state: str) -> bool:
    return bool(
        await conn.fetchval(
            "INSERT INTO postal.shipment_events (waybill, status, at, attempt, state) VALUES ($1,$2,$3,$4,$5) "
            "ON CONFLICT DO NOTHING RETURNING true",
            waybill,
            report.status,
            report.at,
            report.attempt,
            state,
        )
    )


async def unemitted_statuses(conn: asyncpg.Connection, waybill: str) -> list[asyncpg.Record]:
    """Mark the statuses not yet published as facts; in business-time order."""
    rows = await conn.fetch(
        "UPDATE postal.shipment_events SET emitted = true WHERE waybill = $1 AND NOT emitted "
        "RETURNING status, at, attempt, state",
        waybill,
    )
    return sorted(rows, key=lambda r: (r["at"], r["attempt"], r["status"]))


# ---- pickups: waybills reserved before their order is published -------------------------------------


async def reserved_pickup_waybill(conn: asyncpg.Connection, request_key: str) -> str | None:
    return await conn.fetchval("SELECT waybill FROM postal.pickup_waybills WHERE request_key = $1", request_key)


async def reserve_pickup_waybill(conn: asyncpg.Connection, request_key: str, waybill: str) -> str:
    """Reserve `waybill` for the request, or return the one reserved for it before."""
    await conn.execute(
        "INSERT INTO postal.pickup_waybills (request_key, waybill) VALUES ($1, $2) "
        "ON CONFLICT (request_key) DO NOTHING",
        request_key,
        waybill,
    )
    return await reserved_pickup_waybill(conn, request_key)


# ---- the delivery dispatcher ------------------------------------------------------------------------


async def pending_orders(conn: asyncpg.Connection, limit: int = 50) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM postal.shipments WHERE order_pending AND direction = 'delivery' "
        "AND (dispatch_after IS NULL OR dispatch_after <= now()) "
        "ORDER BY ordered_at LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )


async def order_sent(conn: asyncpg.Connection, waybill: str, attempt: int) -> None:
    """The order of `attempt` is out (a newer attempt ordered meanwhile stays pending)."""
    await conn.execute(
        "UPDATE postal.shipments SET order_pending = false, dispatch_after = NULL, dispatch_failures = 0 "
        "WHERE waybill = $1 AND attempt = $2",
        waybill,
        attempt,
    )


async def dispatch_failed(conn: asyncpg.Connection, waybill: str, retry_in_seconds: float) -> None:
    await conn.execute(
        "UPDATE postal.shipments SET dispatch_failures = dispatch_failures + 1, "
        "dispatch_after = now() + make_interval(secs => $2) WHERE waybill = $1",
        waybill,
        retry_in_seconds,
    )
