"""The deadline service's span claims: a key claimed in a committed batch is neither built nor
claimed again; one claimed in a batch that rolled back is claimed again next time."""

from __future__ import annotations

import asyncio

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.deadline.timeline import build_timeline
from services.deadline.tracing_emit import DeadlineTracing
from shared import messaging
from shared.tracing.emit import LienthongTracerProvider
from tests.unit.deadline.common import CALENDAR, CATALOG
from tests.unit.tracing.test_spans import late_at_the_district


class Table:
    """deadline.emitted_spans, as claim_many uses it."""

    def __init__(self) -> None:
        self.rows: set[tuple[str, str]] = set()
        self.asked: list[int] = []

    async def fetch(self, _sql: str, codes: list[str], keys: list[str]) -> list[dict]:
        self.asked.append(len(keys))
        fresh = [(c, k) for c, k in zip(codes, keys, strict=True) if (c, k) not in self.rows]
        self.rows.update(fresh)
        return [{"dossier_code": c, "span_key": k} for c, k in fresh]


def test_claimed_keys_are_remembered_once_committed():
    provider = LienthongTracerProvider(resource=Resource.create({"service.name": "t"}), exporting=True)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing, table = DeadlineTracing(provider, CATALOG), Table()
    timeline = build_timeline(late_at_the_district().facts(), CALENDAR)

    async def batch(commit: bool) -> None:
        token = messaging._after_commit.set([])
        try:
            await tracing.closed_many(table, [timeline])
            pending = messaging._after_commit.get()
            if commit:
                for callback in pending:
                    callback()
        finally:
            messaging._after_commit.reset(token)

    asyncio.run(batch(commit=False))  # rolled back: nothing sent, nothing remembered
    table.rows.clear()  # (the claims rolled back too)
    assert exporter.get_finished_spans() == ()
    asyncio.run(batch(commit=True))
    emitted = len(exporter.get_finished_spans())
    assert emitted > 5 and table.asked == [emitted, emitted]
    asyncio.run(batch(commit=True))  # the same timeline again: nothing to build, claim or send
    assert len(exporter.get_finished_spans()) == emitted and table.asked == [emitted, emitted]
