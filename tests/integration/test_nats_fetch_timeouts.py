"""shared.nats_compat: a pull fetch that runs out of time says so with nats' own TimeoutError,
the only one FastStream's batch loop stops on (otherwise it drops the messages it fetched)."""

from __future__ import annotations

import uuid

import nats
import nats.errors
import pytest

from shared import nats_compat

pytestmark = pytest.mark.integration


async def test_every_fetch_timeout_is_a_nats_timeout_error(nats_url: str):
    nats_compat.install()
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    stream = f"FETCH_TIMEOUTS_{uuid.uuid4().hex[:8].upper()}"
    await js.add_stream(name=stream, subjects=[f"fetch.{stream}"])
    try:
        sub = await js.pull_subscribe(f"fetch.{stream}", durable="probe", stream=stream)
        outcomes = []
        # A deadline this short runs out between nats-py's no-wait probe and its lingering
        # request most of the time: without the fix, most of these raise a bare TimeoutError.
        for _ in range(60):
            try:
                outcomes.append(len(await sub.fetch(batch=10, timeout=0.0003)))
            except nats.errors.TimeoutError:
                outcomes.append("nats timeout")
            except TimeoutError:
                outcomes.append("bare timeout")
        assert "bare timeout" not in outcomes
        assert "nats timeout" in outcomes
    finally:
        await js.delete_stream(stream)
        await nc.close()
