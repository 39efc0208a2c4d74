"""Composition root of the postal-delivery service."""

from __future__ import annotations

from pathlib import Path

from services.postal.dispatcher import run_dispatcher
from services.postal.handlers import SCHEMA, PostalHandlers
from services.postal.reconcile import resend_lost_delivery_orders
from shared.contracts import subjects
from shared.service import ServiceRuntime
from shared.settings import Settings


def build_runtime(settings: Settings | None = None, max_attempts: int | None = None) -> ServiceRuntime:
    runtime = ServiceRuntime("postal", SCHEMA, Path(__file__).with_name("migrations"), settings)
    handlers = PostalHandlers(runtime.catalog, runtime.clock, max_attempts)

    async def remember_js(_conn) -> None:
        handlers.js, handlers.pool = runtime.js, runtime.pool

    runtime.on_nats_ready(remember_js)
    runtime.batch_consumer(subjects.EVT_DOSSIER_ALL, "LT_EVT", "postal", handlers.on_dossier_fact)
    runtime.batch_consumer(subjects.IN_POSTAL_ALL, "LT_IN", "postal-in", handlers.on_status)
    runtime.batch_consumer("lt.in.agency.*.pickup_requested", "LT_IN", "postal-pickup", handlers.on_pickup_requested)
    runtime.background(run_dispatcher)
    runtime.on_reconcile(resend_lost_delivery_orders)
    return runtime
