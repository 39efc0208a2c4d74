"""A real OTLP/HTTP receiver for tests: the services export to it exactly as they would to a
collector (`OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:<port>`), and the tests read what
arrived, decoded with opentelemetry-proto, plus every raw request body (for the PII scan).

Endpoints: POST /v1/traces (ExportTraceServiceRequest, decoded into `ReceivedSpan`s), /v1/logs
and /v1/metrics (kept raw, and decoded to check they parse). Bodies may be gzip- or
deflate-compressed (OTEL_EXPORTER_OTLP_COMPRESSION); both the bytes on the wire and the
decompressed ones are kept. Only `application/x-protobuf` is accepted, as OTLP/HTTP's binary
encoding; anything else gets 415 and is kept too, so a test can see it was tried.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

SIGNALS = {
    "/v1/traces": (ExportTraceServiceRequest, ExportTraceServiceResponse),
    "/v1/logs": (ExportLogsServiceRequest, ExportLogsServiceResponse),
    "/v1/metrics": (ExportMetricsServiceRequest, ExportMetricsServiceResponse),
}


def any_value(value: AnyValue) -> Any:
    """An OTLP AnyValue as a plain Python value."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def attributes(kvs) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in kvs}


@dataclass(frozen=True)
class ReceivedLink:
    trace_id: str
    span_id: str
    attributes: dict[str, Any]


@dataclass(frozen=True)
class ReceivedEvent:
    name: str
    time_unix_nano: int
    attributes: dict[str, Any]


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    scope: str
    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits
    parent_span_id: str  # "" for a root
    name: str
    kind: int
    start_time_unix_nano: int
    end_time_unix_nano: int
    attributes: dict[str, Any]
    events: tuple[ReceivedEvent, ...]
    links: tuple[ReceivedLink, ...]
    status_code: int
    request_seq: int  # which export request brought it (1, 2, ... in arrival order)
    received_at: float  # time.monotonic() of its arrival


@dataclass(frozen=True)
class RawRequest:
    path: str
    content_type: str
    content_encoding: str
    wire: bytes  # as received
    body: bytes  # decompressed
    status: int
    seq: int


@dataclass
class OtlpReceiver:
    host: str = "127.0.0.1"
    port: int = 0
    spans: list[ReceivedSpan] = field(default_factory=list)
    requests: list[RawRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        """The value for OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends /v1/traces etc.)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> OtlpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # http.server names it so
                length = int(self.headers.get("Content-Length") or 0)
                wire = self.rfile.read(length)
                status, reply = receiver._accept(
                    self.path.split("?", 1)[0],
                    self.headers.get("Content-Type", ""),
                    self.headers.get("Content-Encoding", ""),
                    wire,
                )
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args) -> None:  # keep the test output clean
                pass

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="otlp-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- decoding ------------------------------------------------------------------------------

    def _accept(self, path: str, content_type: str, encoding: str, wire: bytes) -> tuple[int, bytes]:
        with self._lock:
            seq = len(self.requests) + 1
        signal = SIGNALS.get(path)
        body, status = wire, 200
        try:
            if encoding == "gzip":
                body = gzip.decompress(wire)
            elif encoding == "deflate":
                body = zlib.decompress(wire)
        except (OSError, zlib.error):
            status = 400
        if signal is None:
            status = 404
        elif content_type.split(";")[0].strip() != "application/x-protobuf":
            status = 415
        decoded = None
        if status == 200:
            request_type, _ = signal
            try:
                decoded = request_type.FromString(body)
            except Exception:  # a body that does not parse is the exporter's bug: let the test see it
                status = 400
        spans = self._spans_of(decoded, seq) if path == "/v1/traces" and decoded is not None else []
        with self._lock:
            self.requests.append(RawRequest(path, content_type, encoding, wire, body, status, seq))
            self.spans.extend(spans)
        if status != 200:
            return status, b""
        return status, signal[1]().SerializeToString()

    @staticmethod
    def _spans_of(request: ExportTraceServiceRequest, seq: int) -> list[ReceivedSpan]:
        now = time.monotonic()
        out = []
        for resource_spans in request.resource_spans:
            service = str(attributes(resource_spans.resource.attributes).get("service.name", ""))
            for scope_spans in resource_spans.scope_spans:
                for s in scope_spans.spans:
                    out.append(
                        ReceivedSpan(
                            service=service,
                            scope=scope_spans.scope.name,
                            trace_id=s.trace_id.hex(),
                            span_id=s.span_id.hex(),
                            parent_span_id=s.parent_span_id.hex(),
                            name=s.name,
                            kind=s.kind,
                            start_time_unix_nano=s.start_time_unix_nano,
                            end_time_unix_nano=s.end_time_unix_nano,
                            attributes=attributes(s.attributes),
                            events=tuple(
                                ReceivedEvent(e.name, e.time_unix_nano, attributes(e.attributes)) for e in s.events
                            ),
                            links=tuple(
                                ReceivedLink(lk.trace_id.hex(), lk.span_id.hex(), attributes(lk.attributes))
                                for lk in s.links
                            ),
                            status_code=s.status.code,
                            request_seq=seq,
                            received_at=now,
                        )
                    )
        return out

    # -- reading ---------------------------------------------------------------------------------

    def snapshot(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self.spans)

    def raw(self) -> list[RawRequest]:
        with self._lock:
            return list(self.requests)

    def of_trace(self, trace_id: str) -> list[ReceivedSpan]:
        return [s for s in self.snapshot() if s.trace_id == trace_id]

    def wait_for(self, predicate: Callable[[list[ReceivedSpan]], Any], timeout: float = 15.0) -> Any:
        """Poll (blocking) until `predicate(spans)` is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            found = predicate(self.snapshot())
            if found:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError("the OTLP receiver did not get the expected spans in time")
            time.sleep(0.05)

    async def until(self, predicate: Callable[[list[ReceivedSpan]], Any], timeout: float = 15.0) -> Any:
        """`wait_for` for async tests (polls without blocking the event loop)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = predicate(self.snapshot())
            if found:
                return found
            if loop.time() > deadline:
                raise TimeoutError("the OTLP receiver did not get the expected spans in time")
            await asyncio.sleep(0.05)


def strings_of(spans: list[ReceivedSpan]) -> Iterator[str]:
    """Every string a decoded span carries: names, attribute keys and values, events, links."""

    def walk(value: Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, bytes):
            yield value.decode("utf-8", errors="replace")
        elif isinstance(value, dict):
            for k, v in value.items():
                yield k
                yield from walk(v)
        elif isinstance(value, list | tuple):
            for v in value:
                yield from walk(v)
        elif value is not None:
            yield str(value)

    for s in spans:
        yield s.service
        yield s.scope
        yield s.name
        yield from walk(s.attributes)
        for e in s.events:
            yield e.name
            yield from walk(e.attributes)
        for lk in s.links:
            yield from walk(lk.attributes)
