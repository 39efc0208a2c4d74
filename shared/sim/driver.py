"""Plays a scenario against the running services over NATS, as the commune and district systems
and the postal integration would, on simulated time (`lt.sim.clock`).

Time advances one office hour at a time. In each step the driver submits the dossiers that
arrive (request/reply, which returns the dossier code), waits until the services have settled,
publishes every agency action of the step in business-time order, waits again, then ticks the
simulated clock so the deadline service sweeps. Settled = every durable consumer of LT_IN and
LT_EVT has nothing pending or unacknowledged and no stream grew, twice in a row.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from tqdm import tqdm

from shared.catalog import Catalog
from shared.contracts import subjects
from shared.settings import nats_servers
from shared.sim.scenario import Action, DossierScript, SimConfig, World, build_scenario

STEP = timedelta(hours=1)


@dataclass(order=True)
class Scheduled:
    at: datetime
    order: int
    kind: str = field(compare=False)  # "submit" | "agency" | "postal"
    script: DossierScript | None = field(compare=False, default=None)
    action: Action | None = field(compare=False, default=None)
    body: dict[str, Any] | None = field(compare=False, default=None)


@dataclass
class SimResult:
    world: World
    scripts: list[DossierScript]
    published: int = 0
    ticks: int = 0
    postal_orders: int = 0
    refused_inputs: list[dict[str, Any]] = field(default_factory=list)


class Simulation:
    """`run_tag` makes the external references of this run unique, so that running the same seed
    again against the same services submits new dossiers instead of finding the earlier ones
    (intake is idempotent per (agency, external_ref)); it changes nothing else of the script."""

    def __init__(
        self, nc: Client, catalog: Catalog, config: SimConfig, progress: bool = True, run_tag: str | None = None
    ) -> None:
        self.nc, self.js = nc, nc.jetstream()
        self.catalog, self.config, self.progress = catalog, config, progress
        self.run_tag = run_tag if run_tag is not None else uuid.uuid4().hex[:8]
        self.queue: list[Scheduled] = []
        self.counter = itertools.count()
        self.rng = random.Random(config.seed + 1)
        self.now = config.start
        self.world, scripts = build_scenario(catalog, config)
        self.result = SimResult(self.world, scripts)
        self.by_code: dict[str, DossierScript] = {}
        for script in scripts:
            self.push(Scheduled(script.submitted_at, next(self.counter), "submit", script))
        self.bar: tqdm | None = None

    def push(self, item: Scheduled) -> None:
        heapq.heappush(self.queue, item)

    async def run(self) -> SimResult:
        await self.nc.subscribe(subjects.out_postal("delivery_order"), cb=self._on_delivery_order)
        await self.nc.subscribe("lt.out.*.*.input_rejected", cb=self._on_rejected)
        await self.nc.subscribe("lt.out.postal.input_rejected", cb=self._on_rejected)
        await self.tick(self.now)
        self.open_progress()
        while self.queue or await self.more_to_come():
            step_end = self.catalog.calendar.next_opening(self.now + STEP)
            due = []
            while self.queue and self.queue[0].at <= step_end:
                due.append(heapq.heappop(self.queue))
            await self.play(due)
            await self.tick(step_end)
            self.now = step_end
            self.report_progress()
        await self.tick(self.now + timedelta(days=1))
        await self.settle()
        if self.bar is not None:
            self.bar.close()
        return self.result

    async def play(self, due: list[Scheduled]) -> None:
        submissions = [d for d in due if d.kind == "submit"]
        for chunk in _chunks(submissions, 50):
            await asyncio.gather(*(self.submit(item.script) for item in chunk))
        if submissions:
            await self.settle()
        messages = []
        for item in sorted(d for d in due if d.kind != "submit"):
            if item.kind == "agency" and item.script.code is not None:
                messages.append(self.agency_message(item.script, item.action))
            elif item.kind == "postal":
                messages.append((subjects.in_postal("shipment_status"), item.body))
        for chunk in _chunks(messages, 200):
            await asyncio.gather(*(self.publish(subject, body) for subject, body in chunk))
        if messages:
            await self.settle()

    async def more_to_come(self) -> bool:
        """Postal orders are dispatched in the background: give them a moment before stopping."""
        await self.settle()
        await asyncio.sleep(1.5)
        await self.settle()
        return bool(self.queue)

    async def submit(self, script: DossierScript) -> None:
        data = {
            "external_ref": f"{script.external_ref}-{self.run_tag}" if self.run_tag else script.external_ref,
            "procedure": script.procedure,
            "channel": "counter",
            "return_method": script.return_method,
            "applicant": {"kind": "citizen", "full_name": "Công dân mô phỏng", "id_number": "000000000000"},
        }
        if script.return_method == "postal":
            data["delivery_address"] = {"line": "Thôn mô phỏng", "commune": script.receiving_agency}
        body = envelope("submitted", script.receiving_agency, script.submitted_at, data)
        reply = await self.nc.request(subjects.RPC_INTAKE_SUBMIT, json.dumps(body).encode(), timeout=30)
        answer = json.loads(reply.data)
        if not answer.get("ok"):
            raise RuntimeError(f"intake refused a simulated dossier: {answer.get('error')}")
        script.code = answer["dossier_code"]
        self.by_code[script.code] = script
        for action in script.actions:
            self.push(Scheduled(action.at, next(self.counter), "agency", script, action))
        self.result.published += 1

    def agency_message(self, script: DossierScript, action: Action) -> tuple[str, dict[str, Any]]:
        body = envelope(action.type, action.agency, action.at, action.data, script.code)
        return subjects.in_agency(action.agency, action.type), body

    async def publish(self, subject: str, body: dict[str, Any]) -> None:
        await self.js.publish(
            subject,
            json.dumps(body, ensure_ascii=False).encode(),
            headers={"Nats-Msg-Id": body["event_id"]},
            timeout=30,
        )
        self.result.published += 1

    async def tick(self, now: datetime) -> None:
        await self.nc.publish(subjects.SIM_CLOCK, json.dumps({"now": now.isoformat()}).encode())
        await self.nc.flush()
        self.result.ticks += 1
        await self.settle()

    async def settle(self, quiet_rounds: int = 2) -> None:
        await settle(self.js, quiet_rounds)

    # -- the postal integration ------------------------------------------------------------------

    async def _on_delivery_order(self, msg) -> None:
        order = json.loads(msg.data)
        data = order.get("data", order)
        waybill, attempt = data["waybill"], data.get("attempt", 1)
        self.result.postal_orders += 1
        # Event time, not the moment this order arrived, so that a seed replays the same deliveries.
        at = datetime.fromisoformat(order["occurred_at"]) if "occurred_at" in order else self.now
        script = self.by_code.get(data.get("dossier_code", ""))
        rng = self.rng
        if script is not None:
            rng = random.Random(f"{self.config.seed}/{script.external_ref}/{attempt}")
            if script.actions:
                # The post collects the result from the agency that holds it: not before the receiving
                # agency has acknowledged the return hand-off, the script's last act.
                at = max(at, max(action.at for action in script.actions))
        fails = attempt == 1 and rng.random() < self.config.postal_failure_probability
        path = [("accepted", 30), ("picked_up", 60), ("in_transit", 180)]
        path.append(("delivery_failed" if fails else "delivered", rng.randrange(8 * 60, 40 * 60)))
        for status, minutes in path:
            at = at + timedelta(minutes=minutes)
            body = envelope("shipment_status", None, at, {"waybill": waybill, "status": status, "at": at.isoformat()})
            self.push(Scheduled(at, next(self.counter), "postal", body=body))

    async def _on_rejected(self, msg) -> None:
        self.result.refused_inputs.append({"subject": msg.subject, **json.loads(msg.data).get("data", {})})

    # -- progress (stderr) ------------------------------------------------------------------------

    def open_progress(self) -> None:
        """A bar over simulated office hours, up to the last scripted action (postal deliveries
        may run a little past it)."""
        if not self.progress:
            return
        last = max((a.at for s in self.result.scripts for a in s.actions), default=self.config.start)
        total = self.catalog.calendar.working_seconds_between(self.config.start, last) // 3600 + 1
        self.bar = tqdm(total=total, unit="giờ", desc="mô phỏng (simulated office hours)", dynamic_ncols=True)
        self.bar_start = self.config.start

    def report_progress(self) -> None:
        if self.bar is None:
            return
        done = self.catalog.calendar.working_seconds_between(self.bar_start, self.now) // 3600
        self.bar.update(max(0, done - self.bar.n))
        submitted = sum(1 for s in self.result.scripts if s.code)
        self.bar.set_postfix_str(
            f"{self.now:%d/%m/%Y %H:%M} · hồ sơ {submitted}/{len(self.result.scripts)} · "
            f"sự kiện {self.result.published} · còn chờ {len(self.queue)}",
            refresh=False,
        )


def envelope(type_: str, agency: str | None, at: datetime, data: dict[str, Any], code: str | None = None) -> dict:
    return {
        "event_id": str(uuid.uuid4()),
        "type": type_,
        "schema_version": 1,
        "occurred_at": at.isoformat(),
        "agency": agency,
        "dossier_code": code,
        "data": data,
    }


async def settle(js: JetStreamContext, quiet_rounds: int = 2, timeout: float = 120.0) -> None:
    """Wait until every durable consumer of the inbound and fact streams is idle."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    quiet, last = 0, None
    while quiet < quiet_rounds:
        snapshot = []
        busy = False
        for stream in ("LT_IN", "LT_EVT", "LT_OUT"):
            info = await js.stream_info(stream)
            snapshot.append(info.state.last_seq)
            if stream == "LT_OUT":
                continue
            for consumer in await js.consumers_info(stream):
                if consumer.num_pending or consumer.num_ack_pending:
                    busy = True
        quiet = quiet + 1 if (not busy and snapshot == last) else 0
        last = snapshot
        if loop.time() > deadline:
            raise TimeoutError("the services did not settle")
        await asyncio.sleep(0.03 if quiet else 0.01)


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i : i + size]


async def simulate(
    nats_url: str, catalog: Catalog, config: SimConfig, progress: bool = True, run_tag: str | None = None
) -> SimResult:
    nc = await nats.connect(nats_servers(nats_url))
    try:
        return await Simulation(nc, catalog, config, progress, run_tag).run()
    finally:
        await nc.drain()
