"""Tracing set up from the standard OTEL_* variables.

Spans are exported by OTLP/HTTP when `OTEL_TRACES_EXPORTER` is `otlp` (the default once an OTLP
endpoint is configured), to the console with `console`, and nowhere with `none`, when no endpoint
is set, or when `OTEL_SDK_DISABLED=true`. When nothing exports, the provider says so
(`exporting`) and no span is built at all: tracing off costs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

from shared.tracing import messages, otlp
from shared.tracing.emit import LienthongTracerProvider


def exporters_from_env(environ: Mapping[str, str]) -> list[str]:
    """The exporters the OTEL_* variables ask for (only those we can run)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    endpoint_set = any(environ.get(v) for v in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
    wanted = environ.get("OTEL_TRACES_EXPORTER", "otlp" if endpoint_set else "none")
    names = [e.strip() for e in wanted.split(",") if e.strip()]
    return [n for n in names if (n == "otlp" and endpoint_set) or n == "console"]


def setup_tracing(service_name: str, environ: Mapping[str, str] | None = None) -> LienthongTracerProvider:
    """A provider for `service_name`; it also becomes the one the per-message spans use."""
    environ = os.environ if environ is None else environ
    resource = Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME", service_name)})
    exporters = exporters_from_env(environ)
    provider = LienthongTracerProvider(resource=resource, exporting=bool(exporters))
    for name in exporters:
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            otlp.install()  # the same bytes, a quarter of the CPU (shared/tracing/otlp.py)
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        elif name == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    messages.use(provider)
    return provider
