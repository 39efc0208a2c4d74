"""The composition root shared by the four services: a FastStream app whose lifespan opens the
database (and migrates the service's schema), makes sure the contract's streams exist, runs the
outbox relay, and follows the simulated clock when asked to.

Each service builds one `ServiceRuntime`, registers its consumers, and runs `runtime.app`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import asyncpg
import nats
from faststream import AckPolicy, ContextRepo, FastStream
from faststream.nats import ConsumerConfig, JStream, NatsBroker, PullSub
from faststream.nats.annotations import NatsMessage
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from shared.catalog import Catalog, default_catalog_path, load_catalog
from shared.clock import SimulatedClock, SystemClock, clock_from_setting
from shared.contracts import subjects
from shared.contracts.streams import ensure_reader_consumers, ensure_streams
from shared.db.migrate import migrate
from shared.db.outbox import OutboxRelay
from shared.db.pool import create_pool
from shared.messaging import BatchFinish, Handler, consume_nats_batch
from shared.nats_compat import install as install_nats_fetch_fix
from shared.nats_compat import release_unsettled
from shared.reconcile import (
    ReconcileHook,
    ReconcileRequest,
    reconcile,
    reconcile_subject,
    streams_created_after_last_publish,
)
from shared.settings import Settings, nats_inbox_prefix, nats_servers
from shared.tracing.setup import setup_tracing

log = logging.getLogger(__name__)
install_nats_fetch_fix()  # FastStream's batch loop would otherwise drop fetched messages (see module)

BackgroundTask = Callable[["ServiceRuntime"], Awaitable[None]]


class ServiceRuntime:
    def __init__(self, name: str, schema: str, migrations: Path, settings: Settings | None = None) -> None:
        self.name, self.schema, self.migrations = name, schema, migrations
        self.settings = settings or Settings.from_env()
        self.catalog: Catalog = load_catalog(self.settings.catalog_path or default_catalog_path())
        self.clock: SystemClock | SimulatedClock = clock_from_setting(self.settings.clock)
        self.tracer_provider = setup_tracing(name)
        self.inbox_prefix = nats_inbox_prefix(self.settings.nats_url)
        self.broker = NatsBroker(
            nats_servers(self.settings.nats_url),
            logger=None,
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            inbox_prefix=self.inbox_prefix,
        )
        self.app = FastStream(self.broker, lifespan=self._lifespan)
        self.app.after_startup(self._start_background)
        self.app.on_shutdown(self._stop_background)
        self.app.on_shutdown(self._stop_batch_consumers)
        self.pool: asyncpg.Pool | None = None
        self.nc: NatsClient | None = None
        self.js: JetStreamContext | None = None
        self.relay: OutboxRelay | None = None
        self._background: list[BackgroundTask] = []
        self._batch_subscribers: list = []
        self._tasks: list[asyncio.Task] = []
        self._clock_listeners: list[Callable[[], Awaitable[None]]] = []
        self._database_ready: list[Callable[[asyncpg.Connection], Awaitable[None]]] = []
        self._nats_ready: list[Callable[[None], Awaitable[None]]] = []
        self._reconcile_hooks: list[ReconcileHook] = []
        self.broker.subscriber(reconcile_subject(name), queue=name, description=self._rpc_reconcile.__doc__)(
            self._rpc_reconcile
        )

    # -- registration ---------------------------------------------------------------------------

    def batch_consumer(
        self,
        subject: str,
        stream: str,
        durable: str,
        handler: Handler,
        *,
        batch_size: int | None = None,
        finish: BatchFinish | None = None,
    ) -> None:
        """A durable pull consumer whose batches go through the inbox/outbox recipe (`finish`: an
        optional batch-level step in the same transaction, see shared.messaging.BatchFinish)."""
        schema, consumer = self.schema, durable

        async def on_batch(msg: NatsMessage) -> None:
            raw = msg.raw_message if isinstance(msg.raw_message, list) else [msg.raw_message]
            assert self.pool is not None
            await consume_nats_batch(self.pool, schema, consumer, raw, handler, finish)

        on_batch.__name__ = f"{durable}_batch"
        subscriber = self.broker.subscriber(
            subject,
            stream=JStream(stream, declare=False),
            durable=durable,
            pull_sub=PullSub(batch_size=batch_size or self.settings.batch_size, timeout=0.2, batch=True),
            config=ConsumerConfig(ack_wait=60, max_ack_pending=10_000),
            ack_policy=AckPolicy.MANUAL,
            decoder=_undecoded,
            inbox_prefix=f"{self.inbox_prefix}.".encode(),  # FastStream's default is _INBOX., not the broker's
            description=handler.__doc__,
        )
        subscriber(on_batch)
        self._batch_subscribers.append(subscriber)

    def background(self, task: BackgroundTask) -> None:
        self._background.append(task)

    def on_database_ready(self, hook: Callable[[asyncpg.Connection], Awaitable[None]]) -> None:
        """Run `hook` after migrations, before any consumer starts (e.g. to load keys or state)."""
        self._database_ready.append(hook)

    def on_nats_ready(self, hook: Callable[[None], Awaitable[None]]) -> None:
        """Run `hook` once the service's own NATS connection (`self.nc`, `self.js`) is open."""
        self._nats_ready.append(hook)

    def on_clock_tick(self, listener: Callable[[], Awaitable[None]]) -> None:
        self._clock_listeners.append(listener)

    def on_reconcile(self, hook: ReconcileHook) -> None:
        """A step of this service's own after its outbox is reconciled (shared/reconcile.py)."""
        self._reconcile_hooks.append(hook)

    # -- lifecycle ------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _lifespan(self, context: ContextRepo) -> AsyncIterator[None]:
        self.pool = await create_pool(self.settings.database_url)
        async with self.pool.acquire() as conn:
            applied = await migrate(conn, self.schema, self.migrations)
            for hook in self._database_ready:
                await hook(conn)
        if applied:
            log.info("%s: applied migrations %s", self.name, ", ".join(applied))
        self.nc = await nats.connect(
            nats_servers(self.settings.nats_url),
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            inbox_prefix=self.inbox_prefix,
        )
        self.js = self.nc.jetstream()
        await ensure_streams(self.js)
        await ensure_reader_consumers(self.js, self.catalog.agencies)
        await self._warn_if_streams_were_lost()
        for hook in self._nats_ready:
            await hook(None)
        if isinstance(self.clock, SimulatedClock):
            await self.nc.subscribe(subjects.SIM_CLOCK, cb=self._on_sim_clock)
        self.relay = OutboxRelay(self.pool, self.js, self.schema)
        try:
            yield
        finally:
            await self.nc.drain()
            await self.pool.close()
            self.tracer_provider.shutdown()

    async def _start_background(self) -> None:
        assert self.relay is not None
        self._tasks.append(asyncio.create_task(self.relay.run(), name=f"{self.name}-outbox"))
        for task in self._background:
            self._tasks.append(asyncio.create_task(task(self), name=f"{self.name}-{task.__name__}"))

    async def _stop_background(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _stop_batch_consumers(self, wait: float = 10.0) -> None:
        """Before the broker stops: let each batch loop finish the batch it is handling, then give
        back (nak) what it fetched but will not handle, so that the next instance gets it at once
        rather than after ack_wait (FastStream would cancel the loop with the batch in hand)."""
        for subscriber in self._batch_subscribers:
            subscriber.running = False
        loops = [task for subscriber in self._batch_subscribers for task in subscriber.tasks if not task.done()]
        if loops:
            await asyncio.wait(loops, timeout=wait)
        for subscriber in self._batch_subscribers:
            if subscriber.subscription is not None:
                released = await release_unsettled(subscriber.subscription)
                if released:
                    log.info("%s: gave back %d fetched messages at shutdown", self.name, released)

    async def _warn_if_streams_were_lost(self) -> None:
        assert self.pool is not None and self.js is not None
        async with self.pool.acquire() as conn:
            lost = await streams_created_after_last_publish(conn, self.js, self.schema)
        for stream, created, last in lost:
            log.warning(
                "%s: stream %s was created at %s, after this service last published into it (%s): the JetStream "
                "store was lost or the stream recreated; run `lienthong reconcile` to republish what it lacks",
                self.name,
                stream,
                created.isoformat(),
                last.isoformat(),
            )

    async def _rpc_reconcile(self, msg: NatsMessage) -> dict:
        """`lt.rpc.{service}.reconcile` (extension): republish from this service's outbox what the
        streams lack (shared/reconcile.py); `{"dry_run": true}` only counts, `"since"` bounds the scan."""
        try:
            request = ReconcileRequest.parse(msg.body)
        except ValueError as exc:
            return {"ok": False, "error": str(exc)}
        assert self.pool is not None and self.js is not None
        try:
            report = await reconcile(self.pool, self.js, self.name, self.schema, request, tuple(self._reconcile_hooks))
        except Exception as exc:  # NATS or the database away: say so, the operator runs it again
            log.exception("%s: reconcile failed", self.name)
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        return report.as_reply()

    async def _on_sim_clock(self, msg) -> None:
        assert isinstance(self.clock, SimulatedClock)
        try:
            moved = self.clock.apply_tick(msg.data)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("%s: ignored a bad lt.sim.clock message: %s", self.name, exc)
            return
        if moved:
            for listener in self._clock_listeners:
                await listener()


async def _undecoded(msg: NatsMessage) -> object:
    """Bodies stay bytes until the handler parses them (shared.contracts.inbound): FastStream's own
    decoder would json.loads every message of a batch first, and a deeply nested body (RecursionError)
    or a non-JSON body sent with `Content-Type: application/json` would fail the whole batch on every
    redelivery, stalling the consumer."""
    return msg.body


def run(runtime: ServiceRuntime, extra: Sequence[Callable[[], None]] = ()) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for fn in extra:
        fn()
    asyncio.run(runtime.app.run())
