"""Sends pending delivery orders to the post. The address is asked from intake at this moment
and goes only into the order's body: it is never written to postal's tables, outbox or logs."""

from __future__ import annotations

import asyncio
import json
import logging

import asyncpg
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from services.postal import repository
from shared.calendar import VN_TZ
from shared.contracts import subjects
from shared.contracts.envelope import OutMessage, envelope_message
from shared.contracts.events import DeliveryAddress, DeliveryOrder

log = logging.getLogger(__name__)
ADDRESS_TIMEOUT_SECONDS = 10


def retry_in_seconds(failures: int) -> float:
    """Back-off after `failures` failed dispatches of one order: 1 s, 2 s, 4 s ... at most 5 min."""
    return float(min(2 ** max(failures, 0), 300))


def delivery_order(shipment, address: dict) -> OutMessage:
    """The order for the shipment's attempt in progress, dated when that attempt was ordered."""
    attempt = shipment["attempt"]
    return envelope_message(
        subjects.out_postal("delivery_order"),
        event_id=f"{shipment['waybill']}/delivery/{attempt}",
        occurred_at=shipment["ordered_at"].astimezone(VN_TZ),
        agency=shipment["agency"],
        dossier_code=shipment["dossier_code"],
        data=DeliveryOrder(
            waybill=shipment["waybill"],
            dossier_code=shipment["dossier_code"],
            receiving_agency=shipment["agency"],
            address=DeliveryAddress.model_validate(address),
            cod_amount_vnd=shipment["cod_amount_vnd"],
            attempt=attempt,
        ),
    )


async def _address(nc: Client, code: str) -> tuple[dict | None, str]:
    """The dossier's delivery address from intake, or (None, why not)."""
    request = json.dumps({"dossier_code": code}).encode()
    try:
        reply = await nc.request(subjects.RPC_INTAKE_DELIVERY_ADDRESS, request, timeout=ADDRESS_TIMEOUT_SECONDS)
        answer = json.loads(reply.data)
    except (NatsError, TimeoutError, ValueError) as exc:
        return None, f"intake did not answer ({type(exc).__name__})"
    if not answer.get("ok"):
        return None, str(answer.get("error") or "intake refused")
    if not answer.get("address"):
        return None, "intake has no delivery address on record"
    return answer["address"], ""


async def dispatch_once(pool: asyncpg.Pool, nc: Client, js: JetStreamContext) -> int:
    """Publish every pending delivery order whose time has come; returns how many were sent.
    An order that cannot be sent yet stays pending and is tried again after a growing delay."""
    sent = 0
    async with pool.acquire() as conn, conn.transaction():
        for shipment in await repository.pending_orders(conn):
            waybill, code = shipment["waybill"], shipment["dossier_code"]
            address, problem = await _address(nc, code)
            if address is None:
                delay = retry_in_seconds(shipment["dispatch_failures"])
                log.warning(
                    "delivery order %s of dossier %s not sent: %s; retry in %.0f s", waybill, code, problem, delay
                )
                await repository.dispatch_failed(conn, waybill, delay)
                continue
            order = delivery_order(shipment, address)
            await js.publish(order.subject, order.payload, headers={"Nats-Msg-Id": order.msg_id}, timeout=10)
            await repository.order_sent(conn, waybill, shipment["attempt"])
            log.info("delivery order %s attempt %d sent for %s", waybill, shipment["attempt"], code)
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
        except Exception as exc:  # NATS or the database away: the orders stay pending and are retried
            log.warning("delivery dispatcher: %s; retrying", exc)
        await asyncio.sleep(0.5)
