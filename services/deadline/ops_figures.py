"""The operators' figures as stable JSON, shaped from the SQL rows of ops_queries. Pure.

Every figure covers a window of report dates; without one, the 12 weeks up to the service's
"now" (local date), starting on a Monday so that weekly points are whole weeks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from services.deadline.report import ReportFilter, parse_report_request
from shared.calendar import VN_TZ, WorkCalendar
from shared.catalog import Catalog

DEFAULT_WEEKS = 12
DEFAULT_DOSSIER_LIMIT = 200
MAX_DOSSIER_LIMIT = 1000
ROLE_ORDER = ("receive", "process", "decide", "consult", "return")
# Order of the list of dossiers that need attention: the worst first.
CATEGORIES = ("overdue", "stage_overdue", "at_risk", "late")


def _time(t: datetime | None) -> str | None:
    return t.astimezone(VN_TZ).isoformat() if t is not None else None


def _name(catalog: Catalog, code: str | None) -> str | None:
    agency = catalog.agencies.get(code) if code else None
    return agency.name if agency else None


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)


def monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def default_window(f: ReportFilter, now: datetime | None) -> ReportFilter:
    """The filter with the default window when it names no date and "now" is known."""
    if f.date_from is not None or f.date_to is not None or now is None:
        return f
    today = now.astimezone(VN_TZ).date()
    return replace(f, date_from=monday(today) - timedelta(weeks=DEFAULT_WEEKS - 1), date_to=today)


def parse_window(obj: Mapping[str, Any], now: datetime | None) -> ReportFilter | str:
    parsed = parse_report_request(obj)
    return parsed if isinstance(parsed, str) else default_window(parsed, now)


def window_json(f: ReportFilter, now: datetime | None) -> dict[str, Any]:
    return {
        "from": f.date_from.isoformat() if f.date_from else None,
        "to": f.date_to.isoformat() if f.date_to else None,
        "procedure": f.procedure,
        "agency": f.agency,
        "as_of": _time(now),
    }


# ---- trend ------------------------------------------------------------------------------------


def weeks(f: ReportFilter, seen: Iterable[date]) -> list[date]:
    """Every Monday of the window (or of the weeks seen, when the window is open-ended)."""
    seen = sorted(seen)
    first = monday(f.date_from) if f.date_from else (seen[0] if seen else None)
    last = monday(f.date_to) if f.date_to else (seen[-1] if seen else None)
    if first is None or last is None:
        return []
    return [first + timedelta(weeks=k) for k in range((last - first).days // 7 + 1)]


def _point(week: date, on_time: int, late: int) -> dict[str, Any]:
    """Decision 766/QĐ-TTg: on-time rate = on time / finished; None for a week with none finished."""
    finished = on_time + late
    rate = round(on_time / finished, 4) if finished else None
    return {"week": week.isoformat(), "finished": finished, "on_time": on_time, "late": late, "on_time_rate": rate}


def _series(rows: list[Mapping[str, Any]], key: str | None, all_weeks: list[date]) -> dict[str, list[dict]]:
    counts: dict[str, dict[date, list[int]]] = {}
    for row in rows:
        per_week = counts.setdefault((row[key] or "") if key else "", {})
        cell = per_week.setdefault(row["week"], [0, 0])
        cell[0] += row["finished_on_time"]
        cell[1] += row["finished_late"]
    return {name: [_point(w, *per_week.get(w, (0, 0))) for w in all_weeks] for name, per_week in sorted(counts.items())}


def trend_json(f: ReportFilter, now: datetime | None, rows: list[Mapping[str, Any]], catalog: Catalog) -> dict:
    """`rows`: (week, procedure, receiving_agency, finished_on_time, finished_late)."""
    all_weeks = weeks(f, (r["week"] for r in rows))
    by_procedure = _series(rows, "procedure", all_weeks)
    by_agency = _series(rows, "receiving_agency", all_weeks)
    overall = _series(rows, None, all_weeks).get("", [_point(w, 0, 0) for w in all_weeks])
    return {
        **window_json(f, now),
        "weeks": [w.isoformat() for w in all_weeks],
        "overall": overall,
        "by_procedure": [
            {"procedure": code, "procedure_name": p.name if (p := catalog.procedures.get(code)) else None, "points": v}
            for code, v in by_procedure.items()
        ],
        "by_agency": [
            {"agency": code, "agency_name": _name(catalog, code), "points": v} for code, v in by_agency.items()
        ],
    }


# ---- heatmap ----------------------------------------------------------------------------------


def heatmap_json(f: ReportFilter, now: datetime | None, rows: list[Mapping[str, Any]], catalog: Catalog) -> dict:
    """Agency rows (most overrun first) x stage-role columns; `rows`: (agency, level, role,
    ended_stages, late_stages, overrun_hours)."""
    totals: dict[str, float] = {}
    levels: dict[str, str] = {}
    for r in rows:
        totals[r["agency"]] = totals.get(r["agency"], 0.0) + float(r["overrun_hours"])
        levels[r["agency"]] = r["level"]
    seen_roles = {r["role"] for r in rows}
    roles = [role for role in ROLE_ORDER if role in seen_roles] + sorted(seen_roles - set(ROLE_ORDER))
    agencies = sorted(totals, key=lambda a: (-totals[a], a))
    cells = [
        {
            "agency": r["agency"],
            "role": r["role"],
            "ended_stages": r["ended_stages"],
            "late_stages": r["late_stages"],
            "overrun_hours": _round(r["overrun_hours"]),
        }
        for r in sorted(rows, key=lambda r: (agencies.index(r["agency"]), roles.index(r["role"])))
    ]
    return {
        **window_json(f, now),
        "roles": roles,
        "agencies": [
            {"agency": a, "agency_name": _name(catalog, a), "level": levels[a], "overrun_hours": round(totals[a], 4)}
            for a in agencies
        ],
        "cells": cells,
        "max_overrun_hours": max((c["overrun_hours"] for c in cells), default=0.0),
    }


# ---- hand-offs --------------------------------------------------------------------------------


def _waits(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "handoffs": r["handoffs"],
        "median_hours": _round(r["median_hours"]),
        "p90_hours": _round(r["p90_hours"]),
        "max_hours": _round(r["max_hours"]),
    }


def handoffs_json(
    f: ReportFilter,
    now: datetime | None,
    by_level: list[Mapping[str, Any]],
    by_agency: list[Mapping[str, Any]],
    catalog: Catalog,
) -> dict:
    """Waits in working hours, the slowest (p90) first."""
    slowest = lambda r: (-float(r["p90_hours"] or 0), -r["handoffs"])  # noqa: E731
    return {
        **window_json(f, now),
        "by_level": [
            {"from_level": r["from_level"], "to_level": r["to_level"], **_waits(r)}
            for r in sorted(by_level, key=lambda r: (*slowest(r), r["from_level"], r["to_level"]))
        ],
        "by_agency": [
            {"agency": r["agency"], "agency_name": _name(catalog, r["agency"]), "level": r["level"], **_waits(r)}
            for r in sorted(by_agency, key=lambda r: (*slowest(r), r["agency"]))
        ],
    }


# ---- dossiers needing attention ---------------------------------------------------------------


def at_risk_horizon(calendar: WorkCalendar, now: datetime) -> datetime:
    """A running dossier is at risk when its appointment falls within one working day of now."""
    return calendar.add_working_days(now, 1)


def parse_limit(obj: Mapping[str, Any]) -> int | str:
    value = obj.get("limit", DEFAULT_DOSSIER_LIMIT)
    if value is None:
        return DEFAULT_DOSSIER_LIMIT
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DOSSIER_LIMIT:
        return f"limit: expected a whole number from 1 to {MAX_DOSSIER_LIMIT}, got {value!r}"
    return value


def category(row: Mapping[str, Any], now: datetime | None) -> str:
    """late (finished after the appointment), overdue (running past the appointment),
    stage_overdue (an open stage past its due time), at_risk (appointment within a working day)."""
    if row["result_ready_at"] is not None:
        return "late"
    if now is not None and row["appointment_at"] is not None and row["appointment_at"] < now:
        return "overdue"
    return "stage_overdue" if row["stage_index"] is not None else "at_risk"


def dossiers_json(
    f: ReportFilter, now: datetime | None, rows: list[Mapping[str, Any]], limit: int, catalog: Catalog
) -> dict:
    """The worst first: overdue, a stage overdue, at risk (soonest appointment first), then late."""
    ranked = sorted(
        ((category(r, now), r) for r in rows),
        key=lambda cr: (CATEGORIES.index(cr[0]), _order_time(cr[0], cr[1]), cr[1]["code"]),
    )[:limit]
    return {
        **window_json(f, now),
        "limit": limit,
        "dossiers": [
            {
                "code": r["code"],
                "category": cat,
                "procedure": r["procedure"],
                "procedure_name": p.name if (p := catalog.procedures.get(r["procedure"])) else None,
                "receiving_agency": r["receiving_agency"],
                "receiving_agency_name": _name(catalog, r["receiving_agency"]),
                "holder_agency": r["holder_agency"],
                "holder_agency_name": _name(catalog, r["holder_agency"]),
                "status": r["status"],
                "received_at": _time(r["received_at"]),
                "appointment_at": _time(r["appointment_at"]),
                "result_ready_at": _time(r["result_ready_at"]),
                "late_hours": _round(r["late_hours"]),
                "overdue_stage": None
                if r["stage_index"] is None
                else {
                    "index": r["stage_index"],
                    "agency": r["stage_agency"],
                    "agency_name": _name(catalog, r["stage_agency"]),
                    "due": _time(r["stage_due"]),
                },
            }
            for cat, r in ranked
        ],
    }


def _order_time(cat: str, row: Mapping[str, Any]) -> float:
    if cat == "late":  # the latest result first
        return -row["result_ready_at"].timestamp()
    return row["appointment_at"].timestamp() if row["appointment_at"] is not None else 0.0
