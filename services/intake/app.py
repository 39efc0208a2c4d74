"""Composition root of the intake service."""

from __future__ import annotations

from pathlib import Path

from faststream.nats.annotations import NatsMessage

from services.intake.handlers import CONSUMER, SCHEMA, IntakeHandlers
from shared.contracts import subjects
from shared.service import ServiceRuntime
from shared.settings import Settings


def build_runtime(settings: Settings | None = None) -> ServiceRuntime:
    runtime = ServiceRuntime("intake", SCHEMA, Path(__file__).with_name("migrations"), settings)
    handlers = IntakeHandlers(runtime.catalog, runtime.clock)
    runtime.on_database_ready(handlers.start)
    runtime.batch_consumer(subjects.IN_AGENCY_SUBMITTED, "LT_IN", CONSUMER, handlers.on_submitted)

    @runtime.broker.subscriber(subjects.RPC_INTAKE_SUBMIT, queue="intake", description=handlers.rpc_submit.__doc__)
    async def rpc_submit(msg: NatsMessage) -> dict:
        assert runtime.pool is not None
        async with runtime.pool.acquire() as conn:
            return await handlers.rpc_submit(conn, msg.body)

    @runtime.broker.subscriber(
        f"{subjects.RPC_INTAKE_SUBMIT}.*", queue="intake", description=handlers.rpc_submit.__doc__
    )
    async def rpc_submit_as_agency(msg: NatsMessage) -> dict:
        assert runtime.pool is not None
        async with runtime.pool.acquire() as conn:
            return await handlers.rpc_submit(conn, msg.body, caller_token=msg.raw_message.subject.rsplit(".", 1)[-1])

    @runtime.broker.subscriber(
        subjects.RPC_INTAKE_DELIVERY_ADDRESS, queue="intake", description=handlers.rpc_delivery_address.__doc__
    )
    async def rpc_delivery_address(msg: NatsMessage) -> dict:
        assert runtime.pool is not None
        async with runtime.pool.acquire() as conn:
            return await handlers.rpc_delivery_address(conn, msg.body)

    return runtime
