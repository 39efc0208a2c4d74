"""Firing the timers that became due: a bounded sweep over the partial index, never all timers.

Each sweep claims due timers with `FOR UPDATE SKIP LOCKED`, writes their messages to the outbox
and marks them fired in the same transaction, so an alert is published exactly once even with
several sweepers. With the system clock a background task sweeps every 0.2 s.

With the simulated clock, time is what the ticks on `lt.sim.clock` say, and a tick means "after
everything published before it": it travels on core NATS and overtakes the facts published just
before it, so before moving time the scheduler waits (bounded) until the service's consumer has
applied everything LT_EVT held when the tick came, and fires what those facts made due at the
previous time first. Alerts then never rest on stale facts (a stage flagged overdue although its
completion was already published) and their figures do not depend on how fast the consumer ran.
The released time is kept in `deadline.clock`, so that a restarted service resumes at it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

import asyncpg

from services.deadline import repository
from services.deadline.alerts import alert_messages
from shared.calendar import WorkCalendar
from shared.clock import Clock, SimulatedClock
from shared.db.outbox import enqueue

log = logging.getLogger(__name__)

SWEEP_LIMIT = 1000
SWEEP_INTERVAL_SECONDS = 0.2


async def sweep(pool: asyncpg.Pool, calendar: WorkCalendar, now: datetime, limit: int = SWEEP_LIMIT) -> int:
    """Fire every timer due at `now`, `limit` per transaction; returns how many fired."""
    fired = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            claimed = await repository.claim_due_timers(conn, now, limit)
            if not claimed:
                return fired
            messages = [m for _, timer in claimed for m in alert_messages(timer, now, calendar)]
            await enqueue(conn, repository.SCHEMA, messages)
            await repository.mark_fired(conn, [timer_id for timer_id, _ in claimed], now)
        fired += len(claimed)
        log.info("deadline sweep at %s fired %d timers", now.isoformat(), len(claimed))
        if len(claimed) < limit:
            return fired


class Scheduler:
    """Drives `sweep` from the runtime's clock. `caught_up` (simulated clock only) waits until the
    service's fact consumer has applied what its stream held when called; False if it gave up."""

    def __init__(
        self,
        calendar: WorkCalendar,
        clock: Clock,
        interval: float = SWEEP_INTERVAL_SECONDS,
        caught_up: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self.calendar, self.clock, self.interval, self.caught_up = calendar, clock, interval, caught_up
        self.simulated = isinstance(clock, SimulatedClock)
        self.released: datetime | None = None  # simulated clock: the time alerts are fired at
        self._lock = asyncio.Lock()

    def now(self) -> datetime | None:
        """The time to sweep at: the system clock, or the last released simulated tick."""
        return self.released if self.simulated else self.clock.now()

    async def restore_clock(self, pool: asyncpg.Pool) -> None:
        """Resume a simulated clock at the last tick this service released."""
        if not isinstance(self.clock, SimulatedClock):
            return
        async with pool.acquire() as conn:
            saved = await repository.load_clock(conn)
        if saved is not None:
            self.clock.set(saved)
            if self.released is None or saved > self.released:
                self.released = saved

    async def on_tick(self, pool: asyncpg.Pool) -> None:
        """A simulated tick: apply the facts published before it, fire what they made due at the
        previous time, then move to the tick's time and fire what is due then."""
        target = self.clock.now()
        if target is None or (self.released is not None and target <= self.released):
            return
        if self.caught_up is not None and not await self.caught_up():
            log.warning("deadline: facts still pending at the tick to %s; sweeping anyway", target.isoformat())
        if self.released is not None:
            await self.sweep_now(pool)
        async with pool.acquire() as conn:
            await repository.save_clock(conn, target)
        self.released = target
        await self.sweep_now(pool)

    async def sweep_now(self, pool: asyncpg.Pool) -> int:
        now = self.now()
        if now is None:  # a simulated clock that has not ticked yet: nothing is due
            return 0
        async with self._lock:
            return await sweep(pool, self.calendar, now)

    async def run(self, pool: asyncpg.Pool) -> None:
        """Sweep every `interval` seconds, so alerts follow the system clock (and simulated ticks
        that raced with the facts they concern) within a second; survive transient failures."""
        await self.restore_clock(pool)
        while True:
            try:
                await self.sweep_now(pool)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("deadline sweep failed (%s: %s); retrying", type(exc).__name__, exc)
            await asyncio.sleep(self.interval)
