"""What `sync_interval: always` (infra/nats/nats-server.conf) costs, measured in one run against
nats-server's default (fsync every 2 minutes): two private servers, same binary, same disk, the
shipped config with and without the line, rounds interleaved so that machine noise hits both.

For each server and round, on a fresh file-store stream configured like the contract's (dedupe
window, `Nats-Msg-Id` on every message, as the outbox relay publishes):
- `publish (one at a time)`: `await js.publish()` in sequence, the latency-bound case (a counter's
  RPC submit, one fact after another);
- `publish (pipelined)`: batches of `--batch` concurrent publishes, as the outbox relay does;
- `pull + ack`: `fetch(--batch)` then `ack()` each message, as the services' consumers do
  (acks written to the consumer's store; the time ends when the server has them all).

    python -m benchmarks.durability [--messages 10000] [--sequential 2000] [--payload 600] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import nats
from nats.js.api import StorageType, StreamConfig

from shared import devenv
from shared.contracts.streams import DUPLICATE_WINDOW_SECONDS

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "infra" / "nats" / "nats-server.conf"


@dataclass
class Figures:
    sequential: float  # msg/s
    sequential_ms: float  # mean latency of one publish
    pipelined: float
    pull_ack: float


def default_sync_config(directory: Path) -> Path:
    """The shipped configuration without its `sync_interval` line: nats-server's default."""
    text = "\n".join(line for line in SHIPPED.read_text().splitlines() if "sync_interval" not in line)
    path = directory / "default-sync.conf"
    path.write_text(text + "\n")
    return path


async def measure(url: str, messages: int, sequential: int, payload: int, batch: int) -> Figures:
    nc = await nats.connect(url)
    js = nc.jetstream()
    name = f"BENCH_{uuid.uuid4().hex[:8].upper()}"
    subject = f"bench.{name}"
    await js.add_stream(
        StreamConfig(name=name, subjects=[subject], storage=StorageType.FILE, duplicate_window=DUPLICATE_WINDOW_SECONDS)
    )
    body = b"x" * payload
    try:
        began = time.perf_counter()
        for _ in range(sequential):
            await js.publish(subject, body, headers={"Nats-Msg-Id": uuid.uuid4().hex})
        one_at_a_time = time.perf_counter() - began

        began = time.perf_counter()
        for start in range(0, messages, batch):
            await asyncio.gather(
                *(
                    js.publish(subject, body, headers={"Nats-Msg-Id": uuid.uuid4().hex}, timeout=30)
                    for _ in range(min(batch, messages - start))
                )
            )
        pipelined = time.perf_counter() - began

        sub = await js.pull_subscribe(subject, durable="bench", stream=name)
        total, seen = sequential + messages, 0
        began = time.perf_counter()
        while seen < total:
            msgs = await sub.fetch(batch, timeout=10)
            for m in msgs:
                await m.ack()
            seen += len(msgs)
        await nc.flush()
        pull = time.perf_counter() - began
        return Figures(
            sequential / one_at_a_time, 1000 * one_at_a_time / sequential, messages / pipelined, total / pull
        )
    finally:
        await js.delete_stream(name)
        await nc.close()


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):>9,.0f}  ({min(values):,.0f}–{max(values):,.0f})"


async def run(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(dir=args.store_parent) as scratch:
        base = Path(scratch)
        servers = {
            "sync_interval: always": devenv.start_nats(base / "always", config=SHIPPED),
            "default (2 min)": devenv.start_nats(base / "default", config=default_sync_config(base)),
        }
        results: dict[str, list[Figures]] = {label: [] for label in servers}
        try:
            for _ in range(args.rounds):
                for label, server in servers.items():
                    results[label].append(
                        await measure(server.url, args.messages, args.sequential, args.payload, args.batch)
                    )
        finally:
            for server in servers.values():
                server.stop()
    return {label: [vars(f) for f in figures] for label, figures in results.items()}


def report(results: dict, args: argparse.Namespace) -> str:
    lines = [
        f"JetStream durability cost: {args.rounds} rounds, payload {args.payload} B, "
        f"{args.sequential} sequential + {args.messages} pipelined publishes (batch {args.batch}), "
        f"then pull+ack of all; median (min–max), msg/s",
        f"{'':24}{'publish one at a time':>30}{'mean latency ms':>18}{'publish pipelined':>28}{'pull + ack':>28}",
    ]
    for label, rounds in results.items():
        latency = statistics.median(r["sequential_ms"] for r in rounds)
        lines.append(
            f"{label:24}{summary([r['sequential'] for r in rounds]):>30}{latency:>18.2f}"
            f"{summary([r['pipelined'] for r in rounds]):>28}{summary([r['pull_ack'] for r in rounds]):>28}"
        )
    always, default = results["sync_interval: always"], results["default (2 min)"]
    ratios = [
        statistics.median(a[key] for a in always) / statistics.median(d[key] for d in default)
        for key in ("sequential", "pipelined", "pull_ack")
    ]
    lines.append(
        "always / default: "
        + ", ".join(f"{n} {r:.2f}×" for n, r in zip(("one at a time", "pipelined", "pull+ack"), ratios, strict=True))
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10000, help="pipelined publishes per round")
    parser.add_argument("--sequential", type=int, default=2000, help="one-at-a-time publishes per round")
    parser.add_argument("--payload", type=int, default=600)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store-parent", default=str(ROOT), help="where the stores go (a real disk, not tmpfs)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = asyncio.run(run(args))
    print(json.dumps(results, indent=2) if args.json else report(results, args))


if __name__ == "__main__":
    main()
