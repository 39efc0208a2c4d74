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


async def test_a_stopping_service_gives_back_what_it_fetched_but_did_not_settle(nats_url: str):
    """release_unsettled naks what a fetch returned and nobody acked: the server redelivers it at
    once to the next fetch, instead of after the consumer's ack_wait (a minute here)."""
    nats_compat.install()
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    stream = f"GIVE_BACK_{uuid.uuid4().hex[:8].upper()}"
    await js.add_stream(name=stream, subjects=[f"give.{stream}"])
    try:
        for n in range(3):
            await js.publish(f"give.{stream}", str(n).encode())
        config = nats.js.api.ConsumerConfig(ack_wait=60)
        stopping = await js.pull_subscribe(f"give.{stream}", durable="probe", stream=stream, config=config)
        fetched = await stopping.fetch(batch=3, timeout=2)
        await fetched[0].ack()  # handled; the other two are in hand when the service stops
        assert await nats_compat.release_unsettled(stopping) == 2
        assert await nats_compat.release_unsettled(stopping) == 0  # nothing twice
        await stopping.unsubscribe()
        next_instance = await js.pull_subscribe(f"give.{stream}", durable="probe", stream=stream, config=config)
        again = await next_instance.fetch(batch=3, timeout=2)
        assert sorted(m.data for m in again) == [b"1", b"2"]
        assert all(m.metadata.num_delivered == 2 for m in again)
    finally:
        await js.delete_stream(stream)
        await nc.close()
