"""A fix for a message-losing mismatch between FastStream 0.7.8 and nats-py 2.16.

FastStream's batch pull loop (`BatchPullStreamSubscriber._consume_pull`) keeps fetching until
its batch is full or its deadline passes, and stops on `nats.errors.TimeoutError` only. nats-py's
`PullSubscription.fetch` (batch > 1) raises a bare `asyncio.TimeoutError` when the deadline runs
out between its no-wait probe and its lingering request. That bare error escapes the loop with
the messages already fetched in hand: they are neither handled nor nak'ed, and wait for the
consumer's ack_wait before redelivery (seen as events "lost" for a minute in the tests).

`install()` makes every fetch timeout a `nats.errors.TimeoutError` (a subclass of the built-in
`TimeoutError`, so callers catching either keep working). It is idempotent.

When a fetch fails at once — no JetStream responder for the consumer (the nats-server came back
on a lost store, so the durable consumers are gone, or a cluster is electing a leader), or a
closed connection — FastStream's TaskCallbackSupervisor restarts the pull loop with no pause: a
hot loop burning a quarter of a core per service (measured 23-26 %) for as long as it lasts. So
the wrapped fetch sleeps before re-raising such an error, with a backoff (0.1 s doubling to 2 s,
reset by the next successful fetch): the loop retries a few times a second at most, and resumes within 2 s.

The same loop also drops, unacknowledged, the messages it fetched when the service stops between
the fetch and their handling (it only hands a batch over while running): they too would wait for
ack_wait, a minute during which a restarted service does not see them. So the wrapped fetch
remembers what it returned, and `release_unsettled` naks (for immediate redelivery) whatever a
stopping service fetched but did not settle.
"""

from __future__ import annotations

import asyncio
import functools
import logging

import nats.errors
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

log = logging.getLogger(__name__)
_MARK = "_lienthong_timeouts_are_nats_errors"
_FETCHED = "_lienthong_fetched"
_FAILURES = "_lienthong_fetch_failures"
BACKOFF_FIRST, BACKOFF_MAX = 0.1, 2.0


def failure_backoff(failures: int) -> float:
    """Seconds to wait after the `failures`-th fetch failure in a row (1, 2, ...)."""
    return min(BACKOFF_FIRST * 2 ** max(failures - 1, 0), BACKOFF_MAX)


def install() -> None:
    pull_subscription = JetStreamContext.PullSubscription
    fetch = pull_subscription.fetch
    if getattr(fetch, _MARK, False):
        return

    pull_subscription.fetch = wrap_fetch(fetch)


def wrap_fetch(fetch):
    """`fetch` with nats timeouts, a backoff on connection failures, and its messages remembered."""

    @functools.wraps(fetch)
    async def fetch_with_nats_timeouts(self, *args, **kwargs):
        try:
            messages = await fetch(self, *args, **kwargs)
        except nats.errors.TimeoutError:
            setattr(self, _FAILURES, 0)
            raise
        except TimeoutError as exc:
            setattr(self, _FAILURES, 0)
            raise nats.errors.TimeoutError from exc
        except (nats.errors.Error, OSError) as exc:  # NATS away: do not let the supervisor spin
            failures = getattr(self, _FAILURES, 0) + 1
            setattr(self, _FAILURES, failures)
            delay = failure_backoff(failures)
            if failures in (1, 10) or failures % 100 == 0:
                log.warning("fetch failed (%s: %s); pausing %.1fs before the next pull", type(exc).__name__, exc, delay)
            await asyncio.sleep(delay)
            raise
        setattr(self, _FAILURES, 0)
        unsettled = [m for m in getattr(self, _FETCHED, ()) if not m.is_acked]
        setattr(self, _FETCHED, unsettled + list(messages))
        return messages

    setattr(fetch_with_nats_timeouts, _MARK, True)
    return fetch_with_nats_timeouts


async def release_unsettled(subscription: JetStreamContext.PullSubscription) -> int:
    """Nak every message `subscription` fetched that was neither acked nor nak'ed (a stopping
    service's batch in hand), so that the server redelivers it at once; returns how many."""
    released = 0
    fetched: list[Msg] = getattr(subscription, _FETCHED, [])
    for message in fetched:
        if message.is_acked:
            continue
        try:
            await message.nak()
            released += 1
        except nats.errors.Error as exc:  # the connection is gone: the server redelivers after ack_wait
            log.warning("could not give back a fetched message (%s: %s)", type(exc).__name__, exc)
            break
    setattr(subscription, _FETCHED, [])
    return released
