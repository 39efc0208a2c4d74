"""Tracing set up from the standard OTEL_* variables (the SDK reads them itself)."""

from __future__ import annotations

import os

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter


def setup_tracing(service_name: str) -> TracerProvider:
    """A provider for `service_name`. Spans are exported by OTLP/HTTP when `OTEL_TRACES_EXPORTER`
    is `otlp` (the default once an OTLP endpoint is configured), to the console with `console`,
    and nowhere with `none` or when no endpoint is set."""
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service_name)})
    provider = TracerProvider(resource=resource)
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return provider
    endpoint_set = any(os.environ.get(v) for v in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
    exporters = os.environ.get("OTEL_TRACES_EXPORTER", "otlp" if endpoint_set else "none")
    for name in (e.strip() for e in exporters.split(",")):
        if name == "otlp" and endpoint_set:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        elif name == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    return provider
