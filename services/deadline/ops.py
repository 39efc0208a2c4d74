"""Request/reply for the operators' page and `lienthong recommend` (extensions of CONTRACT.md §2).

Each answer is {"ok": true, <name>: {...}} or {"ok": false, "error": <precise reason>}, read from
the summary tables (and, for the replay, from the stored facts) of this service alone.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from faststream.nats.annotations import NatsMessage

from services.deadline import ops_figures as figures
from services.deadline import ops_queries as sql
from services.deadline.facts import fact_from_row
from services.deadline.recommend import parse_recommend_request, recommend
from services.deadline.timeline import build_timeline
from shared.catalog import Catalog
from shared.clock import Clock
from shared.contracts import subjects
from shared.contracts.inbound import decode_body
from shared.service import ServiceRuntime

Answer = dict[str, Any]


def _request(body: bytes) -> tuple[dict[str, Any] | None, str | None]:
    obj, problem = decode_body(body or b"{}")
    return (None, problem or "expected a JSON object") if problem or obj is None else (obj, None)


class OpsHandlers:
    def __init__(self, catalog: Catalog, clock: Clock) -> None:
        self.catalog, self.clock = catalog, clock

    async def rpc_trend(self, conn: asyncpg.Connection, body: bytes) -> Answer:
        """`lt.rpc.deadline.trend` {"from", "to", "procedure", "agency"}: on-time rate per week,
        overall, per procedure and per receiving agency."""
        now = self.clock.now()
        obj, problem = _request(body)
        f = problem or figures.parse_window(obj or {}, now)
        if isinstance(f, str):
            return {"ok": False, "error": f}
        rows = await sql.weekly_verdicts(conn, f)
        return {"ok": True, "trend": figures.trend_json(f, now, rows, self.catalog)}

    async def rpc_heatmap(self, conn: asyncpg.Connection, body: bytes) -> Answer:
        """`lt.rpc.deadline.heatmap` {"from", "to", "procedure", "agency"}: late stages and overrun
        hours per (stage agency, stage role)."""
        now = self.clock.now()
        obj, problem = _request(body)
        f = problem or figures.parse_window(obj or {}, now)
        if isinstance(f, str):
            return {"ok": False, "error": f}
        rows = await sql.stage_lateness(conn, f)
        return {"ok": True, "heatmap": figures.heatmap_json(f, now, rows, self.catalog)}

    async def rpc_handoffs(self, conn: asyncpg.Connection, body: bytes) -> Answer:
        """`lt.rpc.deadline.handoffs` {"from", "to", "procedure", "agency"}: hand-off waits between
        agencies per (from level, to level) and per receiving agency: count, median, p90, max."""
        now = self.clock.now()
        obj, problem = _request(body)
        f = problem or figures.parse_window(obj or {}, now)
        if isinstance(f, str):
            return {"ok": False, "error": f}
        by_level, by_agency = await sql.handoff_waits(conn, f)
        return {"ok": True, "handoffs": figures.handoffs_json(f, now, by_level, by_agency, self.catalog)}

    async def rpc_dossiers(self, conn: asyncpg.Connection, body: bytes) -> Answer:
        """`lt.rpc.deadline.dossiers` {"from", "to", "procedure", "agency", "limit"}: running
        dossiers overdue or at risk (any receipt date) and dossiers finished late in the window."""
        now = self.clock.now()
        obj, problem = _request(body)
        f = problem or figures.parse_window(obj or {}, now)
        limit = figures.parse_limit(obj or {})
        if isinstance(f, str) or isinstance(limit, str):
            return {"ok": False, "error": f if isinstance(f, str) else limit}
        rows = list(await sql.late_dossiers(conn, f, limit))
        if now is not None:  # a simulated clock that has not ticked yet knows no "now"
            horizon = figures.at_risk_horizon(self.catalog.calendar, now)
            rows += await sql.running_at_risk(conn, f, now, horizon, limit)
        return {"ok": True, "dossiers": figures.dossiers_json(f, now, rows, limit, self.catalog)}

    async def rpc_recommend(self, conn: asyncpg.Connection, body: bytes) -> Answer:
        """`lt.rpc.deadline.recommend` {"procedure", "percentile", "from", "to", "sample"}: per-stage
        budgets from the observed stage times, and the on-time rates replayed under them."""
        obj, problem = _request(body)
        request = problem or parse_recommend_request(obj or {}, self.catalog)
        if isinstance(request, str):
            return {"ok": False, "error": request}
        codes = await sql.finished_codes(conn, request.window, request.sample)
        if not codes:
            window = f" between {request.window.date_from or '…'} and {request.window.date_to or '…'}"
            return {
                "ok": False,
                "error": f"procedure {request.procedure.code}: no finished dossier{window} to learn from",
            }
        facts: dict[str, list] = {}
        for r in await sql.facts_of(conn, codes):
            fact = fact_from_row(r["event_id"], r["dossier_code"], r["topic"], r["type"], r["occurred_at"], _json(r))
            facts.setdefault(fact.dossier_code, []).append(fact)
        timelines = [t for code in codes if (t := build_timeline(facts.get(code, []), self.catalog.calendar))]
        return {"ok": True, "recommendation": recommend(timelines, request, self.catalog)}


def _json(row: asyncpg.Record) -> Any:
    return json.loads(row["data"]) if isinstance(row["data"], str) else row["data"]


Handler = Callable[[asyncpg.Connection, bytes], Awaitable[Answer]]


def register(runtime: ServiceRuntime, ops: OpsHandlers) -> None:
    """Answer the operators' subjects on the runtime's broker (queue group `deadline`)."""
    routes: dict[str, Handler] = {
        subjects.RPC_DEADLINE_TREND: ops.rpc_trend,
        subjects.RPC_DEADLINE_HEATMAP: ops.rpc_heatmap,
        subjects.RPC_DEADLINE_HANDOFFS: ops.rpc_handoffs,
        subjects.RPC_DEADLINE_DOSSIERS: ops.rpc_dossiers,
        subjects.RPC_DEADLINE_RECOMMEND: ops.rpc_recommend,
    }
    for subject, handler in routes.items():
        runtime.broker.subscriber(subject, queue="deadline", description=handler.__doc__)(_answering(runtime, handler))


def _answering(runtime: ServiceRuntime, handler: Handler) -> Callable[[NatsMessage], Awaitable[Answer]]:
    async def answer(msg: NatsMessage) -> Answer:
        assert runtime.pool is not None
        async with runtime.pool.acquire() as conn:
            return await handler(conn, msg.body)

    answer.__name__ = handler.__name__
    return answer
