"""`lt.rpc.deadline.event_log`: the dossiers' timelines as cases of an event log, paged by code
(an extension of CONTRACT.md §2, for `lienthong export` and process-mining tools).

Request: {"from", "to", "procedure", "agency", "after", "limit"}. The window applies to the
receipt date (a case is in the log from its receipt); "agency" means dossiers that went through
it, as in the report. Cases come in dossier-code order; "after" is the last code of the previous
page and the answer's "next_after" the cursor for the next one (null at the end), so a log of
any size is read in pages of at most MAX_LIMIT cases, each a single indexed range query.

Answer: {"ok": true, "event_log": {"cases": [...], "next_after": code | null}}. Each case is the
timeline that `explain` shows (stages, pauses, postal legs, result and return) with agency codes,
times and waybills only: no personal data. Built by the same pure `build_timeline` from the
stored facts, so the log and the report always agree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from faststream.nats.annotations import NatsMessage

from services.deadline.facts import fact_from_row
from services.deadline.model import Timeline
from services.deadline.report import ReportFilter, parse_report_request
from services.deadline.timeline import build_timeline
from shared.catalog import Catalog
from shared.contracts import subjects
from shared.contracts.inbound import decode_body
from shared.service import ServiceRuntime

DEFAULT_LIMIT = 200
MAX_LIMIT = 1000


@dataclass(frozen=True)
class EventLogRequest:
    window: ReportFilter
    after: str | None
    limit: int


def parse_event_log_request(obj: Mapping[str, Any]) -> EventLogRequest | str:
    window = parse_report_request(obj)
    if isinstance(window, str):
        return window
    after = obj.get("after")
    if after is not None and (not isinstance(after, str) or not after):
        return f"after: expected the last dossier code of the previous page or null, got {after!r}"
    limit = obj.get("limit", DEFAULT_LIMIT)
    if limit is None:
        limit = DEFAULT_LIMIT
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        return f"limit: expected a whole number from 1 to {MAX_LIMIT}, got {limit!r}"
    return EventLogRequest(window, after, limit)


def _time(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


def _hours(seconds: int | None) -> float | None:
    return round(seconds / 3600, 4) if seconds is not None else None


def case_json(t: Timeline) -> dict[str, Any]:
    """One dossier as a case of the log (pure)."""
    return {
        "code": t.code,
        "procedure": t.procedure,
        "receiving_agency": t.receiving_agency,
        "received_at": _time(t.received_at),
        "counting_from": _time(t.counting_from),
        "appointment_at": _time(t.appointment_at),
        "result_ready_at": _time(t.result_ready_at),
        "returned_at": _time(t.returned_at),
        "status": t.status,
        "late": t.late,
        "late_hours": _hours(t.late_seconds),
        "stages": [
            {
                "index": s.index,
                "agency": s.agency,
                "level": s.level,
                "role": s.role,
                "budget_hours": _hours(s.budget_seconds),
                "start": _time(s.start),
                "received_at": _time(s.received_at),
                "received_inferred": s.received_inferred,
                "end": _time(s.end),
                "outcome": s.outcome,
                "due": _time(s.due),
                "used_hours": _hours(s.used_seconds),
                "overrun_hours": _hours(s.overrun_seconds),
                "late": s.late,
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
            }
            for leg in t.postal_legs
        ],
        "blamed": [{"stage_index": b.stage_index, "agency": b.agency} for b in t.blamed],
    }


async def page_codes(conn: asyncpg.Connection, request: EventLogRequest) -> list[str]:
    """The page's dossier codes, in code order after the cursor (primary-key range scan)."""
    f, values, conditions = request.window, [], []

    def p(value: Any) -> str:
        values.append(value)
        return f"${len(values)}"

    if request.after is not None:
        conditions.append(f"code > {p(request.after)}")
    if f.date_from is not None:
        conditions.append(f"received_date >= {p(f.date_from)}")
    if f.date_to is not None:
        conditions.append(f"received_date <= {p(f.date_to)}")
    if f.procedure is not None:
        conditions.append(f"procedure = {p(f.procedure)}")
    if f.agency is not None:
        conditions.append(f"agencies @> ARRAY[{p(f.agency)}::text]")
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    sql = f"SELECT code FROM deadline.dossiers {where} ORDER BY code LIMIT {p(request.limit)}"
    return [r["code"] for r in await conn.fetch(sql, *values)]


class EventLogHandler:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    async def rpc_event_log(self, conn: asyncpg.Connection, body: bytes) -> dict[str, Any]:
        """`lt.rpc.deadline.event_log` {"from", "to", "procedure", "agency", "after", "limit"}: the
        dossiers' timelines as event-log cases, in code order, one page at a time."""
        obj, problem = decode_body(body or b"{}")
        if problem or obj is None:
            return {"ok": False, "error": problem or "expected a JSON object"}
        request = parse_event_log_request(obj)
        if isinstance(request, str):
            return {"ok": False, "error": request}
        codes = await page_codes(conn, request)
        facts: dict[str, list] = {}
        rows = await conn.fetch(
            "SELECT event_id, dossier_code, topic, type, occurred_at, data FROM deadline.facts "
            "WHERE dossier_code = ANY($1::text[])",
            codes,
        )
        for r in rows:
            data = json.loads(r["data"]) if isinstance(r["data"], str) else r["data"]
            fact = fact_from_row(r["event_id"], r["dossier_code"], r["topic"], r["type"], r["occurred_at"], data)
            facts.setdefault(fact.dossier_code, []).append(fact)
        cases = [case_json(t) for code in codes if (t := build_timeline(facts.get(code, []), self.catalog.calendar))]
        next_after = codes[-1] if len(codes) == request.limit else None
        return {"ok": True, "event_log": {"cases": cases, "next_after": next_after}}


def register(runtime: ServiceRuntime, catalog: Catalog) -> None:
    """Answer `lt.rpc.deadline.event_log` on the runtime's broker (queue group `deadline`)."""
    handler = EventLogHandler(catalog)

    @runtime.broker.subscriber(
        subjects.RPC_DEADLINE_EVENT_LOG, queue="deadline", description=handler.rpc_event_log.__doc__
    )
    async def rpc_event_log(msg: NatsMessage) -> dict[str, Any]:
        assert runtime.pool is not None
        async with runtime.pool.acquire() as conn:
            return await handler.rpc_event_log(conn, msg.body)
