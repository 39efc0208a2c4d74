"""A fix for a message-losing mismatch between FastStream 0.7.8 and nats-py 2.16.

FastStream's batch pull loop (`BatchPullStreamSubscriber._consume_pull`) keeps fetching until
its batch is full or its deadline passes, and stops on `nats.errors.TimeoutError` only. nats-py's
`PullSubscription.fetch` (batch > 1) raises a bare `asyncio.TimeoutError` when the deadline runs
out between its no-wait probe and its lingering request. That bare error escapes the loop with
the messages already fetched in hand: they are neither handled nor nak'ed, and wait for the
consumer's ack_wait before redelivery (seen as events "lost" for a minute in the tests).

`install()` makes every fetch timeout a `nats.errors.TimeoutError` (a subclass of the built-in
`TimeoutError`, so callers catching either keep working). It is idempotent.

The same loop also drops, unacknowledged, the messages it fetched when the service stops between
the fetch and their handling (it only hands a batch over while running): they too would wait for
ack_wait, a minute during which a restarted service does not see them. So the wrapped fetch
remembers what it returned, and `release_unsettled` naks (for immediate redelivery) whatever a
stopping service fetched but did not settle.
"""

from __future__ import annotations

import functools
import logging

import nats.errors
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

log = logging.getLogger(__name__)
_MARK = "_lienthong_timeouts_are_nats_errors"
_FETCHED = "_lienthong_fetched"


def install() -> None:
    pull_subscription = JetStreamContext.PullSubscription
    fetch = pull_subscription.fetch
    if getattr(fetch, _MARK, False):
        return

    @functools.wraps(fetch)
    async def fetch_with_nats_timeouts(self, *args, **kwargs):
        try:
            messages = await fetch(self, *args, **kwargs)
        except nats.errors.TimeoutError:
            raise
        except TimeoutError as exc:
            raise nats.errors.TimeoutError from exc
        unsettled = [m for m in getattr(self, _FETCHED, ()) if not m.is_acked]
        setattr(self, _FETCHED, unsettled + list(messages))
        return messages

    setattr(fetch_with_nats_timeouts, _MARK, True)
    pull_subscription.fetch = fetch_with_nats_timeouts


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
