"""Spans with given ids and times, through the OpenTelemetry SDK's own pipeline.

A dossier span is built finished: the SDK's `ReadableSpan` (what span processors and exporters
take) with the spec's ids, parent, attributes, events and business times, handed to the
provider's span processors (the BatchSpanProcessor and exporters the OTEL_* variables set up)
once the provider's sampler (OTEL_TRACES_SAMPLER) keeps it. Nothing goes through a live span:
its context plumbing, locks and attribute copies are of no use for a span whose start, end and
content are all known when it is made.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from shared.tracing.spec import SpanSpec, validate

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_SCOPE = InstrumentationScope("lienthong.dossier")


def nanos(t: datetime) -> int:
    """Exact nanoseconds since the epoch (no float rounding)."""
    delta = t - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


class LienthongTracerProvider(TracerProvider):
    """The SDK provider, plus whether anything exports (when nothing does, no span is built) and
    its span processors (where finished spans are handed)."""

    def __init__(self, *, resource, exporting: bool = False) -> None:
        super().__init__(resource=resource)
        self.exporting = exporting
        self.processors: tuple = ()  # those added, in order

    def add_span_processor(self, span_processor) -> None:
        super().add_span_processor(span_processor)
        self.processors = (*self.processors, span_processor)

    def finished(self, span: ReadableSpan) -> None:
        """Hand a finished span to the span processors (as the SDK does when a span ends)."""
        for processor in self.processors:
            processor.on_end(span)


class SpanEmitter:
    """Turns span specs into SDK spans with the specs' ids, parents and business times."""

    def __init__(self, provider: TracerProvider, vocabularies: Mapping[str, Collection[str]] | None = None) -> None:
        self.provider, self.vocabularies = provider, vocabularies
        self.enabled = isinstance(provider, LienthongTracerProvider) and provider.exporting

    def emit(self, specs: Iterable[SpanSpec], *, validated: bool = False) -> int:
        """Send the specs (each validated first, unless the caller already did: `validated`);
        returns how many were sent."""
        if not self.enabled:
            return 0
        provider = self.provider
        assert isinstance(provider, LienthongTracerProvider)
        sampler, resource, sent = provider.sampler, provider.resource, 0
        for spec in specs:
            if not validated:
                validate(spec, self.vocabularies)
            if spec.parent_id is None:
                parent, context = None, Context()  # a root, whatever span is current
            else:
                parent = SpanContext(spec.trace_id, spec.parent_id, is_remote=False, trace_flags=_SAMPLED)
                context = trace.set_span_in_context(NonRecordingSpan(parent), Context())
            attributes = dict(spec.attributes)
            sampling = sampler.should_sample(context, spec.trace_id, spec.name, SpanKind.INTERNAL, attributes)
            if not sampling.decision.is_sampled():
                continue
            own = SpanContext(spec.trace_id, spec.span_id, is_remote=False, trace_flags=_SAMPLED,
                              trace_state=sampling.trace_state)  # fmt: skip
            events = tuple(Event(e.name, dict(e.attributes), nanos(e.at)) for e in spec.events)
            provider.finished(ReadableSpan(
                spec.name, own, parent, resource, attributes, events, (), SpanKind.INTERNAL,
                start_time=nanos(spec.start), end_time=nanos(spec.end), instrumentation_scope=_SCOPE,
            ))  # fmt: skip
            sent += 1
        return sent
