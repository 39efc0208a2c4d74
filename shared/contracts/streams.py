"""JetStream streams of the contract, created and reconciled by code we own.

FastStream binds to them with `declare=False`: a declared `JStream` would rewrite the
stream's configuration with whatever the last service to start believed (TECH-NOTES A2).
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

DUPLICATE_WINDOW_SECONDS = 15 * 60

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
    """Create the contract's streams, or bring an existing one back to our configuration."""
    for config in STREAMS:
        try:
            info = await js.stream_info(config.name)
        except NotFoundError:
            await js.add_stream(config)
            continue
        current = info.config
        if current.subjects != config.subjects or current.duplicate_window != config.duplicate_window:
            await js.update_stream(config)
