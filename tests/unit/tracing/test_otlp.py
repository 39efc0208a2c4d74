"""The direct OTLP encoder writes the same ExportTraceServiceRequest as the exporter's own."""

from __future__ import annotations

import json

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import trace_exporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, Status, StatusCode, TraceFlags, TraceState

from services.deadline.timeline import build_timeline
from services.deadline.tracing import dossier_spans
from shared.tracing import messages, otlp
from shared.tracing.attributes import catalog_vocabularies
from shared.tracing.emit import LienthongTracerProvider, SpanEmitter
from tests.unit.deadline.common import CALENDAR, CATALOG
from tests.unit.tracing.test_spans import CODE, late_at_the_district


def finished_spans() -> list:
    resource = Resource.create({"service.name": "deadline", "n": 3, "ratio": 0.5, "on": True, "list": ("a", "b")})
    provider = LienthongTracerProvider(resource=resource, exporting=True)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    SpanEmitter(provider, catalog_vocabularies(CATALOG)).emit(
        dossier_spans(build_timeline(late_at_the_district().facts(), CALENDAR))
    )
    messages.use(provider)
    try:
        body = json.dumps({"event_id": "e", "dossier_code": CODE}).encode()
        for outcome in ("applied", "dead_letter", "retry"):
            messages.end(messages.start("deadline", "lt.evt.dossier.routed", body, 3), outcome)
        messages.end(messages.start("x", "not a subject", b"{}", 1), "transient_failure")
    finally:
        messages.use(None)
    # and what our spans never carry: a trace state, a status message, link attributes, other kinds
    other = TracerProvider(resource=Resource.create({"service.name": "other"}))
    other.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = other.get_tracer("scope", "1.2", schema_url="https://x/s", attributes={"a": 1})
    linked = SpanContext(5, 6, is_remote=False, trace_flags=TraceFlags(1), trace_state=TraceState([("k", "v")]))
    with tracer.start_as_current_span("outer", links=[Link(linked, {"why": "test", "big": -(2**40)})]) as outer:
        outer.set_status(Status(StatusCode.ERROR, "broken"))
        outer.add_event("ev", {"x": [1.5, 2.5]})
        with tracer.start_as_current_span("inner", attributes={"neg": -1, "flags": (True, False)}):
            pass
    return list(exporter.get_finished_spans())


def test_the_direct_encoding_parses_as_the_stock_one():
    spans = finished_spans()
    assert len(spans) > 10
    mine = ExportTraceServiceRequest.FromString(otlp.encode(spans))
    assert mine == encode_spans(spans)
    assert otlp.encode([]) == encode_spans([]).SerializeToString() == b""


def test_the_exporter_uses_it_and_falls_back_for_what_it_cannot_encode():
    stock = trace_exporter.encode_spans
    try:
        assert otlp.install() and otlp.install()
        spans = finished_spans()
        assert trace_exporter.encode_spans(spans).SerializePartialToString() == otlp.encode(spans)
        odd = spans[0]
        odd._attributes = {"bytes": b"\x00"}
        assert trace_exporter.encode_spans([odd]) == encode_spans([odd])
    finally:
        trace_exporter.encode_spans = stock
