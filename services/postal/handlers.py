"""Postal's edges: dossier facts in, the post's status reports in, shipment facts out."""

from __future__ import annotations

import logging
import os
from datetime import datetime

import asyncpg
from pydantic import ValidationError

from services.postal import domain, repository
from services.postal.waybill import waybill as make_waybill
from shared.catalog import Catalog
from shared.clock import Clock
from shared.contracts import subjects
from shared.contracts.envelope import OutMessage, derived_event_id, envelope_message
from shared.contracts.events import Assigned, Envelope, PickupOrder, PickupRequestedData, ShipmentUpdated
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
from shared.messaging import Inbound, dead_letter

log = logging.getLogger(__name__)
SCHEMA = repository.SCHEMA


def max_attempts_from_env() -> int:
    return int(os.environ.get("LIENTHONG_POSTAL_MAX_ATTEMPTS", "2"))


class PostalHandlers:
    def __init__(self, catalog: Catalog, clock: Clock, max_attempts: int | None = None) -> None:
        self.catalog, self.clock = catalog, clock
        self.max_attempts = max_attempts or max_attempts_from_env()
        self.js = None  # set at start: pickup orders are published directly (see on_pickup_requested)

    async def on_dossier_fact(self, conn: asyncpg.Connection, inbound: Inbound) -> None:
        """Follow dossiers: remember them, and order delivery when a postal-return result is ready."""
        kind = inbound.subject.rsplit(".", 1)[-1]
        if kind not in ("received", "routed", "result_ready"):
            return
        obj, problem = decode_body(inbound.body)
        if problem:
            await self._dead_letter(conn, inbound, problem)
            return
        try:
            envelope = Envelope.model_validate(obj)
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
            back = next((s["index"] for s in data.get("stages", []) if s.get("role") == "return"), None)
            await repository.set_return_stage(conn, code, back)
        elif kind == "result_ready" and data.get("return_method") == "postal":
            dossier = await repository.dossier(conn, code)
            agency = dossier["receiving_agency"] if dossier else envelope.agency
            serial = await repository.next_waybill_serial(conn)
            created = await repository.create_shipment(
                conn, make_waybill(serial), "delivery", code, agency, envelope.occurred_at, order_pending=True
            )
            if created:
                log.info("delivery ordered for %s", code)

    async def on_status(self, conn: asyncpg.Connection, inbound: Inbound) -> None:
        """The post's reports (lt.in.postal.shipment_status): idempotent, in any order."""
        parsed = parse_postal_message(inbound.subject, inbound.body, self.clock.now())
        if isinstance(parsed, Rejection):
            await self._refuse(conn, inbound, parsed)
            return
        data = parsed.data
        shipment = await repository.shipment_for_update(conn, data.waybill)
        if shipment is None:
            await self._refuse(
                conn,
                inbound,
                Rejection(None, parsed.envelope.event_id, f"data.waybill: unknown waybill '{data.waybill}'"),
            )
            return
        problem = domain.impossible(shipment["state"], data.status)
        if problem:
            await self._refuse(
                conn, inbound, Rejection(None, parsed.envelope.event_id, f"waybill {data.waybill}: {problem}")
            )
            return
        attempt = shipment["attempt"]
        if not await repository.record_status(conn, data.waybill, data.status, data.at, attempt):
            return  # the same status of the same attempt again: already applied
        outcome = domain.apply_status(
            shipment["state"], attempt, domain.StatusReport(data.status, attempt), self.max_attempts
        )
        next_attempt = attempt + 1 if outcome.reorder else attempt
        await repository.update_shipment(conn, data.waybill, outcome.state, next_attempt, outcome.reorder)
        messages = await self._shipment_facts(conn, shipment, inbound.key)
        if outcome.back_to_counter and shipment["dossier_code"]:
            messages.append(await self._back_to_counter(conn, shipment, data.at, inbound.key))
        await enqueue(conn, SCHEMA, messages)

    async def on_pickup_requested(self, conn: asyncpg.Connection, inbound: Inbound) -> None:
        """Extension `lt.in.agency.{A}.pickup_requested`: the post fetches a citizen's dossier.
        The pickup order carries the address in its body and is published here, before commit,
        with a Nats-Msg-Id derived from the request: a redelivery republishes the same id, which
        JetStream drops, and no table ever holds the address."""
        parsed = parse_agency_message(inbound.subject, inbound.body, self._agency_for_token, self.clock.now())
        if isinstance(parsed, DeadLetter):
            await self._dead_letter(conn, inbound, parsed.reason)
            return
        if isinstance(parsed, Rejection):
            await self._refuse(conn, inbound, parsed)
            return
        data: PickupRequestedData = parsed.data
        if data.procedure not in self.catalog.procedures:
            await self._refuse(
                conn,
                inbound,
                Rejection(
                    parsed.agency_code,
                    parsed.envelope.event_id,
                    f"data.procedure: unknown procedure '{data.procedure}'",
                ),
            )
            return
        number = make_waybill(await repository.next_waybill_serial(conn))
        await repository.create_shipment(
            conn,
            number,
            "pickup",
            None,
            parsed.agency_code,
            parsed.envelope.occurred_at,
            procedure=data.procedure,
            external_ref=data.external_ref,
        )
        order = envelope_message(
            subjects.out_postal("pickup_order"),
            event_id=derived_event_id(inbound.key, 0),
            occurred_at=parsed.envelope.occurred_at,
            agency=parsed.agency_code,
            dossier_code=None,
            data=PickupOrder(
                waybill=number,
                agency=parsed.agency_code,
                procedure=data.procedure,
                external_ref=data.external_ref,
                address=data.pickup_address,
            ),
        )
        await self.js.publish(order.subject, order.payload, headers={"Nats-Msg-Id": order.msg_id}, timeout=10)

    # -- helpers -----------------------------------------------------------------------------------

    async def _link_pickup(self, conn, waybill: str, code: str, agency: str, key: str) -> None:
        shipment = await repository.link_pickup(conn, waybill, code)
        if shipment is not None:
            await enqueue(conn, SCHEMA, await self._shipment_facts(conn, shipment, key))

    async def _shipment_facts(self, conn, shipment, key: str) -> list[OutMessage]:
        """Facts for statuses not yet published; a pickup's wait until its dossier is known."""
        if shipment["dossier_code"] is None:
            return []
        return [
            envelope_message(
                subjects.fact("postal", "shipment_updated"),
                event_id=derived_event_id(key, n + 1),
                occurred_at=row["at"],
                agency=shipment["agency"],
                dossier_code=shipment["dossier_code"],
                data=ShipmentUpdated(
                    waybill=shipment["waybill"],
                    direction=shipment["direction"],
                    status=row["status"],
                    at=row["at"],
                    attempt=row["attempt"],
                ),
            )
            for n, row in enumerate(await repository.unemitted_statuses(conn, shipment["waybill"]))
        ]

    async def _back_to_counter(self, conn, shipment, at: datetime, key: str) -> OutMessage:
        dossier = await repository.dossier(conn, shipment["dossier_code"])
        index = dossier["return_stage_index"] if dossier and dossier["return_stage_index"] is not None else -1
        return envelope_message(
            subjects.out_agency(shipment["agency"], "assigned"),
            event_id=derived_event_id(key, 0),
            occurred_at=at,
            agency=shipment["agency"],
            dossier_code=shipment["dossier_code"],
            data=Assigned(
                stage_index=index,
                role="return",
                procedure=dossier["procedure"] if dossier else "",
                from_agency=None,
                budget_hours=0,
                sent_at=at,
                due_at=at,
                purpose="return",
            ),
        )

    async def _refuse(self, conn, inbound: Inbound, rejection: Rejection) -> None:
        log.info("refused %s: %s", inbound.subject, rejection.reason)
        await enqueue(conn, SCHEMA, [rejection_message(rejection, inbound.subject, inbound.key)])

    async def _dead_letter(self, conn, inbound: Inbound, reason: str) -> None:
        log.warning("dead letter on %s: %s", inbound.subject, reason)
        await dead_letter(conn, SCHEMA, "postal", inbound, reason)
        await enqueue(conn, SCHEMA, [dead_letter_message("postal", inbound.subject, inbound.key, reason)])

    def _agency_for_token(self, token: str) -> str | None:
        agency = self.catalog.agency_by_token(token)
        return agency.code if agency else None
