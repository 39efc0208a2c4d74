"""The simulator (shared/sim) made to keep driving while services, NATS and PostgreSQL crash.

Only the driver's transport is hardened, never the scenario: a submission is retried until
intake answers (intake is idempotent per (agency, external_ref)), a publish until JetStream
acknowledges it (same event_id, so the stream's duplicate window and the inboxes absorb a
repeat), and waiting for the services to settle survives a server being away. The post reads
its delivery orders through its durable consumer on LT_OUT (as the real integration does), so
no order is missed while the driver's connection is down. The fault-free run uses this driver
too, so that both runs differ only by the faults.

Faults are injected in a thread while a step is being played: a service is killed while its
batch is in flight, not between steps.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import nats
import nats.errors
import nats.js.errors

from shared.catalog import Catalog
from shared.contracts import subjects
from shared.contracts.streams import OUT_STREAM, POSTAL_READER
from shared.settings import nats_servers
from shared.sim.driver import STEP, SimResult, Simulation, settle
from shared.sim.scenario import SimConfig

log = logging.getLogger(__name__)
RETRYABLE = (nats.errors.Error, TimeoutError, OSError, ConnectionError)
Fault = Callable[[], None]
Busy = Callable[[datetime | None], Awaitable[bool]]  # given the last tick sent


async def _retry(what: str, attempt: Callable[[], Any], patience: float = 300.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    while True:
        try:
            return await attempt()
        except RETRYABLE as exc:
            if loop.time() > deadline:
                raise
            log.info("driver: %s failed (%s: %s), retrying", what, type(exc).__name__, exc)
            await asyncio.sleep(0.3)


class ResilientSimulation(Simulation):
    def __init__(self, nc, catalog: Catalog, config: SimConfig, faults: list[Fault], busy: Busy | None = None) -> None:
        super().__init__(nc, catalog, config, progress=False, run_tag="")
        self.busy = busy
        self.last_tick: datetime | None = None
        self.pending_faults = list(faults)
        self.fault_task: asyncio.Future | None = None
        self.total = len(self.result.scripts)
        self.submitted = 0
        self.orders_seen: set[str] = set()
        self.inbound_ids: set[str] = set()  # events acknowledged by JetStream on LT_IN

    async def run(self) -> SimResult:
        reader = asyncio.create_task(self._read_postal_orders())
        try:
            await self.tick(self.now)
            while self.queue or await self.more_to_come():
                step_end = self.catalog.calendar.next_opening(self.now + STEP)
                while self.queue and self.queue[0].at > step_end:
                    step_end = self.catalog.calendar.next_opening(step_end + STEP)  # an idle hour: skip it
                due = []
                while self.queue and self.queue[0].at <= step_end:
                    due.append(heapq.heappop(self.queue))
                self._maybe_inject()
                await self.play(due)
                await self.tick(step_end)
                self.now = step_end
            if self.fault_task is not None:
                await self.fault_task
            await self.tick(self.now + timedelta(days=1))
            await self.settle()
            await asyncio.sleep(1.0)  # orders published by the last sweep
            await self.settle()
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        return self.result

    def _maybe_inject(self) -> None:
        """Start the next fault in a thread once its share of the dossiers has been submitted."""
        if not self.pending_faults or (self.fault_task is not None and not self.fault_task.done()):
            return
        if self.fault_task is not None:
            self.fault_task.result()  # a failed fault (e.g. a service that did not restart) fails the run
        done = len(self.pending_faults)
        total_faults = done + self._injected
        threshold = (self._injected + 1) / (total_faults + 1)
        if self.submitted >= threshold * self.total:
            fault = self.pending_faults.pop(0)
            self._injected += 1
            self.fault_task = asyncio.ensure_future(asyncio.to_thread(fault))

    _injected = 0

    async def play(self, due: list) -> None:
        """As the simulator's step, but an agency's action and the post's status report never
        share a batch: they reach routing by two pipelines (LT_IN directly, or the postal service
        and LT_EVT), so published together a Sunday delivery could be applied before Friday's
        return hand-off receipt, and routing then refuses the receipt of a closed dossier. Events
        go out in business-time order, settling whenever the sender changes."""
        submissions = [d for d in due if d.kind == "submit"]
        if submissions:
            await super().play(submissions)
        batch: list = []
        for item in sorted(d for d in due if d.kind != "submit"):
            if batch and batch[-1].kind != item.kind:
                await super().play(batch)
                batch = []
            batch.append(item)
        if batch:
            await super().play(batch)

    async def submit(self, script) -> None:
        await _retry("submit", lambda: super(ResilientSimulation, self).submit(script))
        self.submitted += 1

    async def publish(self, subject: str, body: dict[str, Any]) -> None:
        await _retry("publish", lambda: super(ResilientSimulation, self).publish(subject, body))
        self.inbound_ids.add(body["event_id"])

    async def tick(self, now) -> None:
        await self._send_tick(now)
        self.last_tick = now
        self.result.ticks += 1
        await self.settle()

    async def _send_tick(self, now) -> None:
        async def once() -> None:
            await self.nc.publish(subjects.SIM_CLOCK, json.dumps({"now": now.isoformat()}).encode())
            await self.nc.flush(timeout=5)

        await _retry("tick", once)

    async def settle(self, quiet_rounds: int = 2) -> None:
        """The services are idle, the post has read every order they sent, and `busy` (the test's
        view of work not in a stream yet: the deadline service still sweeping at the last tick,
        an outbox row not yet published, a delivery order the postal dispatcher holds back after
        intake or the database was away) says no. The clock travels on core NATS, so a service
        that was disconnected missed the last tick: it is sent again while `busy` (services ignore
        a tick that does not move their clock forward)."""

        async def once() -> None:
            waited = 0
            while True:
                await settle(self.js, quiet_rounds, timeout=300)
                info = await self.js.consumer_info(OUT_STREAM, POSTAL_READER)
                if not (info.num_pending or info.num_ack_pending or (self.busy and await self.busy(self.last_tick))):
                    return
                waited += 1
                if waited % 20 == 0 and self.last_tick is not None:
                    await self._send_tick(self.last_tick)
                await asyncio.sleep(0.05)

        await _retry("settle", once)

    async def more_to_come(self) -> bool:
        await self.settle()
        await asyncio.sleep(1.0)
        await self.settle()
        return bool(self.queue)

    async def _read_postal_orders(self) -> None:
        """The post's durable pull consumer (created by the services): fetch, handle, ack."""
        sub = None
        while True:
            try:
                if sub is None:
                    sub = await self.js.pull_subscribe_bind(POSTAL_READER, stream=OUT_STREAM)
                msgs = await sub.fetch(50, timeout=0.5)
            except (nats.errors.TimeoutError, TimeoutError):
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the server is away, or the consumer not yet created
                log.info("driver: postal reader: %s: %s", type(exc).__name__, exc)
                await asyncio.sleep(0.3)
                continue
            for msg in msgs:
                if msg.subject == subjects.out_postal("delivery_order"):
                    key = (msg.headers or {}).get("Nats-Msg-Id") or json.loads(msg.data).get("event_id")
                    if key not in self.orders_seen:  # redelivered after a lost ack: the post dedupes
                        self.orders_seen.add(key)
                        await self._on_delivery_order(msg)
                try:
                    await msg.ack()
                except Exception as exc:
                    log.info("driver: postal reader could not ack: %s", exc)


async def drive(
    nats_url: str, catalog: Catalog, config: SimConfig, faults: list[Fault], busy: Busy | None = None
) -> tuple[SimResult, ResilientSimulation]:
    nc = await nats.connect(
        servers=nats_servers(nats_url),
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.3,
        connect_timeout=5,
        error_cb=_quiet,
        disconnected_cb=_quiet_event,
        reconnected_cb=_quiet_event,
    )
    try:
        simulation = ResilientSimulation(nc, catalog, config, faults, busy)
        return await simulation.run(), simulation
    finally:
        await nc.close()


async def _quiet(exc: Exception) -> None:
    log.debug("driver connection: %s", exc)


async def _quiet_event() -> None:
    pass
