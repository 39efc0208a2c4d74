"""Run a service in-process for integration tests, with its real NATS and PostgreSQL connections."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.support import poll_until

CATALOGS = Path(__file__).with_name("catalogs")


def settings_for(nats_url: str, database_url: str, catalog: str = "basic.yaml", clock: str = "system") -> Settings:
    return Settings(
        nats_url=nats_url, database_url=database_url, catalog_path=str(CATALOGS / catalog), clock=clock, batch_size=50
    )


@contextlib.asynccontextmanager
async def running(build: Callable[[Settings], ServiceRuntime], settings: Settings) -> AsyncIterator[ServiceRuntime]:
    runtime = build(settings)
    task = asyncio.create_task(runtime.app.run(), name=f"{runtime.name}-app")
    try:
        await poll_until(
            lambda: (runtime.relay is not None and runtime.broker._connection is not None) or task.done(),
            timeout=15,
            message=f"{runtime.name} to start",
        )
        if task.done():
            task.result()
        await asyncio.sleep(0.3)  # subscribers start right after the lifespan
        yield runtime
    finally:
        runtime.app.exit()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 15)
