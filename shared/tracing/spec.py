"""Spans as plain values: what the span builders produce and the emitter sends. Pure.

A `SpanSpec` names its trace, its own id and its parent's, its business-time start and end and
its attributes. `validate` refuses a spec whose name, attributes or times do not fit (see
`shared.tracing.attributes`), so nothing unregistered can reach an exporter.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from shared.tracing import attributes as attrs
from shared.tracing.attributes import AttributeValue


@dataclass(frozen=True)
class SpanEvent:
    name: str
    at: datetime
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)


@dataclass(frozen=True)
class SpanSpec:
    key: str  # what the span is, within its dossier ("stage:2:handoff"): its id derives from it
    name: str
    trace_id: int
    span_id: int
    parent_id: int | None
    start: datetime
    end: datetime
    attributes: Mapping[str, AttributeValue]
    events: tuple[SpanEvent, ...] = ()


class InvalidSpan(ValueError):
    pass


def validate(spec: SpanSpec, vocabularies: Mapping[str, Collection[str]] | None = None) -> SpanSpec:
    """The spec itself, once its name, attributes, events and times are checked."""
    if attrs.SPAN_NAME.fullmatch(spec.name) is None:
        raise InvalidSpan(f"span {spec.key}: name {spec.name!r} is not a registered span name")
    if spec.start.tzinfo is None or spec.end.tzinfo is None:
        raise InvalidSpan(f"span {spec.key}: business times must carry their UTC offset")
    if spec.end < spec.start:
        raise InvalidSpan(f"span {spec.key}: ends at {spec.end.isoformat()} before it starts")
    if not (0 < spec.trace_id < 2**128 and 0 < spec.span_id < 2**64):
        raise InvalidSpan(f"span {spec.key}: ids out of range")
    try:
        attrs.check(spec.attributes, vocabularies)
        for event in spec.events:
            if event.name not in attrs.EVENT_NAMES:
                raise InvalidSpan(f"span {spec.key}: event {event.name!r} is not registered")
            attrs.check(event.attributes, vocabularies)
    except attrs.UnregisteredAttribute as exc:
        raise InvalidSpan(f"span {spec.key}: {exc}") from None
    return spec
