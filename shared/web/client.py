"""The page's only source of figures: the deadline service, asked over NATS request/reply.

One NATS connection per web process, opened on first use and opened again on the next request
once nats-py has given it up, so that the page starts (and serves its AsyncAPI view) while NATS
or the service is down, and recovers when they are back.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nats
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError

from shared.settings import nats_servers

RETRY_AFTER_SECONDS = 2.0


class ServiceUnavailable(Exception):
    """NATS or the deadline service cannot be reached: the operator is told which and where."""


class RequestRefused(Exception):
    """The service answered {"ok": false, "error": ...}: the request itself is wrong."""


class DeadlineClient:
    def __init__(self, nats_url: str, timeout: float = 15.0) -> None:
        self.nats_url, self.timeout = nats_url, timeout
        self._nc: Client | None = None
        self._lock = asyncio.Lock()
        self._failure: tuple[float, str] | None = None  # (loop time, reason) of the last failed connect

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def _connection(self) -> Client:
        async with self._lock:
            if self._nc is not None and not self._nc.is_closed:
                return self._nc
            now = asyncio.get_running_loop().time()
            if self._failure is not None and now - self._failure[0] < RETRY_AFTER_SECONDS:
                raise ServiceUnavailable(self._failure[1])  # one page's parallel requests fail together
            try:
                self._nc = await nats.connect(
                    nats_servers(self.nats_url),
                    connect_timeout=3,
                    max_reconnect_attempts=1,  # also bounds the first connect; a closed one is reopened above
                    reconnect_time_wait=0.5,
                    error_cb=_quiet,
                )
            except (OSError, NatsError, TimeoutError) as exc:
                self._failure = (now, f"cannot reach NATS at {self.nats_url} ({type(exc).__name__})")
                raise ServiceUnavailable(self._failure[1]) from None
            self._failure = None
            return self._nc

    async def ask(self, subject: str, request: dict[str, Any], key: str) -> dict[str, Any]:
        """The answer's `key` part, or ServiceUnavailable / RequestRefused."""
        nc = await self._connection()
        try:
            reply = await nc.request(subject, json.dumps(request).encode(), timeout=self.timeout)
        except NoRespondersError:
            raise ServiceUnavailable(f"no deadline service answers {subject} on {self.nats_url}") from None
        except TimeoutError:
            raise ServiceUnavailable(f"the deadline service did not answer {subject} in {self.timeout:g} s") from None
        except NatsError as exc:
            raise ServiceUnavailable(f"NATS at {self.nats_url}: {type(exc).__name__}") from None
        answer = json.loads(reply.data)
        if not answer.get("ok"):
            raise RequestRefused(str(answer.get("error") or answer))
        return answer[key]

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.close()
        self._nc = None


async def _quiet(_: Exception) -> None:
    """nats-py logs every failed reconnection with a traceback; the page reports it in one line."""
