"""Spans with given ids and times, through the OpenTelemetry SDK's own pipeline.

The SDK picks span (and root trace) ids from its provider's `IdGenerator`; ours hands out the ids
of the spec being started and random ids otherwise. So a dossier span is an ordinary SDK span
(sampler, resource, span processors and exporters as the OTEL_* variables set them), started and
ended at explicit business times, with the ids derived from the dossier code.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping
from datetime import UTC, datetime

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from shared.tracing.spec import SpanSpec, validate

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def nanos(t: datetime) -> int:
    """Exact nanoseconds since the epoch (no float rounding)."""
    delta = t - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


class DeterministicIds(IdGenerator):
    """Random ids, except for the span being started inside `fixed(trace_id, span_id)`."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._random = RandomIdGenerator()

    @contextlib.contextmanager
    def fixed(self, trace_id: int, span_id: int) -> Iterator[None]:
        self._local.ids = (trace_id, span_id)
        try:
            yield
        finally:
            self._local.ids = None

    def generate_span_id(self) -> int:
        ids = getattr(self._local, "ids", None)
        return ids[1] if ids else self._random.generate_span_id()

    def generate_trace_id(self) -> int:
        ids = getattr(self._local, "ids", None)
        return ids[0] if ids else self._random.generate_trace_id()


class LienthongTracerProvider(TracerProvider):
    """The SDK provider, plus whether anything exports (when nothing does, no span is built)."""

    def __init__(self, *, resource, exporting: bool = False) -> None:
        self.ids = DeterministicIds()
        super().__init__(resource=resource, id_generator=self.ids)
        self.exporting = exporting
        self.processors: tuple = ()  # those added, in order: the message spans' fast path ends spans there

    def add_span_processor(self, span_processor) -> None:
        super().add_span_processor(span_processor)
        self.processors = (*self.processors, span_processor)


class SpanEmitter:
    """Turns span specs into SDK spans with the specs' ids, parents and business times."""

    def __init__(self, provider: TracerProvider, vocabularies: Mapping[str, Collection[str]] | None = None) -> None:
        self.provider, self.vocabularies = provider, vocabularies
        self.enabled = isinstance(provider, LienthongTracerProvider) and provider.exporting
        self._tracer = provider.get_tracer("lienthong.dossier")

    def emit(self, specs: Iterable[SpanSpec], *, validated: bool = False) -> int:
        """Send the specs (each validated first, unless the caller already did: `validated`);
        returns how many were sent."""
        if not self.enabled:
            return 0
        assert isinstance(self.provider, LienthongTracerProvider)
        sent = 0
        for spec in specs:
            if not validated:
                validate(spec, self.vocabularies)
            if spec.parent_id is None:
                context = Context()  # a root, whatever span is current
            else:
                parent = SpanContext(spec.trace_id, spec.parent_id, is_remote=False,
                                     trace_flags=TraceFlags(TraceFlags.SAMPLED))  # fmt: skip
                context = trace.set_span_in_context(NonRecordingSpan(parent), Context())
            with self.provider.ids.fixed(spec.trace_id, spec.span_id):
                span = self._tracer.start_span(
                    spec.name, context=context, kind=SpanKind.INTERNAL, attributes=dict(spec.attributes),
                    start_time=nanos(spec.start),
                )  # fmt: skip
            for event in spec.events:
                span.add_event(event.name, dict(event.attributes), timestamp=nanos(event.at))
            span.end(end_time=nanos(spec.end))
            sent += 1
        return sent
