"""Postal's edges: dossier facts in, the post's status reports in, pickup requests in; orders,
shipment facts and the result's way back to the counter out."""

from __future__ import annotations

import logging
import os
from datetime import datetime

import asyncpg
from pydantic import ValidationError

from services.postal import domain, repository
from services.postal.pickup import redacted_pickup_body
from services.postal.waybill import waybill as make_waybill
from shared.calendar import VN_TZ
from shared.catalog import Catalog
from shared.clock import Clock
from shared.contracts import subjects
from shared.contracts.envelope import OutMessage, derived_event_id, envelope_message
from shared.contracts.events import (
    Assigned,
    Envelope,
    HandoffSent,
    PickupOrder,
    PickupOrdered,
    PickupRequestedData,
    ShipmentUpdated,
)
from shared.contracts.inbound import (
    DeadLetter,
    Rejection,
    decode_body,
    describe_validation_error,
    parse_agency_message,
    parse_postal_message,
)
from shared.contracts.replies import dead_letter_message, rejection_message
from shared.db.outbox import enqueue
from shared.messaging import TRANSIENT_ERRORS, Inbound, dead_letter

log = logging.getLogger(__name__)
SCHEMA = repository.SCHEMA
MAX_ATTEMPTS_SETTING = "LIENTHONG_POSTAL_MAX_ATTEMPTS"
DEFAULT_MAX_ATTEMPTS = 2


def max_attempts_from(raw: str | None) -> int:
    """LIENTHONG_POSTAL_MAX_ATTEMPTS: delivery attempts (orders) before a result goes back to the
    receiving agency's counter; unset means 2 (the first delivery and one retry)."""
    if raw is None or not raw.strip():
        return DEFAULT_MAX_ATTEMPTS
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError(f"{MAX_ATTEMPTS_SETTING} must be a whole number of delivery attempts, not {raw!r}") from None
    if not 1 <= value <= 100:
        raise ValueError(f"{MAX_ATTEMPTS_SETTING} must be between 1 and 100, not {raw!r}")
    return value


def max_attempts_from_env() -> int:
    return max_attempts_from(os.environ.get(MAX_ATTEMPTS_SETTING))


class PostalHandlers:
    def __init__(self, catalog: Catalog, clock: Clock, max_attempts: int | None = None) -> None:
        self.catalog, self.clock = catalog, clock
        self.max_attempts = max_attempts or max_attempts_from_env()
        self.js = None  # set at start: pickup orders are published directly (see on_pickup_requested)
        self.pool: asyncpg.Pool | None = None  # set at start: pickup waybills are reserved on their own

    # -- dossier facts ------------------------------------------------------------------------------

    async def on_dossier_fact(self, conn: asyncpg.Connection, inbound: Inbound) -> None:
        """Follow dossiers: remember them, and order delivery when a postal-return result is ready."""
        kind = inbound.subject.rsplit(".", 1)[-1]
        if kind not in ("received", "routed", "handoff_sent", "result_ready"):
            return
        obj, problem = decode_body(inbound.body)
        if problem:
            await self._dead_letter(conn, inbound, problem)
            return
        try:
            envelope = Envelope.model_validate(obj)
            sent = HandoffSent.model_validate(envelope.data) if kind == "handoff_sent" else None
        except ValidationError as exc:
            await self._dead_letter(conn, inbound, describe_validation_error(exc))
            return
        code, data = envelope.dossier_code, envelope.data
        if code is None:
            return
        if kind == "received":
            await repository.upsert_dossier(
                conn,
                code,
                data["receiving_agency"],
                data["procedure"],
                data["return_method"],
                data.get("postal_waybill"),
            )
            if data.get("postal_waybill"):
                await self._link_pickup(conn, data["postal_waybill"], code, data["receiving_agency"], inbound.key)
        elif kind == "routed":
            stages = data.get("stages", [])
            back = next((s["index"] for s in stages if s.get("role") == "return"), None)
            await repository.set_plan(conn, code, back, max((s["index"] for s in stages), default=None))
        elif sent is not None and sent.role == "return":
            budget = round(sent.budget_hours * 3600)
            await repository.set_return_stage_start(conn, code, sent.stage_index, sent.sent_at, budget)
        elif kind == "result_ready" and data.get("return_method") == "postal":
            dossier = await repository.dossier(conn, code)
            agency = dossier["receiving_agency"] if dossier else envelope.agency
            serial = await repository.next_waybill_serial(conn)
            created = await repository.create_shipment(
                conn, make_waybill(serial), "delivery", code, agency, envelope.occurred_at, order_pending=True
            )
            if created:
                log.info("delivery ordered for %s", code)

    # -- the post's status reports --------------------------------------------------------------------

    async def on_status(self, conn: asyncpg.Connection, inbound: Inbound) -> None:
        """The post's reports (lt.in.postal.shipment_status): idempotent, in any order; an unknown
        waybill or an impossible status is refused on lt.out.postal.input_rejected."""
        parsed = parse_postal_message(inbound.subject, inbound.body, self.clock.now())
        if isinstance(parsed, Rejection):
            await self._refuse(conn, inbound, parsed)
            return
        data, event_id = parsed.data, parsed.envelope.event_id
        row = await repository.shipment_for_update(conn, data.waybill)
        if row is None:
            await self._refuse(
                conn, inbound, Rejection(None, event_id, f"data.waybill: unknown waybill '{data.waybill}'")
            )
            return
        shipment = domain.Shipment(
            row["waybill"], row["direction"], row["created_at"], await repository.reports(conn, data.waybill)
        )
        result = domain.receive(shipment, data.status, data.at, data.attempt, self.max_attempts)
        if isinstance(result, domain.Impossible):
            await self._refuse(conn, inbound, Rejection(None, event_id, result.reason))
            return
        if isinstance(result, domain.Duplicate):
            return  # the same status of the same attempt again: already applied
        after = result.after
        await repository.record_status(conn, data.waybill, result.report, after.name)
        await repository.update_shipment(
            conn, data.waybill, after.name, after.attempt, after.ordered_at, result.reorder
        )
        messages = await self._shipment_facts(conn, row, inbound.key)
        if result.back_to_counter and row["direction"] == "delivery" and row["dossier_code"]:
            messages.append(await self._back_to_counter(conn, row, shipment, result.report.at, inbound.key))
        await enqueue(conn, SCHEMA, messages)

    # -- pickups (postal intake) ----------------------------------------------------------------------

    async def on_pickup_requested(self, conn: asyncpg.Connection, inbound: Inbound) -> None:
        """Extension `lt.in.agency.{A}.pickup_requested`: the post fetches a citizen's dossier.

        The pickup order carries the address in its body and is published from here, so that no
        table ever holds the address; its waybill is reserved (and committed) first, and its
        Nats-Msg-Id derives from the request, so a redelivered request publishes the very same
        order (JetStream drops the repeat). Anything that goes wrong is dead-lettered without the
        address."""
        try:
            async with conn.transaction():
                await self._pickup(conn, inbound)
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:  # no traceback: an exception's text may quote the address
            log.error(
                "postal: pickup request on %s failed (key %s): %s", inbound.subject, inbound.key, type(exc).__name__
            )
            await self._dead_letter(conn, inbound, f"internal error: {type(exc).__name__}")

    async def _pickup(self, conn: asyncpg.Connection, inbound: Inbound) -> None:
        parsed = parse_agency_message(inbound.subject, inbound.body, self._agency_for_token, self.clock.now())
        if isinstance(parsed, DeadLetter):
            await self._dead_letter(conn, inbound, parsed.reason)
            return
        if isinstance(parsed, Rejection):
            await self._refuse(conn, inbound, parsed)
            return
        data: PickupRequestedData = parsed.data
        agency, envelope = parsed.agency_code, parsed.envelope
        if data.procedure not in self.catalog.procedures:
            reason = f"data.procedure: unknown procedure '{data.procedure}'"
            await self._refuse(conn, inbound, Rejection(agency, envelope.event_id, reason))
            return
        earlier = await repository.open_pickup(conn, agency, data.external_ref)
        reserved = await self._reserved_waybill(inbound.key)
        if earlier is not None and earlier["waybill"] != reserved:
            reason = (
                f"data.external_ref: a pickup for '{data.external_ref}' was already ordered "
                f"(waybill {earlier['waybill']}, state '{earlier['state']}')"
            )
            await self._refuse(conn, inbound, Rejection(agency, envelope.event_id, reason))
            return
        number = reserved or await self._reserve_waybill(inbound.key)
        await repository.create_shipment(
            conn,
            number,
            "pickup",
            None,
            agency,
            envelope.occurred_at,
            procedure=data.procedure,
            external_ref=data.external_ref,
        )
        ordered = envelope_message(
            subjects.out_agency(agency, "pickup_ordered"),
            event_id=derived_event_id(inbound.key, 1),
            occurred_at=envelope.occurred_at,
            agency=agency,
            dossier_code=None,
            data=PickupOrdered(
                waybill=number,
                procedure=data.procedure,
                external_ref=data.external_ref,
                requested_event_id=envelope.event_id,
            ),
        )
        await enqueue(conn, SCHEMA, [ordered])
        order = envelope_message(
            subjects.out_postal("pickup_order"),
            event_id=derived_event_id(inbound.key, 0),
            occurred_at=envelope.occurred_at,
            agency=agency,
            dossier_code=None,
            data=PickupOrder(
                waybill=number,
                agency=agency,
                procedure=data.procedure,
                external_ref=data.external_ref,
                address=data.pickup_address,
            ),
        )
        await self.js.publish(order.subject, order.payload, headers={"Nats-Msg-Id": order.msg_id}, timeout=10)
        log.info("pickup %s ordered for %s (%s)", number, agency, data.procedure)

    async def _reserved_waybill(self, key: str) -> str | None:
        async with self.pool.acquire() as own:
            return await repository.reserved_pickup_waybill(own, key)

    async def _reserve_waybill(self, key: str) -> str:
        """A waybill for the request, committed at once on a connection of its own: the batch may
        still roll back after the order is out, and its redelivery must send the same waybill."""
        async with self.pool.acquire() as own:
            return await repository.reserve_pickup_waybill(
                own, key, make_waybill(await repository.next_waybill_serial(own))
            )

    # -- helpers -------------------------------------------------------------------------------------

    async def _link_pickup(self, conn, waybill: str, code: str, agency: str, key: str) -> None:
        shipment = await repository.link_pickup(conn, waybill, code, agency)
        if shipment is None:
            log.warning("dossier %s names postal waybill %s, which is no open pickup of %s", code, waybill, agency)
            return
        await enqueue(conn, SCHEMA, await self._shipment_facts(conn, shipment, key))

    async def _shipment_facts(self, conn, shipment, key: str) -> list[OutMessage]:
        """Facts for statuses not yet published; a pickup's wait until its dossier is known."""
        if shipment["dossier_code"] is None:
            return []
        return [
            envelope_message(
                subjects.fact("postal", "shipment_updated"),
                event_id=derived_event_id(key, n + 1),
                occurred_at=row["at"].astimezone(VN_TZ),
                agency=shipment["agency"],
                dossier_code=shipment["dossier_code"],
                data=ShipmentUpdated(
                    waybill=shipment["waybill"],
                    direction=shipment["direction"],
                    status=row["status"],
                    at=row["at"].astimezone(VN_TZ),
                    attempt=row["attempt"],
                    state=row["state"],
                ),
            )
            for n, row in enumerate(await repository.unemitted_statuses(conn, shipment["waybill"]))
        ]

    async def _back_to_counter(self, conn, row, shipment: domain.Shipment, at: datetime, key: str) -> OutMessage:
        """`lt.out.agency.{A}.assigned` (purpose `return`): the post brings the result back to the
        receiving agency's counter, which hands it out there (its `result_returned` closes the dossier).
        With a return stage, its budget and its due time as the deadline service judges it; without
        one, the plan's last stage with no budget (the result is simply due at the counter)."""
        dossier = await repository.dossier(conn, row["dossier_code"])
        index, budget, due = -1, 0, at
        if dossier is not None and dossier["return_sent_at"] is not None:
            index, budget = dossier["return_stage_index"], dossier["return_budget_seconds"]
            start = dossier["return_sent_at"]
            due = domain.return_stage_due(self.catalog.calendar, start, budget, domain.transit_start(shipment), at)
        elif dossier is not None and dossier["last_stage_index"] is not None:
            index = dossier["last_stage_index"]
        return envelope_message(
            subjects.out_agency(row["agency"], "assigned"),
            event_id=derived_event_id(key, 0),
            occurred_at=at,
            agency=row["agency"],
            dossier_code=row["dossier_code"],
            data=Assigned(
                stage_index=index,
                role="return",
                procedure=dossier["procedure"] if dossier else "",
                from_agency=None,
                budget_hours=round(budget / 3600, 4),
                sent_at=at,
                due_at=due,
                purpose="return",
            ),
        )

    async def _refuse(self, conn, inbound: Inbound, rejection: Rejection) -> None:
        log.info("refused %s: %s", inbound.subject, rejection.reason)
        await enqueue(conn, SCHEMA, [rejection_message(rejection, inbound.subject, inbound.key)])

    async def _dead_letter(self, conn, inbound: Inbound, reason: str) -> None:
        """Dead-letter a message with its reason; a pickup request's address is never kept."""
        log.warning("dead letter on %s: %s", inbound.subject, reason)
        if inbound.subject.endswith(".pickup_requested"):
            inbound = Inbound(inbound.subject, redacted_pickup_body(inbound.body), inbound.key, inbound.num_delivered)
        await dead_letter(conn, SCHEMA, "postal", inbound, reason)
        await enqueue(conn, SCHEMA, [dead_letter_message("postal", inbound.subject, inbound.key, reason)])

    def _agency_for_token(self, token: str) -> str | None:
        agency = self.catalog.agency_by_token(token)
        return agency.code if agency else None
