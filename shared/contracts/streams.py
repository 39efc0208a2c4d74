"""JetStream streams of the contract, created and reconciled by code we own.

FastStream binds to them with `declare=False`: a declared `JStream` would rewrite the
stream's configuration with whatever the last service to start believed (TECH-NOTES A2).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import replace

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, NotFoundError

from shared.contracts import subjects

log = logging.getLogger(__name__)
DUPLICATE_WINDOW_SECONDS = 15 * 60
OUT_STREAM = "LT_OUT"
POSTAL_READER = "postal"


def stream_replicas() -> int:
    """LIENTHONG_STREAM_REPLICAS: copies of each stream in a NATS cluster (3 for R3; default 1, a single
    server). Read when the streams are ensured, so that the same code serves both."""
    value = os.environ.get("LIENTHONG_STREAM_REPLICAS", "1").strip() or "1"
    replicas = int(value)
    if replicas not in (1, 3, 5):
        raise ValueError(f"LIENTHONG_STREAM_REPLICAS must be 1, 3 or 5, got {value!r}")
    return replicas


STREAMS: tuple[StreamConfig, ...] = tuple(
    StreamConfig(
        name=name,
        subjects=[subjects],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        max_msg_size=1024 * 1024,
    )
    for name, subjects in (("LT_IN", "lt.in.>"), ("LT_EVT", "lt.evt.>"), ("LT_OUT", "lt.out.>"))
)


async def ensure_streams(js: JetStreamContext) -> None:
    """Create the contract's streams (with LIENTHONG_STREAM_REPLICAS copies), or bring an existing one
    back to our configuration."""
    replicas = stream_replicas()
    for base in STREAMS:
        config = replace(base, num_replicas=replicas)
        try:
            info = await js.stream_info(config.name)
        except NotFoundError:
            await _once_placed(lambda c=config: js.add_stream(c), config.name)
            continue
        current = info.config
        if (
            current.subjects != config.subjects
            or current.duplicate_window != config.duplicate_window
            or (current.num_replicas or 1) != replicas
        ):
            await _once_placed(lambda c=config: js.update_stream(c), config.name)


NO_SUITABLE_PEERS = 10005  # JetStream's err_code: too few cluster peers online to place the replicas
PLACEMENT_WAIT_SECONDS = 30.0


async def _once_placed(request, stream: str, wait: float = PLACEMENT_WAIT_SECONDS, pause: float = 0.5):
    """Run the stream request, again while a cluster that is still coming up (or has lost a node)
    has too few peers online for the replicas, for up to `wait` seconds: a service started with
    its cluster then waits for the peers instead of exiting."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return await request()
        except BadRequestError as exc:
            if exc.err_code != NO_SUITABLE_PEERS or time.monotonic() > deadline:
                raise
            log.info("stream %s: %s; waiting for the cluster's peers", stream, exc.description)
            await asyncio.sleep(pause)


def agency_reader(agency_code: str) -> str:
    """The durable consumer on LT_OUT through which agency A reads `lt.out.agency.{A}.>`."""
    return f"agency_{subjects.agency_token(agency_code)}"


def reader_consumers(agency_codes: Iterable[str]) -> list[ConsumerConfig]:
    """One durable pull consumer per outside reader (each agency, the post), filtered on its own
    outbound subjects. Readers may fetch and ack through it but never create consumers
    (shared/natsauth.py says why), so the services create them."""
    readers = [
        (agency_reader(code), f"{subjects.OUT_AGENCY_PREFIX}.{subjects.agency_token(code)}.>") for code in agency_codes
    ]
    readers.append((POSTAL_READER, f"{subjects.OUT_POSTAL_PREFIX}.>"))
    return [
        ConsumerConfig(
            durable_name=name,
            filter_subject=subject,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=60,
            max_ack_pending=1000,
            description="lienthong: outbound messages for one reader (created by the services)",
        )
        for name, subject in sorted(readers)
    ]


async def ensure_reader_consumers(js: JetStreamContext, agency_codes: Iterable[str]) -> int:
    """Create the readers' consumers that do not exist yet (an existing one keeps its position);
    returns how many were created."""
    created = 0
    for config in reader_consumers(agency_codes):
        try:
            await js.consumer_info(OUT_STREAM, config.durable_name)
        except NotFoundError:
            await js.add_consumer(OUT_STREAM, config)
            created += 1
    return created
