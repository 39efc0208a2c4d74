"""A light span per consumed message, linked to its dossier's trace.

FastStream's telemetry middleware halves a consumer's throughput (STACK-NOTES.md §4: context
plumbing, propagation and metrics per message, whatever the sampler). Our consumers already take
each message through `shared.messaging.process_batch`, so that is where the span is made: one
SDK span per applied message, started and ended around its handler, with a few registered
attributes and a span link to the dossier's trace (its root span's id is derived from the code),
nothing else. With tracing off (`OTEL_TRACES_EXPORTER=none`, `OTEL_SDK_DISABLED=true`, no
endpoint) `start` returns None at the cost of one attribute read.
"""

from __future__ import annotations

import re

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from shared.tracing import attributes as attrs
from shared.tracing.ids import dossier_trace_id, root_span_id

_tracer: trace.Tracer | None = None
_EMPTY = Context()
_DOSSIER = re.compile(rb'"dossier_code"\s*:\s*"([^"\\]{1,80})"')
_DOSSIER_CODE = re.compile(attrs.DOSSIER_CODE)
_SUBJECT = re.compile(attrs.SUBJECT)


def use(provider) -> None:
    """Make `provider` the one message spans go to (None, or a provider that exports nothing: off)."""
    global _tracer
    _tracer = provider.get_tracer("lienthong.messaging") if getattr(provider, "exporting", False) else None


def dossier_code_of(body: bytes) -> str | None:
    """The envelope's dossier code, when it has the shape of one (a cheap scan, not a JSON parse)."""
    found = _DOSSIER.search(body)
    if found is None:
        return None
    try:
        code = found.group(1).decode("utf-8")
    except UnicodeDecodeError:
        return None
    return code if _DOSSIER_CODE.fullmatch(code) else None


def start(consumer: str, subject: str, body: bytes, batch_size: int):
    """The span of one message being applied, or None with tracing off."""
    tracer = _tracer
    if tracer is None:
        return None
    attributes: dict[str, object] = {
        "messaging.system": "nats",
        "messaging.operation.type": "process",
        "messaging.batch.message_count": batch_size,
    }
    if consumer in attrs.CONSUMERS:
        attributes["messaging.consumer.group.name"] = consumer
    name = "process message"
    if _SUBJECT.fullmatch(subject):
        attributes["messaging.destination.name"] = subject
        name = f"process {subject}"
    links = ()
    code = dossier_code_of(body)
    if code is not None:
        attributes["lienthong.dossier.code"] = code
        dossier = SpanContext(dossier_trace_id(code), root_span_id(code), is_remote=True,
                              trace_flags=TraceFlags(TraceFlags.SAMPLED))  # fmt: skip
        links = (Link(dossier),)
    return tracer.start_span(name, context=_EMPTY, kind=SpanKind.CONSUMER, attributes=attributes, links=links)


def end(span, outcome: str, end_time: int | None = None) -> None:
    """End a message span with its outcome (applied, retry, dead_letter, transient_failure);
    `end_time` (ns since the epoch) when it ended earlier than now."""
    if span is None:
        return
    span.set_attribute("lienthong.message.outcome", outcome)
    if outcome in ("dead_letter", "transient_failure"):
        span.set_status(Status(StatusCode.ERROR))
    span.end(end_time)
