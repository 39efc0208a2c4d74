"""The service's answers as stable JSON: a dossier's explanation and the lateness report. Pure."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from services.deadline.attribution import hours
from services.deadline.journey import Journey
from services.deadline.model import Timeline
from shared.calendar import VN_TZ
from shared.catalog import Catalog


def trace_id(code: str) -> str:
    """The dossier's trace id (CONTRACT.md §4): the first 16 bytes of SHA-256 of its code, in hex."""
    return hashlib.sha256(code.encode("utf-8")).digest()[:16].hex()


def _time(t: datetime | None) -> str | None:
    return t.astimezone(VN_TZ).isoformat() if t is not None else None


def _hours(seconds: int | None) -> float | None:
    return hours(seconds) if seconds is not None else None


def _agency_name(catalog: Catalog, code: str | None) -> str | None:
    agency = catalog.agencies.get(code) if code else None
    return agency.name if agency else None


def explanation(t: Timeline, catalog: Catalog) -> dict[str, Any]:
    """Everything the deadline service concluded about one dossier, and from which times."""
    procedure = catalog.procedures.get(t.procedure) if t.procedure else None
    return {
        "code": t.code,
        "procedure": t.procedure,
        "procedure_name": procedure.name if procedure else None,
        "receiving_agency": t.receiving_agency,
        "receiving_agency_name": _agency_name(catalog, t.receiving_agency),
        "received_at": _time(t.received_at),
        "counting_from": _time(t.counting_from),
        "appointment_at": _time(t.appointment_at),
        "appointments": [
            {"at": _time(a.at), "appointment_at": _time(a.appointment_at), "cause": a.cause, "agency": a.agency}
            for a in t.appointments
        ],
        "result_ready_at": _time(t.result_ready_at),
        "returned_at": _time(t.returned_at),
        "returned_via": t.returned_via,
        # The agencies are judged at the result (CONTRACT.md §6): what follows is the citizen's wait.
        "on_time_verdict_at": _time(t.result_ready_at),
        "end_to_end": _journey(t.journey),
        "status": t.status,
        "holder_agency": t.holder_agency,
        "open_stage": t.open_stage,
        "late": t.late,
        "late_by_hours": hours(t.late_seconds),
        "trace_id": trace_id(t.code),
        "stages": [
            {
                "index": s.index,
                "agency": s.agency,
                "agency_name": _agency_name(catalog, s.agency),
                "level": s.level,
                "role": s.role,
                "start": _time(s.start),
                "received_at": _time(s.received_at),
                "received_inferred": s.received_inferred,
                "end": _time(s.end),
                "outcome": s.outcome,
                "due": _time(s.due),
                "budget_hours": hours(s.budget_seconds),
                "paused_hours": hours(s.paused_seconds),
                "postal_hours": hours(s.postal_seconds),
                "used_hours": _hours(s.used_seconds),
                "overrun_hours": hours(s.overrun_seconds),
                "late": s.late,
                "handoff_wait_hours": _hours(s.handoff_wait_seconds),
            }
            for s in t.stages
        ],
        "pauses": [
            {
                "kind": p.kind,
                "stage_index": p.stage_index,
                "agency": p.agency,
                "start": _time(p.start),
                "end": _time(p.end),
                "working_hours": _hours(p.working_seconds),
                "charged_to": None,
            }
            for p in t.pauses
        ],
        "postal_legs": [
            {
                "waybill": leg.waybill,
                "direction": leg.direction,
                "status": leg.status,
                "start": _time(leg.start),
                "end": _time(leg.end),
                "working_hours": _hours(leg.working_seconds),
                "charged_to": None,
            }
            for leg in t.postal_legs
        ],
        "blamed": [
            {
                "stage_index": b.stage_index,
                "agency": b.agency,
                "agency_name": _agency_name(catalog, b.agency),
                "overrun_hours": hours(b.overrun_seconds),
            }
            for b in t.blamed
        ],
    }


def _journey(j: Journey | None) -> dict[str, Any] | None:
    if j is None:
        return None
    return {
        "from": _time(j.start),
        "to": _time(j.end),
        "via": j.via,
        "working_hours": _hours(j.working_seconds),
        "elapsed_days": round(j.elapsed_seconds / 86400, 4) if j.elapsed_seconds is not None else None,
        "pickup_hours": hours(j.before_receipt_seconds),
        "to_result_hours": _hours(j.to_result_seconds),
        "after_result_hours": _hours(j.after_result_seconds),
        "postal_hours": hours(j.postal_seconds),
        "postal_charged_to": None,
    }


@dataclass(frozen=True)
class ReportFilter:
    date_from: date | None = None
    date_to: date | None = None
    procedure: str | None = None
    agency: str | None = None


def parse_report_request(obj: Mapping[str, Any]) -> ReportFilter | str:
    """The report's filters, or a precise reason why the request cannot be answered."""
    dates: dict[str, date | None] = {}
    for key in ("from", "to"):
        value = obj.get(key)
        if value is None:
            dates[key] = None
            continue
        try:
            dates[key] = date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
        except ValueError:
            dates[key] = None
        if dates[key] is None:
            return f"{key}: expected a date YYYY-MM-DD or null, got {value!r}"
    if dates["from"] and dates["to"] and dates["from"] > dates["to"]:
        return f"from ({dates['from']}) is after to ({dates['to']})"
    for key in ("procedure", "agency"):
        if obj.get(key) is not None and (not isinstance(obj[key], str) or not obj[key]):
            return f"{key}: expected a code (non-empty string) or null, got {obj[key]!r}"
    return ReportFilter(dates["from"], dates["to"], obj.get("procedure"), obj.get("agency"))


COUNTS = ("finished_on_time", "finished_late", "in_progress_within", "in_progress_past_due")


def _verdicts(counts: Mapping[str, int]) -> dict[str, Any]:
    """Decision 766/QĐ-TTg: on-time rate = on time / (on time + late), over finished dossiers."""
    finished = counts["finished_on_time"] + counts["finished_late"]
    rate = round(counts["finished_on_time"] / finished, 4) if finished else None
    return {
        "finished_on_time": counts["finished_on_time"],
        "finished_late": counts["finished_late"],
        "on_time_rate": rate,
        "in_progress_within": counts["in_progress_within"],
        "in_progress_past_due": counts["in_progress_past_due"],
    }


def _grouped(rows: Iterable[Mapping[str, Any]], key: str) -> dict[str, dict[str, int]]:
    groups: dict[str, dict[str, int]] = {}
    for row in rows:
        group = groups.setdefault(row[key] or "", dict.fromkeys(COUNTS, 0))
        for name in COUNTS:
            group[name] += row[name]
    return groups


END_TO_END_FIGURES = (
    "mean_working_hours",
    "median_working_hours",
    "max_working_hours",
    "mean_elapsed_days",
    "mean_to_result_hours",
    "mean_after_result_hours",
    "mean_postal_hours",
)


def _rounded(value: Any) -> float | None:
    return round(float(value), 4) if value is not None else None


def end_to_end_json(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The citizen-facing end-to-end time (pickup to result in hand, postal legs included) of the
    dossiers returned to their citizen; `rows`: one per way of return (`via`, `all` for the total)
    with `returned` and END_TO_END_FIGURES."""
    by_via = {row["via"]: row for row in rows}
    total = by_via.get("all")

    def figures(row: Mapping[str, Any] | None) -> dict[str, Any]:
        return {"returned": int(row["returned"]) if row else 0} | {
            name: _rounded(row[name]) if row else None for name in END_TO_END_FIGURES
        }

    return figures(total) | {
        "by_return": [{"via": via} | figures(by_via[via]) for via in sorted(by_via) if via != "all"],
    }


def report_json(
    f: ReportFilter,
    as_of: datetime | None,
    counts: list[Mapping[str, Any]],
    lateness: list[Mapping[str, Any]],
    catalog: Catalog,
    end_to_end: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """`counts`: rows per (procedure, receiving_agency) with the four COUNTS; `lateness`: rows per
    (agency, role, procedure) of late stages with their overrun hours, largest first; `end_to_end`:
    the rows of `end_to_end_json`. The on-time figures judge the agencies at the result; the
    end-to-end figures are the citizen's wait, postal legs (charged to no agency) included."""
    total = dict.fromkeys(COUNTS, 0)
    for row in counts:
        for name in COUNTS:
            total[name] += row[name]
    procedures = _grouped(counts, "procedure")
    agencies = _grouped(counts, "receiving_agency")
    return {
        "from": f.date_from.isoformat() if f.date_from else None,
        "to": f.date_to.isoformat() if f.date_to else None,
        "procedure": f.procedure,
        "agency": f.agency,
        "as_of": _time(as_of),
        **_verdicts(total),
        "lateness": [
            {
                "agency": row["agency"],
                "agency_name": _agency_name(catalog, row["agency"]),
                "stage_role": row["role"],
                "procedure": row["procedure"],
                "late_stages": row["late_stages"],
                "overrun_hours": round(float(row["overrun_hours"]), 4),
            }
            for row in lateness
        ],
        "by_procedure": [
            {"procedure": code, "procedure_name": p.name if (p := catalog.procedures.get(code)) else None}
            | _verdicts(procedures[code])
            for code in sorted(procedures)
        ],
        "by_agency": [
            {"agency": code, "agency_name": _agency_name(catalog, code)} | _verdicts(agencies[code])
            for code in sorted(agencies)
        ],
        "end_to_end": end_to_end_json(end_to_end),
    }
