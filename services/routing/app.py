"""Composition root of the routing service."""

from __future__ import annotations

from pathlib import Path

from services.routing.handlers import SCHEMA, RoutingHandlers
from shared.contracts import subjects
from shared.service import ServiceRuntime
from shared.settings import Settings


def build_runtime(settings: Settings | None = None) -> ServiceRuntime:
    runtime = ServiceRuntime("routing", SCHEMA, Path(__file__).with_name("migrations"), settings)
    handlers = RoutingHandlers(runtime.catalog, runtime.clock)
    runtime.batch_consumer(subjects.fact("dossier", "received"), "LT_EVT", "routing-received", handlers.on_received)
    runtime.batch_consumer(subjects.IN_AGENCY_ALL, "LT_IN", "routing", handlers.on_agency_action)
    runtime.batch_consumer(
        subjects.fact("postal", "shipment_updated"), "LT_EVT", "routing-postal", handlers.on_shipment
    )
    return runtime
