"""Helpers for tests that talk to the real NATS: publish contract envelopes, collect messages, poll."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext

from shared.contracts import subjects


def envelope(
    type_: str,
    agency: str,
    occurred_at: datetime | str,
    data: dict[str, Any],
    dossier_code: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "type": type_,
        "schema_version": 1,
        "occurred_at": occurred_at if isinstance(occurred_at, str) else occurred_at.isoformat(),
        "agency": agency,
        "dossier_code": dossier_code,
        "data": data,
    }


async def publish_agency(js: JetStreamContext, agency: str, body: dict[str, Any] | bytes, action: str | None = None):
    action = action or (body["type"] if isinstance(body, dict) else "submitted")
    payload = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    headers = {"Nats-Msg-Id": body["event_id"]} if isinstance(body, dict) else None
    return await js.publish(subjects.in_agency(agency, action), payload, headers=headers)


@dataclass
class Collector:
    """Every message seen on a subject pattern (core subscription, so it sees JetStream publishes too)."""

    messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def of(self, suffix: str) -> list[dict[str, Any]]:
        return [body for subject, body in self.messages if subject.endswith(suffix)]

    def subjects(self) -> list[str]:
        return [subject for subject, _ in self.messages]


async def collect(nc: Client, pattern: str) -> Collector:
    collector = Collector()

    async def on_message(msg) -> None:
        try:
            collector.messages.append((msg.subject, json.loads(msg.data)))
        except ValueError:
            collector.messages.append((msg.subject, {"raw": msg.data.decode(errors="replace")}))

    await nc.subscribe(pattern, cb=on_message)
    return collector


async def poll_until(
    check: Callable[[], Any] | Callable[[], Awaitable[Any]],
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str = "condition",
) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(interval)


async def connect(url: str) -> tuple[Client, JetStreamContext]:
    nc = await nats.connect(url)
    return nc, nc.jetstream()
