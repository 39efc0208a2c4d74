"""A fix for a message-losing mismatch between FastStream 0.7.8 and nats-py 2.16.

FastStream's batch pull loop (`BatchPullStreamSubscriber._consume_pull`) keeps fetching until
its batch is full or its deadline passes, and stops on `nats.errors.TimeoutError` only. nats-py's
`PullSubscription.fetch` (batch > 1) raises a bare `asyncio.TimeoutError` when the deadline runs
out between its no-wait probe and its lingering request. That bare error escapes the loop with
the messages already fetched in hand: they are neither handled nor nak'ed, and wait for the
consumer's ack_wait before redelivery (seen as events "lost" for a minute in the tests).

`install()` makes every fetch timeout a `nats.errors.TimeoutError` (a subclass of the built-in
`TimeoutError`, so callers catching either keep working). It is idempotent.
"""

from __future__ import annotations

import functools

import nats.errors
from nats.js.client import JetStreamContext

_MARK = "_lienthong_timeouts_are_nats_errors"


def install() -> None:
    pull_subscription = JetStreamContext.PullSubscription
    fetch = pull_subscription.fetch
    if getattr(fetch, _MARK, False):
        return

    @functools.wraps(fetch)
    async def fetch_with_nats_timeouts(self, *args, **kwargs):
        try:
            return await fetch(self, *args, **kwargs)
        except nats.errors.TimeoutError:
            raise
        except TimeoutError as exc:
            raise nats.errors.TimeoutError from exc

    setattr(fetch_with_nats_timeouts, _MARK, True)
    pull_subscription.fetch = fetch_with_nats_timeouts
