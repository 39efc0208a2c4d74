"""When NATS is away, a failing fetch pauses before it re-raises: FastStream's supervisor restarts
the pull loop at once, so without the pause a service spins at a quarter of a core."""

from __future__ import annotations

import time

import nats.errors
import pytest

from shared.nats_compat import BACKOFF_MAX, failure_backoff, wrap_fetch


class FakeSubscription:
    def __init__(self, outcomes: list) -> None:
        self.outcomes = outcomes

    async def fetch(self, batch: int = 1, timeout: float = 0.1):
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def test_the_backoff_doubles_up_to_its_ceiling():
    assert [failure_backoff(n) for n in (1, 2, 3)] == [0.1, 0.2, 0.4]
    assert failure_backoff(50) == BACKOFF_MAX


async def test_connection_failures_are_paused_and_a_success_resets_the_backoff():
    fetch = wrap_fetch(FakeSubscription.fetch)
    sub = FakeSubscription([nats.errors.ConnectionClosedError(), nats.errors.ConnectionClosedError(), [], OSError()])
    began = time.monotonic()
    for _ in range(2):
        with pytest.raises(nats.errors.ConnectionClosedError):
            await fetch(sub)
    assert time.monotonic() - began >= 0.1 + 0.2 - 0.02  # 0.1 s, then 0.2 s
    assert await fetch(sub) == []
    began = time.monotonic()
    with pytest.raises(OSError):
        await fetch(sub)
    assert 0.08 <= time.monotonic() - began < 0.19  # back to the first step


async def test_timeouts_are_not_paused():
    fetch = wrap_fetch(FakeSubscription.fetch)
    sub = FakeSubscription([TimeoutError()])
    began = time.monotonic()
    with pytest.raises(nats.errors.TimeoutError):
        await fetch(sub)
    assert time.monotonic() - began < 0.05
