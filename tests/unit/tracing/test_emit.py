"""The emitter and the message spans through the real SDK pipeline (an in-memory exporter here;
tests/e2e/test_traces.py reads them back through a real OTLP/HTTP export)."""

from __future__ import annotations

import json

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from services.deadline.timeline import build_timeline
from services.deadline.tracing import dossier_spans
from shared.tracing import messages
from shared.tracing.attributes import catalog_vocabularies
from shared.tracing.emit import LienthongTracerProvider, SpanEmitter, nanos
from shared.tracing.ids import dossier_trace_id, root_span_id
from shared.tracing.setup import exporters_from_env, setup_tracing
from tests.unit.deadline.common import CALENDAR, CATALOG, vn
from tests.unit.tracing.test_spans import CODE, late_at_the_district


def provider_with_memory(exporting: bool = True) -> tuple[LienthongTracerProvider, InMemorySpanExporter]:
    provider = LienthongTracerProvider(resource=Resource.create({"service.name": "test"}), exporting=exporting)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def test_specs_become_sdk_spans_with_their_ids_parents_and_business_times():
    provider, exporter = provider_with_memory()
    specs = dossier_spans(build_timeline(late_at_the_district().facts(), CALENDAR))
    assert SpanEmitter(provider, catalog_vocabularies(CATALOG)).emit(specs) == len(specs)
    finished = {s.context.span_id: s for s in exporter.get_finished_spans()}
    assert len(finished) == len(specs)
    for spec in specs:
        span = finished[spec.span_id]
        assert span.context.trace_id == dossier_trace_id(CODE)
        assert (span.parent.span_id if span.parent else None) == spec.parent_id
        assert (span.start_time, span.end_time) == (nanos(spec.start), nanos(spec.end))
        assert dict(span.attributes) == dict(spec.attributes)
    assert nanos(vn(2026, 3, 2, 8)) == 1772413200 * 10**9


def test_nothing_is_built_when_nothing_exports():
    provider, exporter = provider_with_memory(exporting=False)
    specs = dossier_spans(build_timeline(late_at_the_district().facts(), CALENDAR))
    assert SpanEmitter(provider).emit(specs) == 0
    assert exporter.get_finished_spans() == ()


def test_the_standard_variables_switch_tracing():
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    assert exporters_from_env(endpoint) == ["otlp"]
    assert exporters_from_env({**endpoint, "OTEL_TRACES_EXPORTER": "none"}) == []
    assert exporters_from_env({**endpoint, "OTEL_SDK_DISABLED": "true"}) == []
    assert exporters_from_env({}) == []
    assert setup_tracing("t", {"OTEL_TRACES_EXPORTER": "none"}).exporting is False
    assert messages.start("deadline", "lt.evt.dossier.routed", b"{}", 1) is None


def test_a_message_span_links_to_its_dossiers_trace():
    provider, exporter = provider_with_memory()
    messages.use(provider)
    try:
        body = json.dumps({"event_id": "e", "dossier_code": CODE, "data": {"applicant": {"full_name": "Ng"}}}).encode()
        span = messages.start("deadline", "lt.evt.dossier.routed", body, 7)
        messages.end(span, "applied")
        unknown = messages.start("somebody", "lt.in.agency.0905123456.x", b'{"dossier_code": "Nguyen"}', 1)
        messages.end(unknown, "dead_letter")
    finally:
        messages.use(None)
    first, second = exporter.get_finished_spans()
    assert first.name == "process lt.evt.dossier.routed" and first.kind == SpanKind.CONSUMER
    assert dict(first.attributes) == {
        "messaging.system": "nats",
        "messaging.operation.type": "process",
        "messaging.batch.message_count": 7,
        "messaging.consumer.group.name": "deadline",
        "messaging.destination.name": "lt.evt.dossier.routed",
        "lienthong.dossier.code": CODE,
        "lienthong.message.outcome": "applied",
    }
    [link] = first.links
    assert (link.context.trace_id, link.context.span_id) == (dossier_trace_id(CODE), root_span_id(CODE))
    assert second.name == "process message" and not second.links  # nothing that does not fit is sent
    assert set(second.attributes) == {"messaging.system", "messaging.operation.type", "messaging.batch.message_count",
                                      "lienthong.message.outcome"}  # fmt: skip
