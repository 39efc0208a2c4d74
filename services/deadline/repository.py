"""The deadline service's SQL: facts, the summary tables a timeline projects to, timers, clock."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime

import asyncpg

from services.deadline.alerts import Timer
from services.deadline.attribution import hours
from services.deadline.facts import Fact, fact_from_row
from services.deadline.model import Timeline
from shared.calendar import VN_TZ

SCHEMA = "deadline"


async def insert_fact(conn: asyncpg.Connection, fact: Fact) -> None:
    await conn.execute(
        "INSERT INTO deadline.facts (event_id, dossier_code, seq, topic, type, occurred_at, data) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING",
        fact.event_id,
        fact.dossier_code,
        fact.seq,
        fact.topic,
        fact.type,
        fact.occurred_at,
        fact.data.model_dump_json(),
    )


async def load_facts(conn: asyncpg.Connection, code: str) -> list[Fact]:
    rows = await conn.fetch(
        "SELECT event_id, dossier_code, topic, type, occurred_at, data FROM deadline.facts WHERE dossier_code = $1",
        code,
    )
    return [
        fact_from_row(r["event_id"], r["dossier_code"], r["topic"], r["type"], r["occurred_at"], json.loads(r["data"]))
        for r in rows
    ]


def _local_date(t: datetime | None) -> date | None:
    return t.astimezone(VN_TZ).date() if t is not None else None


def _hours(seconds: int | None) -> float | None:
    return hours(seconds) if seconds is not None else None


UPSERT_DOSSIER = (
    "INSERT INTO deadline.dossiers (code, procedure, receiving_agency, agencies, received_at, received_date, "
    "appointment_at, result_ready_at, result_ready_date, returned_at, status, late, late_hours, holder_agency, "
    "open_stage, returned_via, journey_from, end_to_end_hours, elapsed_days, to_result_hours, after_result_hours, "
    "postal_hours, clock_stopped_at, updated_at) "
    "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23, now()) "
    "ON CONFLICT (code) DO UPDATE SET procedure = EXCLUDED.procedure, "
    "receiving_agency = EXCLUDED.receiving_agency, "
    "agencies = EXCLUDED.agencies, received_at = EXCLUDED.received_at, received_date = EXCLUDED.received_date, "
    "appointment_at = EXCLUDED.appointment_at, result_ready_at = EXCLUDED.result_ready_at, "
    "result_ready_date = EXCLUDED.result_ready_date, returned_at = EXCLUDED.returned_at, status = EXCLUDED.status, "
    "late = EXCLUDED.late, late_hours = EXCLUDED.late_hours, holder_agency = EXCLUDED.holder_agency, "
    "open_stage = EXCLUDED.open_stage, returned_via = EXCLUDED.returned_via, journey_from = EXCLUDED.journey_from, "
    "end_to_end_hours = EXCLUDED.end_to_end_hours, elapsed_days = EXCLUDED.elapsed_days, "
    "to_result_hours = EXCLUDED.to_result_hours, after_result_hours = EXCLUDED.after_result_hours, "
    "postal_hours = EXCLUDED.postal_hours, clock_stopped_at = EXCLUDED.clock_stopped_at, updated_at = now()"
)
INSERT_STAGE = (
    "INSERT INTO deadline.stages (dossier_code, stage_index, agency, level, role, procedure, start_at, "
    "received_at, end_at, due_at, budget_hours, used_hours, overrun_hours, late, handoff_wait_hours, scope_date) "
    "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)"
)


def _dossier_row(t: Timeline) -> tuple:
    j = t.journey
    return (
        t.code,
        t.procedure,
        t.receiving_agency,
        t.agencies(),
        t.received_at,
        _local_date(t.received_at),
        t.appointment_at,
        t.result_ready_at,
        _local_date(t.result_ready_at),
        t.returned_at,
        t.status,
        t.late,
        hours(t.late_seconds),
        t.holder_agency,
        t.open_stage,
        t.returned_via,
        j.start if j else None,
        _hours(j.working_seconds) if j else None,
        round(j.elapsed_seconds / 86400, 4) if j and j.elapsed_seconds is not None else None,
        _hours(j.to_result_seconds) if j else None,
        _hours(j.after_result_seconds) if j else None,
        hours(j.postal_seconds) if j else 0,
        min((p.start for p in t.pauses if p.end is None), default=None),
    )


def _stage_rows(t: Timeline) -> list[tuple]:
    scope_date = _local_date(t.result_ready_at or t.received_at)
    return [
        (
            t.code,
            s.index,
            s.agency,
            s.level,
            s.role,
            t.procedure,
            s.start,
            s.received_at,
            s.end,
            s.due,
            hours(s.budget_seconds),
            _hours(s.used_seconds),
            hours(s.overrun_seconds),
            s.late,
            _hours(s.handoff_wait_seconds),
            scope_date,
        )
        for s in t.stages
    ]


async def save_timelines(conn: asyncpg.Connection, timelines: Sequence[Timeline]) -> None:
    """Replace the summary rows of several dossiers: three round trips however many there are."""
    await conn.executemany(UPSERT_DOSSIER, [_dossier_row(t) for t in timelines])
    await conn.execute("DELETE FROM deadline.stages WHERE dossier_code = ANY($1::text[])", [t.code for t in timelines])
    stages = [row for t in timelines for row in _stage_rows(t)]
    if stages:
        await conn.executemany(INSERT_STAGE, stages)


async def replace_timers_of(conn: asyncpg.Connection, plans: Sequence[tuple[str, Sequence[Timer]]]) -> None:
    """Unfired timers of the dossiers give way to the recomputed ones (a fired timer keeps its
    identity forever): two round trips however many dossiers."""
    await conn.execute(
        "DELETE FROM deadline.timers WHERE dossier_code = ANY($1::text[]) AND fired_at IS NULL", [c for c, _ in plans]
    )
    rows = [
        (code, t.kind, t.identity, t.stage_index, t.agency, t.due_at, t.fire_at, t.until, t.promise)
        for code, timers in plans
        for t in timers
    ]
    if rows:
        await conn.executemany(
            "INSERT INTO deadline.timers (dossier_code, kind, identity, stage_index, agency, due_at, fire_at, "
            "until_at, promise) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (dossier_code, identity) DO NOTHING",
            rows,
        )


async def load_facts_of(conn: asyncpg.Connection, codes: Sequence[str]) -> dict[str, list[Fact]]:
    """`load_facts` for several dossiers in one query."""
    rows = await conn.fetch(
        "SELECT event_id, dossier_code, topic, type, occurred_at, data FROM deadline.facts "
        "WHERE dossier_code = ANY($1::text[])",
        list(codes),
    )
    found: dict[str, list[Fact]] = {code: [] for code in codes}
    for r in rows:
        found[r["dossier_code"]].append(
            fact_from_row(
                r["event_id"], r["dossier_code"], r["topic"], r["type"], r["occurred_at"], json.loads(r["data"])
            )
        )
    return found


async def lock_dossiers(conn: asyncpg.Connection, codes: Sequence[str]) -> None:
    """Serialise rebuilds of these dossiers across batches and service instances; locks are taken
    in the order given (callers sort them: no deadlock)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext(k)) FROM unnest($1::text[]) WITH ORDINALITY AS u(k, n) ORDER BY n",
        [f"deadline:{code}" for code in codes],
    )


TIMER_COLUMNS = ("dossier_code", "kind", "stage_index", "agency", "due_at", "fire_at", "until_at", "promise")


async def claim_due_timers(conn: asyncpg.Connection, now: datetime, limit: int) -> list[tuple[int, Timer]]:
    """Lock the timers that became due (only those: the partial index keeps this cheap)."""
    rows = await conn.fetch(
        "SELECT id, dossier_code, kind, stage_index, agency, due_at, fire_at, until_at, promise FROM deadline.timers "
        "WHERE fired_at IS NULL AND fire_at <= $1 ORDER BY fire_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        now,
        limit,
    )
    return [(r["id"], Timer(*(r[k] for k in TIMER_COLUMNS))) for r in rows]


async def mark_fired(conn: asyncpg.Connection, ids: Sequence[int], now: datetime) -> None:
    await conn.execute("UPDATE deadline.timers SET fired_at = $2 WHERE id = ANY($1::bigint[])", list(ids), now)


async def save_clock(conn: asyncpg.Connection, now: datetime) -> None:
    await conn.execute(
        "INSERT INTO deadline.clock (singleton, now) VALUES (true, $1) "
        "ON CONFLICT (singleton) DO UPDATE SET now = GREATEST(deadline.clock.now, EXCLUDED.now)",
        now,
    )


async def load_clock(conn: asyncpg.Connection) -> datetime | None:
    return await conn.fetchval("SELECT now FROM deadline.clock")
