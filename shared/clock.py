"""Where "now" comes from: the system clock, or the simulated clock driven over `lt.sim.clock`.

Business decisions use event times; "now" only decides which open stages have become due or
overdue (CONTRACT.md §6). Tests use `ManualClock`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime | None:
        """The current time, timezone-aware; None while a simulated clock has not ticked yet."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class ManualClock:
    current: datetime

    def now(self) -> datetime:
        return self.current

    def advance(self, by: timedelta) -> None:
        self.current += by


@dataclass
class SimulatedClock:
    """The latest `{"now": ...}` seen on `lt.sim.clock`; never moves backwards."""

    current: datetime | None = None
    listeners: list = field(default_factory=list)

    def now(self) -> datetime | None:
        return self.current

    def set(self, value: datetime) -> bool:
        if value.tzinfo is None:
            raise ValueError("simulated time must carry a UTC offset")
        if self.current is not None and value <= self.current:
            return False
        self.current = value
        return True

    def apply_tick(self, body: bytes) -> bool:
        """Apply one `lt.sim.clock` message; returns True if time moved forward."""
        obj = json.loads(body)
        return self.set(datetime.fromisoformat(obj["now"]))


def clock_from_setting(name: str) -> SystemClock | SimulatedClock:
    if name == "system":
        return SystemClock()
    if name == "simulated":
        return SimulatedClock()
    raise ValueError(f"LIENTHONG_CLOCK must be 'system' or 'simulated', not {name!r}")
