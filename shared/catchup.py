"""Waiting until a durable consumer has applied everything its stream held at a given moment.

Used by services that act on `lt.sim.clock` ticks: a tick travels on core NATS and overtakes the
facts published just before it, which are still in the stream or in the consumer's current batch.
"""

from __future__ import annotations

import asyncio
import logging

from nats.errors import Error as NatsError
from nats.js import JetStreamContext

log = logging.getLogger(__name__)


async def wait_caught_up(
    js: JetStreamContext, stream: str, durable: str, timeout: float, interval: float = 0.01
) -> bool:
    """True once `durable` has acknowledged every message `stream` held when this was called
    (its ack floor reached the stream's last sequence then); False after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout
    try:
        target = (await js.stream_info(stream)).state.last_seq
        while True:
            consumer = await js.consumer_info(stream, durable)
            if consumer.ack_floor is not None and (consumer.ack_floor.stream_seq or 0) >= target:
                return True
            if loop.time() >= give_up:
                return False
            await asyncio.sleep(interval)
    except (NatsError, TimeoutError) as exc:
        log.warning("could not tell whether %s caught up on %s (%s: %s)", durable, stream, type(exc).__name__, exc)
        return False
