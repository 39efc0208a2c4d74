"""The raw transport baseline every lienthong figure is compared with, measured in the same run:
nats-py JetStream publish (async, bounded) then pull `fetch` + `ack` of the same payload size.

    python -m benchmarks.transport --messages 20000 --payload 600
"""

from __future__ import annotations

import argparse
import asyncio
import time

import nats
from nats.js.api import StreamConfig


async def raw_pull_rate(nats_url: str, messages: int, payload: int, batch: int = 500) -> float:
    """Messages/s of pull `fetch` + `ack` on a fresh file-store stream (the publishing is not timed)."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    name = f"BENCH_RAW_{time.monotonic_ns()}"
    await js.add_stream(StreamConfig(name=name, subjects=[f"bench.raw.{name}"]))
    body = b"x" * payload
    try:
        for start in range(0, messages, batch):
            await asyncio.gather(*(js.publish(f"bench.raw.{name}", body) for _ in range(min(batch, messages - start))))
        sub = await js.pull_subscribe(f"bench.raw.{name}", durable="raw", stream=name)
        began = time.perf_counter()
        seen = 0
        while seen < messages:
            msgs = await sub.fetch(batch, timeout=5)
            for m in msgs:
                await m.ack()
            seen += len(msgs)
        await nc.flush()
        return messages / (time.perf_counter() - began)
    finally:
        await js.delete_stream(name)
        await nc.close()


def main(argv: list[str] | None = None) -> None:
    import os

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--payload", type=int, default=600)
    args = parser.parse_args(argv)
    rate = asyncio.run(raw_pull_rate(os.environ.get("NATS_URL", "nats://127.0.0.1:4222"), args.messages, args.payload))
    print(f"raw nats-py pull + ack, {args.payload} B: {rate:,.0f} msg/s")


if __name__ == "__main__":
    main()
