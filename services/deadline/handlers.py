"""The deadline service's edges: store facts, rebuild the timelines a batch touched, answer RPCs."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from services.deadline import queries, repository
from services.deadline.alerts import plan_timers
from services.deadline.facts import Fact, Ignored, parse_fact
from services.deadline.report import explanation, parse_report_request, report_json
from services.deadline.timeline import build_timeline
from services.deadline.tracing_emit import OVERDUE_SUBJECT, DeadlineTracing
from shared.catalog import Catalog
from shared.clock import Clock
from shared.contracts import subjects
from shared.contracts.envelope import derived_event_id, envelope_message
from shared.contracts.inbound import decode_body
from shared.db.outbox import enqueue
from shared.messaging import TRANSIENT_ERRORS, Inbound, after_commit_mark, dead_letter, drop_after_commit

log = logging.getLogger(__name__)
SCHEMA = repository.SCHEMA
CONSUMER = "deadline"


class DeadlineHandlers:
    def __init__(
        self,
        catalog: Catalog,
        clock: Clock,
        warn_threshold_seconds: int | None = None,
        tracing: DeadlineTracing | None = None,
    ) -> None:
        self.catalog, self.calendar, self.clock = catalog, catalog.calendar, clock
        self.warn_threshold_seconds = warn_threshold_seconds
        self.tracing = tracing

    async def on_fact(self, conn: asyncpg.Connection, inbound: Inbound) -> None:
        """Keep every dossier and postal fact of lt.evt.> (our own deadline.* facts are ignored,
        except that an overdue flag becomes a marker span of the dossier's trace)."""
        if inbound.subject == OVERDUE_SUBJECT and self.tracing is not None:
            await self.tracing.overdue(conn, inbound)
            return
        parsed = parse_fact(inbound.subject, inbound.body)
        if isinstance(parsed, Ignored):
            return
        if isinstance(parsed, str):
            log.warning("dead letter on %s: %s", inbound.subject, parsed)
            await dead_letter(conn, SCHEMA, CONSUMER, inbound, parsed)
            notice = envelope_message(
                subjects.dead_letter("deadline"),
                event_id=derived_event_id(inbound.key, 0),
                occurred_at=datetime.now(UTC),
                agency=None,
                dossier_code=None,
                data={"refused_subject": inbound.subject, "reason": parsed},
            )
            await enqueue(conn, SCHEMA, [notice])
            return
        await repository.insert_fact(conn, parsed)

    async def rebuild_touched(self, conn: asyncpg.Connection, applied: Sequence[Inbound]) -> None:
        """Once per batch: rebuild the timeline of every dossier whose facts it brought, all of them
        in one savepoint with a few statements for the whole set; should that fail, each dossier
        again in its own savepoint, so that one dossier's failure neither loses the batch nor
        blocks it."""
        codes = sorted({f.dossier_code for i in applied if isinstance(f := parse_fact(i.subject, i.body), Fact)})
        if not codes:
            return
        mark = after_commit_mark()
        try:
            async with conn.transaction():
                await self.rebuild_many(conn, codes)
            return
        except TRANSIENT_ERRORS:
            raise
        except Exception:
            drop_after_commit(mark)
            if len(codes) == 1:
                log.exception("deadline: could not rebuild the timeline of %s; its facts are kept", codes[0])
                return
            log.warning("deadline: rebuilding %d timelines together failed; one by one now", len(codes))
        for code in codes:
            try:
                async with conn.transaction():
                    await self.rebuild_many(conn, [code])
            except TRANSIENT_ERRORS:
                raise
            except Exception:
                log.exception("deadline: could not rebuild the timeline of %s; its facts are kept", code)

    async def rebuild_many(self, conn: asyncpg.Connection, codes: Sequence[str]) -> None:
        """Rebuild the timelines, summaries, timers and spans of the dossiers (sorted codes), with a few
        statements for them all; a dossier whose facts are ahead of its receipt waits for it."""
        await repository.lock_dossiers(conn, codes)
        facts = await repository.load_facts_of(conn, codes)
        timelines = [t for code in codes if (t := build_timeline(facts[code], self.calendar)) is not None]
        if not timelines:
            return
        await repository.save_timelines(conn, timelines)
        plans = [(t.code, plan_timers(t, self.calendar, self.warn_threshold_seconds)) for t in timelines]
        await repository.replace_timers_of(conn, plans)
        if self.tracing is not None:  # last: the spans it claims are emitted once this commits
            await self.tracing.closed_many(conn, timelines)

    async def rpc_explain(self, conn: asyncpg.Connection, body: bytes) -> dict:
        """`lt.rpc.deadline.explain` {"dossier_code"}: the dossier's timeline, verdicts and blame."""
        obj, problem = decode_body(body)
        if problem or obj is None:
            return {"ok": False, "error": problem}
        code = obj.get("dossier_code")
        if not isinstance(code, str) or not code:
            return {"ok": False, "error": f"dossier_code: expected a dossier code string, got {code!r}"}
        facts = await repository.load_facts(conn, code)
        if not facts:
            return {
                "ok": False,
                "error": f"unknown dossier '{code}': no fact about it has reached the deadline service",
            }
        timeline = build_timeline(facts, self.calendar)
        if timeline is None:
            return {"ok": False, "error": f"dossier '{code}': its receipt (dossier.received) has not arrived yet"}
        return {"ok": True, "explanation": explanation(timeline, self.catalog)}

    async def rpc_report(self, conn: asyncpg.Connection, body: bytes) -> dict:
        """`lt.rpc.deadline.report` {"from", "to", "procedure", "agency"}: on-time and lateness figures."""
        obj, problem = decode_body(body or b"{}")
        if problem or obj is None:
            return {"ok": False, "error": problem}
        request = parse_report_request(obj)
        if isinstance(request, str):
            return {"ok": False, "error": request}
        now = self.clock.now()
        counts = await queries.verdict_counts(conn, request, now)
        late = await queries.lateness(conn, request)
        journeys = await queries.end_to_end(conn, request)
        return {"ok": True, "report": report_json(request, now, counts, late, self.catalog, journeys)}
