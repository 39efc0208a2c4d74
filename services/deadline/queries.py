"""The report as two SQL aggregates over the summary tables, each served by an index.

Finished dossiers are selected by the local date of their result (index `dossiers_finished`),
dossiers in progress by their receipt date (`dossiers_in_progress`), an agency filter by the GIN
index on the agencies a dossier went through; late stages by their dossier's report date
(partial index `stages_late`, covering). Only the filters given appear in the SQL, so the
planner sees the plain range conditions its indexes serve.
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


def _dossier_conditions(f: ReportFilter, day_column: str, p: _Params) -> str:
    conditions = []
    if f.date_from is not None:
        conditions.append(f"{day_column} >= {p(f.date_from)}")
    if f.date_to is not None:
        conditions.append(f"{day_column} <= {p(f.date_to)}")
    if f.procedure is not None:
        conditions.append(f"procedure = {p(f.procedure)}")
    if f.agency is not None:
        conditions.append(f"agencies @> ARRAY[{p(f.agency)}::text]")
    return "".join(f" AND {c}" for c in conditions)


async def verdict_counts(conn: asyncpg.Connection, f: ReportFilter, now: datetime | None) -> list[asyncpg.Record]:
    """Per (procedure, receiving agency): finished on time / late, in progress within / past due.
    A paused dossier's clock stands still (its appointment moves when it resumes): it is past due
    only if its appointment had passed before the pause."""
    p = _Params()
    as_of = p(now)
    finished = _dossier_conditions(f, "result_ready_date", p)
    in_progress = _dossier_conditions(f, "received_date", p)
    sql = f"""
        SELECT procedure, receiving_agency,
               count(*) FILTER (WHERE finished AND NOT late)     AS finished_on_time,
               count(*) FILTER (WHERE finished AND late)         AS finished_late,
               count(*) FILTER (WHERE NOT finished AND NOT past) AS in_progress_within,
               count(*) FILTER (WHERE NOT finished AND past)     AS in_progress_past_due
        FROM (
            SELECT procedure, receiving_agency, true AS finished, late, false AS past
            FROM deadline.dossiers WHERE result_ready_at IS NOT NULL{finished}
            UNION ALL
            SELECT procedure, receiving_agency, false, false,
                   coalesce(appointment_at < least({as_of}::timestamptz, clock_stopped_at), false)
            FROM deadline.dossiers
            WHERE result_ready_at IS NULL AND status IN ('in_progress', 'paused'){in_progress}
        ) d
        GROUP BY procedure, receiving_agency
    """
    return await conn.fetch(sql, *p.values)


async def lateness(conn: asyncpg.Connection, f: ReportFilter) -> list[asyncpg.Record]:
    """Late stages per (agency, role, procedure) with their total overrun, largest first."""
    p = _Params()
    conditions = []
    if f.date_from is not None:
        conditions.append(f"scope_date >= {p(f.date_from)}")
    if f.date_to is not None:
        conditions.append(f"scope_date <= {p(f.date_to)}")
    if f.procedure is not None:
        conditions.append(f"procedure = {p(f.procedure)}")
    if f.agency is not None:
        conditions.append(f"agency = {p(f.agency)}")
    where = "".join(f" AND {c}" for c in conditions)
    sql = f"""
        SELECT agency, role, procedure, count(*) AS late_stages, sum(overrun_hours) AS overrun_hours
        FROM deadline.stages WHERE late{where}
        GROUP BY agency, role, procedure
        ORDER BY overrun_hours DESC, agency, role, procedure
    """
    return await conn.fetch(sql, *p.values)


async def end_to_end(conn: asyncpg.Connection, f: ReportFilter) -> list[asyncpg.Record]:
    """The citizen's end-to-end time of the returned dossiers (dated by their result, like the
    finished ones), per way of return and in total (`via` = 'all')."""
    p = _Params()
    window = _dossier_conditions(f, "result_ready_date", p)
    sql = f"""
        SELECT CASE WHEN grouping(returned_via) = 1 THEN 'all' ELSE coalesce(returned_via, 'unknown') END AS via,
               count(*) AS returned,
               avg(end_to_end_hours) AS mean_working_hours,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY end_to_end_hours) AS median_working_hours,
               max(end_to_end_hours) AS max_working_hours,
               avg(elapsed_days) AS mean_elapsed_days,
               avg(to_result_hours) AS mean_to_result_hours,
               avg(after_result_hours) AS mean_after_result_hours,
               avg(postal_hours) AS mean_postal_hours
        FROM deadline.dossiers
        WHERE returned_at IS NOT NULL AND end_to_end_hours IS NOT NULL{window}
        GROUP BY GROUPING SETS ((returned_via), ())
    """
    return await conn.fetch(sql, *p.values)
