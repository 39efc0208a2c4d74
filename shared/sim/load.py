"""The simulator's load mode: N dossiers' whole event sequences pushed through the running services
as fast as they take them (or at a fixed rate), on the contract's real subjects, for `make bench`.

Every dossier follows the whole route of one three-level procedure of the tests' catalog (9.000001:
commune -> district department -> province department -> back to the commune's counter): its
`submitted` event (with a code chosen here, as a one-stop system may bring its own), then the
seven agency events of its route. An agency cannot act on a dossier before it has been sent to
it, so the seven are published, in order, as soon as routing's `dossier.routed` fact for the
dossier is seen; the submissions themselves go out as fast as JetStream acknowledges them
(`rate=None`) or paced at `rate` dossiers per second.

Every fact a service publishes is watched (core NATS on `lt.evt.>`): the fact an inbound event
causes first carries a derived event id (`derived_event_id(key, 0)`), so the latency of each
inbound event to its fact is measured exactly. The run ends when every durable consumer of the
inbound and fact streams is idle and the streams stopped growing (every service has persisted
and published what the load caused).

    lienthong simulate --load 2000          (the services must be running on tests/catalogs/basic.yaml)
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from dataclasses import dataclass, field

from nats.aio.client import Client
from nats.js import JetStreamContext

from shared.contracts import subjects
from shared.contracts.envelope import derived_event_id

PROCEDURE = "9.000001"
COMMUNE, LABOUR, PROVINCE_DEPT = "T01.00.01.X99", "T01.31.00.X99", "T00.05.00.X99"
SUBMITTED_AT = "2026-03-02T08:00:00+07:00"
ROUTE = (  # (agency, action, business time in March 2026, data): the whole route of one dossier
    (COMMUNE, "stage_completed", "02T15:00:00", {"outcome": "forward"}),
    (LABOUR, "handoff_received", "03T08:00:00", {"stage_index": 1}),
    (LABOUR, "stage_completed", "05T10:00:00", {"outcome": "forward"}),
    (PROVINCE_DEPT, "handoff_received", "06T09:00:00", {"stage_index": 2}),
    (PROVINCE_DEPT, "stage_completed", "10T10:00:00", {"outcome": "result_ready"}),
    (COMMUNE, "handoff_received", "10T14:00:00", {"stage_index": 3}),
    (COMMUNE, "result_returned", "11T09:00:00", {}),
)
EVENTS_PER_DOSSIER = 1 + len(ROUTE)
STREAMS = ("LT_IN", "LT_EVT")
_FACT_ID = re.compile(rb'"event_id"\s*:\s*"([^"]+)"')
_FACT_CODE = re.compile(rb'"dossier_code"\s*:\s*"([^"]+)"')


@dataclass(frozen=True)
class Outgoing:
    subject: str
    payload: bytes
    event_id: str
    first_fact_id: str  # the id of the fact this event causes first


@dataclass
class DossierLoad:
    code: str
    submitted: Outgoing
    route: list[Outgoing]


@dataclass
class LoadResult:
    dossiers: int
    events: int
    payload_bytes: int
    seconds: float  # first publish -> every consumer idle
    latencies_ms: list[float] = field(default_factory=list)
    facts_seen: int = 0

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def mean_payload(self) -> int:
        return self.payload_bytes // max(self.events, 1)


def _outgoing(agency: str, action: str, occurred_at: str, code: str | None, data: dict) -> Outgoing:
    event_id = str(uuid.uuid4())
    body = {
        "event_id": event_id,
        "type": action,
        "schema_version": 1,
        "occurred_at": occurred_at,
        "agency": agency,
        "dossier_code": code,
        "data": data,
    }
    subject = subjects.in_agency(agency, action)
    key = f"{subject.split('.')[3]}/{event_id}"  # shared.messaging.message_key for lt.in.agency.*
    return Outgoing(subject, json.dumps(body, ensure_ascii=False).encode(), event_id, derived_event_id(key, 0))


def build_load(dossiers: int, run_tag: str | None = None) -> list[DossierLoad]:
    tag = run_tag or uuid.uuid4().hex[:8]
    # Codes have the shape AGENCY-YYMMDD-NNNN of real ones (the span attributes accept no other);
    # the six digits, random per run, keep runs against the same services apart.
    day = 100_000 + uuid.uuid4().int % 800_000
    plan = []
    for i in range(dossiers):
        code = f"{COMMUNE}-{day + i // 10_000:06d}-{i % 10_000:04d}"
        data = {
            "external_ref": f"load-{tag}-{i}",
            "procedure": PROCEDURE,
            "channel": "counter",
            "return_method": "counter",
            "applicant": {"kind": "citizen", "full_name": "Công dân mô phỏng", "id_number": "000000000000"},
        }
        submitted = _outgoing(COMMUNE, "submitted", SUBMITTED_AT, code, data)
        route = [_outgoing(a, act, f"2026-03-{when}+07:00", code, d) for a, act, when, d in ROUTE]
        plan.append(DossierLoad(code, submitted, route))
    return plan


class LoadRun:
    def __init__(self, nc: Client, plan: list[DossierLoad], rate: float | None, concurrency: int) -> None:
        self.nc, self.js = nc, nc.jetstream()
        self.plan, self.rate = plan, rate
        self.by_code = {d.code: d for d in plan}
        self.sent_at: dict[str, float] = {}  # first fact id -> when its cause was published
        self.latencies: list[float] = []
        self.facts = 0
        self.routed: set[str] = set()
        self.slots = asyncio.Semaphore(concurrency)
        self.tasks: set[asyncio.Task] = set()
        self.errors: list[BaseException] = []

    async def _publish(self, out: Outgoing) -> None:
        self.sent_at[out.first_fact_id] = time.perf_counter()
        await self.js.publish(out.subject, out.payload, headers={"Nats-Msg-Id": out.event_id}, timeout=60)

    async def _submit(self, dossier: DossierLoad) -> None:
        async with self.slots:
            await self._publish(dossier.submitted)

    async def _route(self, dossier: DossierLoad) -> None:
        async with self.slots:  # one after the other: the stream keeps the dossier's order
            for out in dossier.route:
                await self._publish(out)

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.errors.append(task.exception())

    async def _on_fact(self, msg) -> None:
        now = time.perf_counter()
        self.facts += 1
        found = _FACT_ID.search(msg.data)
        if found is not None:
            began = self.sent_at.pop(found.group(1).decode(), None)
            if began is not None:
                self.latencies.append((now - began) * 1000)
        if msg.subject == "lt.evt.dossier.routed":
            code = _FACT_CODE.search(msg.data)
            dossier = self.by_code.get(code.group(1).decode()) if code else None
            if dossier is not None and dossier.code not in self.routed:
                self.routed.add(dossier.code)
                self._spawn(self._route(dossier))

    async def _on_refused(self, msg) -> None:
        self.errors.append(RuntimeError(f"the services refused a load event: {msg.data[:500]!r}"))

    async def run(self, idle_timeout: float = 120.0) -> LoadResult:
        sub = await self.nc.subscribe(f"{subjects.EVT_PREFIX}.>", cb=self._on_fact, pending_msgs_limit=1_000_000)
        refused = await self.nc.subscribe("lt.out.*.*.input_rejected", cb=self._on_refused)
        await self.nc.flush()
        began = time.perf_counter()
        try:
            for i, dossier in enumerate(self.plan):
                if self.rate:
                    delay = began + i / self.rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                await self.slots.acquire()  # back-pressure on the submissions themselves
                self.slots.release()
                self._spawn(self._submit(dossier))
            seen, stalled_since = -1, time.perf_counter()
            while len(self.routed) < len(self.plan) or self.tasks:
                if self.errors:
                    raise self.errors[0]
                if self.facts != seen:
                    seen, stalled_since = self.facts, time.perf_counter()
                elif time.perf_counter() - stalled_since > idle_timeout:
                    raise TimeoutError(f"no fact for {idle_timeout:.0f} s: {len(self.routed)}/{len(self.plan)} routed")
                await asyncio.sleep(0.05)
            ended = await wait_idle(self.js, idle_timeout)
        finally:
            await sub.unsubscribe()
            await refused.unsubscribe()
        events = len(self.plan) * EVENTS_PER_DOSSIER
        size = sum(len(d.submitted.payload) + sum(len(o.payload) for o in d.route) for d in self.plan)
        return LoadResult(len(self.plan), events, size, ended - began, sorted(self.latencies), self.facts)


async def wait_idle(js: JetStreamContext, timeout: float = 120.0, interval: float = 0.05) -> float:
    """Wait until every durable consumer of LT_IN and LT_EVT has nothing pending or unacknowledged
    and neither stream grew for three polls; returns the perf_counter time of the first idle poll.
    Raises when nothing moved (no stream grew, no consumer advanced) for `timeout` seconds."""
    moved_at = time.perf_counter()
    first_idle, last, last_progress = None, None, None
    quiet = 0
    while True:
        polled = time.perf_counter()
        seqs, progress, busy = [], [], False
        for stream in STREAMS:
            info = await js.stream_info(stream)
            seqs.append(info.state.last_seq)
            for consumer in await js.consumers_info(stream):
                progress.append(consumer.ack_floor.stream_seq if consumer.ack_floor else 0)
                if consumer.num_pending or consumer.num_ack_pending:
                    busy = True
        if not busy and seqs == last:
            quiet += 1
            first_idle = first_idle if first_idle is not None else polled
            if quiet >= 3:
                return first_idle
        else:
            quiet, first_idle = 0, None
        if (seqs, progress) != (last, last_progress):
            moved_at = polled
        elif polled - moved_at > timeout:
            raise TimeoutError(f"the services did not become idle: nothing moved for {timeout:.0f} s")
        last, last_progress = seqs, progress
        await asyncio.sleep(interval)


async def run_load(
    nc: Client, dossiers: int, *, rate: float | None = None, concurrency: int = 256, run_tag: str | None = None
) -> LoadResult:
    """Push `dossiers` whole dossiers through the services (`rate`: dossiers/s, None = flat out)."""
    return await LoadRun(nc, build_load(dossiers, run_tag), rate, concurrency).run()


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]
