"""The deadline service's side of the traces: which dossier spans closed in a batch, emitted
after the batch commits.

Inside the batch's transaction, `closed` builds the dossier's spans (services.deadline.tracing),
keeps those not emitted before (deadline.emitted_spans, one row per span key) and hands them to
`shared.messaging.after_commit`: a span is exported only once the state it describes is stored,
and a rolled-back batch emits nothing (its claims roll back too, so a redelivery emits them).
An overdue flag (`lt.evt.deadline.overdue`, our own fact coming back on LT_EVT) becomes a marker
span the same way, unless the facts already stored show that the stage (or dossier) ended by its
due time: a sweep can run while the fact that ended it is still on its way (the clock passed the
due time, the completion was not applied yet), and that flag describes no business lateness.
With tracing off nothing here runs, not even the claim.

A span key, once claimed, is never claimed again: the service remembers (for its most recently
touched dossiers) the keys it saw claimed in a committed batch, and neither builds, validates nor
claims those spans again when the next fact of the dossier rebuilds its timeline.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence

import asyncpg
from pydantic import ValidationError

from services.deadline import repository
from services.deadline.model import Timeline
from services.deadline.timeline import build_timeline
from services.deadline.tracing import dossier_spans, overdue_span
from shared.catalog import Catalog
from shared.contracts import subjects
from shared.contracts.events import DeadlineOverdue, Envelope
from shared.messaging import Inbound, after_commit
from shared.tracing.attributes import catalog_vocabularies
from shared.tracing.emit import SpanEmitter
from shared.tracing.spec import InvalidSpan, SpanSpec, validate

log = logging.getLogger(__name__)
OVERDUE_SUBJECT = subjects.fact("deadline", "overdue")
REMEMBERED_DOSSIERS = 10_000  # whose emitted span keys are kept in memory (a cache: the table decides)


async def claim(conn: asyncpg.Connection, code: str, keys: Sequence[str]) -> set[str]:
    """The keys among `keys` not emitted before, now marked emitted (in the caller's transaction)."""
    if not keys:
        return set()
    rows = await conn.fetch(
        "INSERT INTO deadline.emitted_spans (dossier_code, span_key) SELECT $1, k FROM unnest($2::text[]) AS k "
        "ON CONFLICT DO NOTHING RETURNING span_key",
        code,
        list(keys),
    )
    return {r["span_key"] for r in rows}


async def claim_many(conn: asyncpg.Connection, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """`claim` for the (dossier code, span key) pairs of several dossiers, in one statement."""
    if not keys:
        return set()
    rows = await conn.fetch(
        "INSERT INTO deadline.emitted_spans (dossier_code, span_key) "
        "SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING RETURNING dossier_code, span_key",
        [code for code, _ in keys],
        [key for _, key in keys],
    )
    return {(r["dossier_code"], r["span_key"]) for r in rows}


def ended_by_due_time(timeline: Timeline, flagged: DeadlineOverdue) -> bool:
    """Whether the flagged stage (or the dossier's result) ended at or before the flag's due time."""
    if flagged.scope == "dossier":
        return timeline.result_ready_at is not None and timeline.result_ready_at <= flagged.due_at
    stage = timeline.stage(flagged.stage_index) if flagged.stage_index is not None else None
    return stage is not None and stage.end is not None and stage.end <= flagged.due_at


class DeadlineTracing:
    def __init__(self, provider, catalog: Catalog) -> None:
        self.catalog = catalog
        self.emitter = SpanEmitter(provider, catalog_vocabularies(catalog))
        self.enabled = self.emitter.enabled
        self._emitted: OrderedDict[str, set[str]] = OrderedDict()  # code -> keys claimed (committed)

    def _known(self, code: str) -> set[str] | frozenset[str]:
        keys = self._emitted.get(code)
        if keys is None:
            return frozenset()
        self._emitted.move_to_end(code)
        return keys

    def _remember(self, keys: Sequence[tuple[str, str]]) -> None:
        for code, key in keys:
            known = self._emitted.get(code)
            if known is None:
                known = self._emitted[code] = set()
                if len(self._emitted) > REMEMBERED_DOSSIERS:
                    self._emitted.popitem(last=False)
            known.add(key)

    def _valid(self, specs: Sequence[SpanSpec]) -> list[SpanSpec]:
        valid = []
        for spec in specs:
            try:
                valid.append(validate(spec, self.emitter.vocabularies))
            except InvalidSpan as exc:  # never a reason to lose the timeline; the message names no value
                log.warning("deadline: span not emitted: %s", exc)
        return valid

    async def _emit_new(self, conn: asyncpg.Connection, code: str, specs: Sequence[SpanSpec]) -> None:
        specs = self._valid(specs)
        fresh = await claim(conn, code, [s.key for s in specs])
        self._after_commit([s for s in specs if s.key in fresh], [(code, s.key) for s in specs])

    def _after_commit(self, new: list[SpanSpec], claimed: list[tuple[str, str]]) -> None:
        """Once the batch commits: send the new spans, remember every key claimed (by us or before)."""
        if claimed:
            after_commit(lambda: self._send(new, claimed))

    def _send(self, specs: Sequence[SpanSpec], claimed: Sequence[tuple[str, str]] = ()) -> None:
        self._remember(claimed)
        if specs:
            self.emitter.emit(specs, validated=True)

    async def closed_many(self, conn: asyncpg.Connection, timelines: Sequence[Timeline]) -> None:
        """Emit (after commit) the dossiers' spans that closed since the last time: one claim statement
        for all of them."""
        if not self.enabled:
            return
        specs = [(t.code, spec) for t in timelines for spec in self._valid(dossier_spans(t, self._known(t.code)))]
        keys = list(dict.fromkeys((code, spec.key) for code, spec in specs))
        fresh = await claim_many(conn, keys)
        self._after_commit([spec for code, spec in specs if (code, spec.key) in fresh], keys)

    async def overdue(self, conn: asyncpg.Connection, inbound: Inbound) -> None:
        """Emit (after commit) the marker of a `deadline.overdue` fact."""
        if not self.enabled:
            return
        try:
            envelope = Envelope.model_validate_json(inbound.body)
            flagged = DeadlineOverdue.model_validate(envelope.data)
        except ValidationError:
            log.warning("deadline: an unreadable deadline.overdue fact gets no marker span")
            return
        if envelope.dossier_code is None:
            return
        code = envelope.dossier_code
        # Facts are applied in stream order, so every fact published before the flag is stored.
        timeline = build_timeline(await repository.load_facts(conn, code), self.catalog.calendar)
        if timeline is not None and ended_by_due_time(timeline, flagged):
            return
        procedure = timeline.procedure if timeline is not None else None
        agency = self.catalog.agencies.get(flagged.agency)
        spec = overdue_span(code, procedure, flagged, agency.level if agency else None)
        await self._emit_new(conn, code, [spec])
