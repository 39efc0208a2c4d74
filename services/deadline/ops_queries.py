"""SQL of the operators' figures, over the summary tables `deadline.dossiers` and `deadline.stages`.

Only the filters given appear in the SQL (as in queries.py), so the planner sees plain range
conditions: finished dossiers by their result date (index `dossiers_finished`), running ones by
status (`dossiers_in_progress`), stages by their dossier's report date.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.deadline.report import ReportFilter


class _Params:
    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def _where(f: ReportFilter, p: _Params, *, day: str | None, agency: str, prefix: str = "") -> str:
    """` AND ...` for the filter: `day` is the date column the window applies to (None: no window),
    `agency` the condition's template on the agency parameter."""
    conditions = []
    if day is not None and f.date_from is not None:
        conditions.append(f"{day} >= {p(f.date_from)}")
    if day is not None and f.date_to is not None:
        conditions.append(f"{day} <= {p(f.date_to)}")
    if f.procedure is not None:
        conditions.append(f"{prefix}procedure = {p(f.procedure)}")
    if f.agency is not None:
        conditions.append(agency.format(p(f.agency)))
    return "".join(f" AND {c}" for c in conditions)


async def weekly_verdicts(conn: asyncpg.Connection, f: ReportFilter) -> list[asyncpg.Record]:
    """Finished dossiers per (week of the result, procedure, receiving agency): on time / late."""
    p = _Params()
    where = _where(f, p, day="result_ready_date", agency="agencies @> ARRAY[{}::text]")
    sql = f"""
        SELECT date_trunc('week', result_ready_date)::date AS week, procedure, receiving_agency,
               count(*) FILTER (WHERE NOT late) AS finished_on_time,
               count(*) FILTER (WHERE late)     AS finished_late
        FROM deadline.dossiers WHERE result_ready_at IS NOT NULL{where}
        GROUP BY 1, 2, 3
    """
    return await conn.fetch(sql, *p.values)


async def stage_lateness(conn: asyncpg.Connection, f: ReportFilter) -> list[asyncpg.Record]:
    """Per (stage agency, stage role): stages ended, late stages, their overrun hours."""
    p = _Params()
    where = _where(f, p, day="scope_date", agency="agency = {}")
    sql = f"""
        SELECT agency, min(level) AS level, role,
               count(*) FILTER (WHERE end_at IS NOT NULL) AS ended_stages,
               count(*) FILTER (WHERE late)               AS late_stages,
               coalesce(sum(overrun_hours) FILTER (WHERE late), 0) AS overrun_hours
        FROM deadline.stages WHERE start_at IS NOT NULL{where}
        GROUP BY agency, role
    """
    return await conn.fetch(sql, *p.values)


_WAITS = """
    count(*) AS handoffs,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY s.handoff_wait_hours) AS median_hours,
    percentile_cont(0.9) WITHIN GROUP (ORDER BY s.handoff_wait_hours) AS p90_hours,
    max(s.handoff_wait_hours) AS max_hours
"""


async def handoff_waits(conn: asyncpg.Connection, f: ReportFilter) -> tuple[list[asyncpg.Record], ...]:
    """Hand-off waits (sent -> received) between two different agencies, per (from level, to level)
    and per receiving agency. A hand-off inside one agency is received at once and is left out."""
    p = _Params()
    where = _where(f, p, day="s.scope_date", agency="s.agency = {}", prefix="s.")
    pairs = f"""
        FROM deadline.stages s
        JOIN deadline.stages prev ON prev.dossier_code = s.dossier_code AND prev.stage_index = s.stage_index - 1
        WHERE s.stage_index > 0 AND s.handoff_wait_hours IS NOT NULL AND prev.agency <> s.agency{where}
    """
    by_level = await conn.fetch(
        f"SELECT prev.level AS from_level, s.level AS to_level, {_WAITS} {pairs} GROUP BY 1, 2", *p.values
    )
    by_agency = await conn.fetch(f"SELECT s.agency, min(s.level) AS level, {_WAITS} {pairs} GROUP BY 1", *p.values)
    return by_level, by_agency


_DOSSIER_COLUMNS = """
    d.code, d.procedure, d.receiving_agency, d.holder_agency, d.status, d.received_at, d.appointment_at,
    d.result_ready_at, d.late_hours
"""


async def late_dossiers(conn: asyncpg.Connection, f: ReportFilter, limit: int) -> list[asyncpg.Record]:
    """Finished late in the window, latest result first."""
    p = _Params()
    where = _where(f, p, day="d.result_ready_date", agency="d.agencies @> ARRAY[{}::text]", prefix="d.")
    sql = f"""
        SELECT {_DOSSIER_COLUMNS}, NULL::int AS stage_index, NULL::text AS stage_agency, NULL::timestamptz AS stage_due
        FROM deadline.dossiers d WHERE d.result_ready_at IS NOT NULL AND d.late{where}
        ORDER BY d.result_ready_at DESC, d.code LIMIT {p(limit)}
    """
    return await conn.fetch(sql, *p.values)


async def running_at_risk(
    conn: asyncpg.Connection, f: ReportFilter, now: datetime, horizon: datetime, limit: int
) -> list[asyncpg.Record]:
    """Running dossiers whose clock runs (not paused) with the appointment before `horizon` or an
    open stage past its due time at `now` (the earliest such stage), in the order of
    ops_figures.CATEGORIES: past the appointment, a stage past due, then the soonest appointment."""
    p = _Params()
    as_of, until = p(now), p(horizon)
    where = _where(f, p, day=None, agency="d.agencies @> ARRAY[{}::text]", prefix="d.")
    sql = f"""
        SELECT {_DOSSIER_COLUMNS}, st.stage_index, st.agency AS stage_agency, st.due_at AS stage_due
        FROM deadline.dossiers d
        LEFT JOIN LATERAL (
            SELECT s.stage_index, s.agency, s.due_at FROM deadline.stages s
            WHERE s.dossier_code = d.code AND s.start_at IS NOT NULL AND s.end_at IS NULL AND s.due_at < {as_of}
            ORDER BY s.due_at LIMIT 1
        ) st ON true
        WHERE d.result_ready_at IS NULL AND d.status = 'in_progress'
          AND (d.appointment_at <= {until} OR st.stage_index IS NOT NULL){where}
        ORDER BY d.appointment_at < {as_of} DESC, st.stage_index IS NOT NULL DESC, d.appointment_at, d.code
        LIMIT {p(limit)}
    """
    return await conn.fetch(sql, *p.values)


async def finished_codes(conn: asyncpg.Connection, f: ReportFilter, limit: int) -> list[str]:
    """The latest finished dossiers of the filter (by result date), for a replay."""
    p = _Params()
    where = _where(f, p, day="result_ready_date", agency="agencies @> ARRAY[{}::text]")
    sql = f"""
        SELECT code FROM deadline.dossiers WHERE result_ready_at IS NOT NULL{where}
        ORDER BY result_ready_at DESC, code LIMIT {p(limit)}
    """
    return [r["code"] for r in await conn.fetch(sql, *p.values)]


async def facts_of(conn: asyncpg.Connection, codes: list[str]) -> list[asyncpg.Record]:
    """Every stored fact of these dossiers (served by `facts_by_dossier`)."""
    return await conn.fetch(
        "SELECT event_id, dossier_code, topic, type, occurred_at, data FROM deadline.facts "
        "WHERE dossier_code = ANY($1::text[])",
        codes,
    )
