"""Composition root of the deadline service."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from faststream.nats.annotations import NatsMessage

from services.deadline import eventlog, ops
from services.deadline.handlers import CONSUMER, SCHEMA, DeadlineHandlers
from services.deadline.scheduler import Scheduler
from services.deadline.tracing_emit import DeadlineTracing
from shared.catchup import wait_caught_up
from shared.contracts import subjects
from shared.service import ServiceRuntime
from shared.settings import Settings

log = logging.getLogger(__name__)
WARN_SETTING = "LIENTHONG_WARN_WORKING_HOURS"
# How long a simulated tick waits for the facts published before it (see scheduler.Scheduler).
TICK_CATCH_UP_SECONDS = 2.0


def warn_threshold_seconds(environ: Mapping[str, str]) -> int | None:
    """LIENTHONG_WARN_WORKING_HOURS: working hours before a stage's due time when its agency is
    warned; unset means one working day (the office hours of the due day)."""
    raw = environ.get(WARN_SETTING, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{WARN_SETTING} must be a number of working hours, not {raw!r}") from None
    if not 0 <= value < 10_000:
        raise ValueError(f"{WARN_SETTING} must be between 0 and 10000 working hours, not {raw!r}")
    return round(value * 3600)


def build_runtime(settings: Settings | None = None) -> ServiceRuntime:
    runtime = ServiceRuntime("deadline", SCHEMA, Path(__file__).with_name("migrations"), settings)
    tracing = DeadlineTracing(runtime.tracer_provider, runtime.catalog)
    handlers = DeadlineHandlers(runtime.catalog, runtime.clock, warn_threshold_seconds(os.environ), tracing)

    async def facts_applied() -> bool:
        assert runtime.js is not None
        return await wait_caught_up(runtime.js, "LT_EVT", CONSUMER, TICK_CATCH_UP_SECONDS)

    scheduler = Scheduler(runtime.catalog.calendar, runtime.clock, caught_up=facts_applied)
    runtime.batch_consumer(subjects.EVT_ALL, "LT_EVT", CONSUMER, handlers.on_fact, finish=handlers.rebuild_touched)

    async def sweeper(rt: ServiceRuntime) -> None:
        assert rt.pool is not None
        await scheduler.run(rt.pool)

    async def on_tick() -> None:
        assert runtime.pool is not None
        try:
            await scheduler.on_tick(runtime.pool)
        except Exception as exc:  # the background sweep catches up; a tick must not kill the subscription
            log.warning("deadline: sweep on clock tick failed (%s: %s)", type(exc).__name__, exc)

    runtime.background(sweeper)
    runtime.on_clock_tick(on_tick)

    @runtime.broker.subscriber(
        subjects.RPC_DEADLINE_EXPLAIN, queue="deadline", description=handlers.rpc_explain.__doc__
    )
    async def rpc_explain(msg: NatsMessage) -> dict:
        assert runtime.pool is not None
        async with runtime.pool.acquire() as conn:
            return await handlers.rpc_explain(conn, msg.body)

    @runtime.broker.subscriber(subjects.RPC_DEADLINE_REPORT, queue="deadline", description=handlers.rpc_report.__doc__)
    async def rpc_report(msg: NatsMessage) -> dict:
        assert runtime.pool is not None
        async with runtime.pool.acquire() as conn:
            return await handlers.rpc_report(conn, msg.body)

    ops.register(runtime, ops.OpsHandlers(runtime.catalog, runtime.clock))
    eventlog.register(runtime, runtime.catalog)
    return runtime
