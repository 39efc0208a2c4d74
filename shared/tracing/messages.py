"""A light span per consumed message, linked to its dossier's trace.

FastStream's telemetry middleware halves a consumer's throughput (STACK-NOTES.md §4: context
plumbing, propagation and metrics per message, whatever the sampler). Our consumers already take
each message through `shared.messaging.process_batch`, so that is where the span is made: one
span per applied message, from the start of its handler to its end, with a few registered
attributes and a span link to the dossier's trace (its root span's id is derived from the code),
nothing else. With tracing off (`OTEL_TRACES_EXPORTER=none`, `OTEL_SDK_DISABLED=true`, no
endpoint) `start` returns None at the cost of one attribute read.

The span is built finished: `start` notes the start time and the attributes, `end` makes the SDK's
`ReadableSpan` (the exporters' input) and hands it to the provider's span processors (the
BatchSpanProcessor of setup.py). The provider's sampler (OTEL_TRACES_SAMPLER) still decides.
This skips what a live SDK span costs per message (context, locks, bounded attribute copies,
span-start hooks: 40 µs of the 50 a message span cost to make) for a span that never changes
while it runs and has no child.
"""

from __future__ import annotations

import random
import re
import time
from functools import lru_cache

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from shared.tracing import attributes as attrs
from shared.tracing.ids import dossier_trace_id, root_span_id

_EMPTY = Context()
_SCOPE = InstrumentationScope("lienthong.messaging")
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_ERROR, _UNSET = Status(StatusCode.ERROR), Status(StatusCode.UNSET)
_DOSSIER = re.compile(rb'"dossier_code"\s*:\s*"([^"\\]{1,80})"')
_DOSSIER_CODE = re.compile(attrs.DOSSIER_CODE)
_SUBJECT = re.compile(attrs.SUBJECT)
_provider = None


def use(provider) -> None:
    """Make `provider` the one message spans go to (None, or a provider that exports nothing: off)."""
    global _provider
    _provider = provider if getattr(provider, "exporting", False) else None


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


@lru_cache(maxsize=4096)
def _dossier_link(code: str) -> tuple[Link]:
    """The link to the dossier's root span (cached: a dossier's messages come close together)."""
    return (Link(SpanContext(dossier_trace_id(code), root_span_id(code), is_remote=True, trace_flags=_SAMPLED)),)


class MessageSpan:
    """A message span being timed (what `start` returns and `end` takes)."""

    __slots__ = ("attributes", "links", "name", "provider", "start_time")

    def __init__(self, provider, name: str, attributes: dict, links: tuple, start_time: int) -> None:
        self.provider, self.name, self.attributes, self.links = provider, name, attributes, links
        self.start_time = start_time


def start(consumer: str, subject: str, body: bytes, batch_size: int) -> MessageSpan | None:
    """The span of one message being applied, or None with tracing off."""
    provider = _provider
    if provider is None:
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
    links: tuple = ()
    code = dossier_code_of(body)
    if code is not None:
        attributes["lienthong.dossier.code"] = code
        links = _dossier_link(code)
    return MessageSpan(provider, name, attributes, links, time.time_ns())


def end(span: MessageSpan | None, outcome: str, end_time: int | None = None) -> None:
    """End a message span with its outcome (applied, retry, dead_letter, transient_failure) and
    send it to the span processors; `end_time` (ns since the epoch) when it ended earlier than now."""
    if span is None:
        return
    provider = span.provider
    span.attributes["lienthong.message.outcome"] = outcome
    trace_id = random.getrandbits(128) or 1
    sampling = provider.sampler.should_sample(_EMPTY, trace_id, span.name, SpanKind.CONSUMER, span.attributes,
                                              span.links)  # fmt: skip
    if not sampling.decision.is_sampled():
        return
    context = SpanContext(trace_id, random.getrandbits(64) or 1, is_remote=False, trace_flags=_SAMPLED,
                          trace_state=sampling.trace_state)  # fmt: skip
    finished = ReadableSpan(
        span.name, context, None, provider.resource, span.attributes, (), span.links, SpanKind.CONSUMER,
        status=_ERROR if outcome in ("dead_letter", "transient_failure") else _UNSET,
        start_time=span.start_time, end_time=time.time_ns() if end_time is None else end_time,
        instrumentation_scope=_SCOPE,
    )  # fmt: skip
    provider.finished(finished)
