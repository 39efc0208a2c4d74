"""Sends pending delivery orders to the post. The address is asked from intake at this moment
and goes only into the order's body: it is never written to postal's tables or outbox."""

from __future__ import annotations

import asyncio
import json
import logging

import asyncpg
from nats.aio.client import Client
from nats.js import JetStreamContext

from services.postal import repository
from shared.contracts import subjects
from shared.contracts.envelope import envelope_message
from shared.contracts.events import DeliveryAddress, DeliveryOrder

log = logging.getLogger(__name__)


async def dispatch_once(pool: asyncpg.Pool, nc: Client, js: JetStreamContext) -> int:
    """Publish every pending delivery order once; returns how many were sent."""
    sent = 0
    async with pool.acquire() as conn, conn.transaction():
        for shipment in await repository.pending_orders(conn):
            code = shipment["dossier_code"]
            request = json.dumps({"dossier_code": code}).encode()
            answer = json.loads((await nc.request(subjects.RPC_INTAKE_DELIVERY_ADDRESS, request, timeout=10)).data)
            if not answer.get("ok") or not answer.get("address"):
                log.warning("no delivery address for %s: %s", code, answer.get("error", "none on record"))
                continue
            attempt = shipment["attempt"]
            order = envelope_message(
                subjects.out_postal("delivery_order"),
                event_id=f"{shipment['waybill']}/delivery/{attempt}",
                occurred_at=shipment["created_at"],
                agency=shipment["agency"],
                dossier_code=code,
                data=DeliveryOrder(
                    waybill=shipment["waybill"],
                    dossier_code=code,
                    receiving_agency=shipment["agency"],
                    address=DeliveryAddress.model_validate(answer["address"]),
                    cod_amount_vnd=shipment["cod_amount_vnd"],
                    attempt=attempt,
                ),
            )
            await js.publish(order.subject, order.payload, headers={"Nats-Msg-Id": order.msg_id}, timeout=10)
            await repository.order_sent(conn, shipment["waybill"])
            sent += 1
    return sent


async def run_dispatcher(runtime) -> None:
    """Background task: send pending orders every half second; keep them pending on failure."""
    while True:
        try:
            while await dispatch_once(runtime.pool, runtime.nc, runtime.js):
                pass
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # intake or NATS away: the orders stay pending and are retried
            log.warning("delivery dispatcher: %s; retrying", exc)
        await asyncio.sleep(0.5)
