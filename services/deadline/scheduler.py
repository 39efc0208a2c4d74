"""Firing the timers that became due: a bounded sweep over the partial index, never all timers.

Each sweep claims due timers with `FOR UPDATE SKIP LOCKED`, writes their messages to the outbox
and marks them fired in the same transaction, so an alert is published exactly once even with
several sweepers. With the system clock a background task sweeps every 0.2 s; with the simulated
clock every `lt.sim.clock` tick sweeps at once, and the tick's time is kept in `deadline.clock`
so that a restarted service resumes at the same simulated "now".
"""

from __future__ import annotations

import asyncio
import logging
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
    """Drives `sweep` from the runtime's clock."""

    def __init__(self, calendar: WorkCalendar, clock: Clock, interval: float = SWEEP_INTERVAL_SECONDS) -> None:
        self.calendar, self.clock, self.interval = calendar, clock, interval
        self._lock = asyncio.Lock()

    async def restore_clock(self, pool: asyncpg.Pool) -> None:
        """Resume a simulated clock at the last tick this service persisted."""
        if not isinstance(self.clock, SimulatedClock):
            return
        async with pool.acquire() as conn:
            saved = await repository.load_clock(conn)
        if saved is not None:
            self.clock.set(saved)

    async def on_tick(self, pool: asyncpg.Pool) -> None:
        now = self.clock.now()
        if now is None:
            return
        async with pool.acquire() as conn:
            await repository.save_clock(conn, now)
        await self.sweep_now(pool)

    async def sweep_now(self, pool: asyncpg.Pool) -> int:
        now = self.clock.now()
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
