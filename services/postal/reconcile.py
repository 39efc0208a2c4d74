"""Postal's own step of `lienthong reconcile` (shared/reconcile): delivery orders are published
directly, not through the outbox (their body carries the address, which postal never stores), so
the outbox cannot republish them. A delivery order is re-sent when the post has reported nothing
for its attempt and LT_OUT has no message with its id (`{waybill}/delivery/{attempt}`): it goes
back to pending, and the dispatcher asks intake for the address and publishes it again under the
same id, as the first time.

Pickup orders cannot be re-sent (their address came in the agency's request and was not kept);
the reply counts the pickups the post never acknowledged, for the operators to follow up.
With `since`, delivery orders from before it are checked against a partial scan and may be sent
again although the stream still has them: the same id, which the post's dedupe absorbs.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from shared.reconcile import PRESENT_TABLE, ReconcileRequest

OUTSTANDING = """
SELECT s.waybill FROM postal.shipments s
WHERE s.direction = 'delivery' AND NOT s.order_pending
  AND NOT EXISTS (SELECT 1 FROM postal.shipment_events e WHERE e.waybill = s.waybill AND e.attempt = s.attempt)
  AND NOT EXISTS (SELECT 1 FROM {present} p
                  WHERE p.stream = 'LT_OUT' AND p.msg_id = s.waybill || '/delivery/' || s.attempt)
ORDER BY s.created_at, s.waybill
"""
UNACKNOWLEDGED_PICKUPS = """
SELECT count(*) FROM postal.shipments s
WHERE s.direction = 'pickup'
  AND NOT EXISTS (SELECT 1 FROM postal.shipment_events e WHERE e.waybill = s.waybill)
"""


async def resend_lost_delivery_orders(conn: asyncpg.Connection, request: ReconcileRequest) -> dict[str, Any]:
    lost = [r["waybill"] for r in await conn.fetch(OUTSTANDING.format(present=PRESENT_TABLE))]
    if lost and not request.dry_run:
        await conn.execute("UPDATE postal.shipments SET order_pending = true WHERE waybill = ANY($1::text[])", lost)
    return {
        "delivery_orders_lost": len(lost),
        "delivery_orders_resent": 0 if request.dry_run else len(lost),
        "pickup_orders_unacknowledged": await conn.fetchval(UNACKNOWLEDGED_PICKUPS),
    }
