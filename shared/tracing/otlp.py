"""OTLP/protobuf encoding of finished spans, written directly in the wire format.

The OTLP/HTTP exporter turns each batch of spans into an `ExportTraceServiceRequest` by building
a protobuf object per span, attribute and link, and hashes every span's resource (a JSON dump of
its attributes) to group them: 60 µs a span, more than making it. `encode` (15 µs a span)
writes the same message's bytes straight from the SDK's `ReadableSpan`s (the same fields, the same
values: tests/unit/tracing/test_otlp.py parses both and compares them), and `install` makes the
OTLP/HTTP exporter use it; the exporter keeps everything else (endpoint, headers, compression,
timeouts and retries from the OTEL_* variables). A batch it cannot encode (an attribute value of a
type our spans never carry) goes through the stock encoder instead.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from opentelemetry.trace import SpanKind

_FIXED64 = struct.Struct("<Q").pack
_DOUBLE = struct.Struct("<d").pack
_KIND = {SpanKind.INTERNAL: 1, SpanKind.SERVER: 2, SpanKind.CLIENT: 3, SpanKind.PRODUCER: 4, SpanKind.CONSUMER: 5}
# Span.flags and Link.flags: whether the parent's (the link's) context is remote is known, and is it
HAS_IS_REMOTE, IS_REMOTE = 0x100, 0x200
_CACHE_LIMIT = 4096  # encoded attributes kept (the same key and value recur in every span)


class Unencodable(TypeError):
    pass


def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64  # int64, two's complement
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field (`tag`: its key byte, field number << 3 | 2, all below 16 here)."""
    return bytes((tag,)) + _varint(len(payload)) + payload


def _any_value(value: object) -> bytes:
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, str):
        return _field(0x0A, value.encode("utf-8"))
    if isinstance(value, int):
        if not -(1 << 63) <= value < 1 << 63:
            raise Unencodable("int attribute out of the int64 range")
        return b"\x18" + _varint(value)
    if isinstance(value, float):
        return b"\x21" + _DOUBLE(value)
    if isinstance(value, tuple | list):
        return _field(0x2A, b"".join(_field(0x0A, _any_value(v)) for v in value))  # ArrayValue
    raise Unencodable(f"attribute of type {type(value).__name__}")


_key_values: dict[tuple[int, str, type, object], bytes] = {}


def _attributes(tag: int, attributes) -> list[bytes]:
    """Each attribute as a KeyValue field `tag` (the same ones recur in every span: cached)."""
    if not attributes:
        return []
    out, cache = [], _key_values
    for key, value in attributes.items():
        cache_key = (tag, key, type(value), value)
        try:
            encoded = cache.get(cache_key)
        except TypeError:  # a list value
            cache_key, encoded = None, None
        if encoded is None:
            encoded = _field(tag, _field(0x0A, key.encode("utf-8")) + _field(0x12, _any_value(value)))
            if cache_key is not None:
                if len(cache) >= _CACHE_LIMIT:
                    cache.clear()
                cache[cache_key] = encoded
        out.append(encoded)
    return out


def _trace_state(state) -> bytes:
    return ",".join(f"{k}={v}" for k, v in state.items()).encode("utf-8") if state else b""


def _span(span) -> bytes:
    context, parent = span.context, span.parent
    out = [b"\x0a\x10", context.trace_id.to_bytes(16, "big"), b"\x12\x08", context.span_id.to_bytes(8, "big")]
    state = _trace_state(context.trace_state)
    if state:
        out.append(_field(0x1A, state))
    if parent is not None:
        out += (b"\x22\x08", parent.span_id.to_bytes(8, "big"))
    out += (_field(0x2A, span.name.encode("utf-8")), b"\x30", _varint(_KIND[span.kind]),
            b"\x39", _FIXED64(span.start_time or 0), b"\x41", _FIXED64(span.end_time or 0))  # fmt: skip
    out += _attributes(0x4A, span.attributes)
    if span.dropped_attributes:
        out += (b"\x50", _varint(span.dropped_attributes))
    for event in span.events:
        body = [b"\x09", _FIXED64(event.timestamp), _field(0x12, event.name.encode("utf-8"))]
        body += _attributes(0x1A, event.attributes)
        if event.dropped_attributes:
            body += (b"\x20", _varint(event.dropped_attributes))
        out.append(_field(0x5A, b"".join(body)))
    if span.dropped_events:
        out += (b"\x60", _varint(span.dropped_events))
    for link in span.links:
        linked = link.context
        body = [b"\x0a\x10", linked.trace_id.to_bytes(16, "big"), b"\x12\x08", linked.span_id.to_bytes(8, "big")]
        body += _attributes(0x22, link.attributes)
        if link.dropped_attributes:
            body += (b"\x28", _varint(link.dropped_attributes))
        body += (b"\x35", (HAS_IS_REMOTE | (IS_REMOTE if linked.is_remote else 0)).to_bytes(4, "little"))
        out.append(_field(0x6A, b"".join(body)))
    if span.dropped_links:
        out += (b"\x70", _varint(span.dropped_links))
    status = span.status
    if status is not None:
        body = _field(0x12, status.description.encode("utf-8")) if status.description else b""
        code = status.status_code.value
        out.append(_field(0x7A, body + (b"\x18" + _varint(code) if code else b"")))
    flags = HAS_IS_REMOTE | (IS_REMOTE if parent is not None and parent.is_remote else 0)
    out += (b"\x85\x01", flags.to_bytes(4, "little"))  # field 16, fixed32
    return b"".join(out)


def _resource(resource) -> bytes:
    return b"".join(_attributes(0x0A, resource.attributes))


def _scope(scope) -> bytes:
    if scope is None:
        return b""
    out = [_field(0x0A, scope.name.encode("utf-8")) if scope.name else b""]
    if scope.version:
        out.append(_field(0x12, scope.version.encode("utf-8")))
    out += _attributes(0x1A, scope.attributes)
    return b"".join(out)


def encode(spans: Sequence) -> bytes:
    """The serialized ExportTraceServiceRequest of `spans` (SDK ReadableSpans)."""
    groups: dict[int, tuple[object, dict[int, tuple[object, list[bytes]]]]] = {}
    for span in spans:
        resource, scope = span.resource, span.instrumentation_scope or None
        scopes = groups.setdefault(id(resource), (resource, {}))[1]
        scopes.setdefault(id(scope), (scope, []))[1].append(_field(0x12, _span(span)))
    request = []
    for resource, scopes in groups.values():
        body = [_field(0x0A, _resource(resource))]
        for scope, encoded in scopes.values():
            scope_spans = [_field(0x0A, _scope(scope)), *encoded]
            schema = scope.schema_url if scope is not None else None
            if schema:
                scope_spans.append(_field(0x1A, schema.encode("utf-8")))
            body.append(_field(0x12, b"".join(scope_spans)))
        if resource.schema_url:
            body.append(_field(0x1A, resource.schema_url.encode("utf-8")))
        request.append(_field(0x0A, b"".join(body)))
    return b"".join(request)


class _Encoded:
    """What the exporter expects from its encoder: a message it serializes."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def SerializePartialToString(self) -> bytes:
        return self.data

    SerializeToString = SerializePartialToString


def install() -> bool:
    """Make the OTLP/HTTP span exporter encode with `encode` (falling back to its own encoder for a
    batch `encode` refuses). False when that exporter's module has no encoder to replace."""
    from opentelemetry.exporter.otlp.proto.http import trace_exporter

    stock = getattr(trace_exporter, "encode_spans", None)
    if stock is None or getattr(stock, "lienthong", False):
        return stock is not None

    def encode_spans(spans):
        try:
            return _Encoded(encode(spans))
        except Unencodable:
            return stock(spans)

    encode_spans.lienthong = True  # type: ignore[attr-defined]
    trace_exporter.encode_spans = encode_spans
    return True
