"""Routing's edges: parse, lock the dossier, decide (pure), save state and outbox rows."""

from __future__ import annotations

import logging

import asyncpg
from pydantic import ValidationError

from services.routing import machine, repository
from shared.catalog import Catalog
from shared.clock import Clock
from shared.contracts import subjects
from shared.contracts.envelope import OutMessage, derived_event_id, envelope_message
from shared.contracts.events import DossierReceived, Envelope, ShipmentUpdated
from shared.contracts.inbound import (
    DeadLetter,
    Rejection,
    decode_body,
    describe_validation_error,
    parse_agency_message,
)
from shared.contracts.replies import dead_letter_message, rejection_message
from shared.db.outbox import enqueue
from shared.messaging import Inbound, RetryLater, dead_letter

log = logging.getLogger(__name__)
SCHEMA = repository.SCHEMA
NOT_OURS = frozenset({"submitted", "pickup_requested"})  # intake's and postal's
UNKNOWN_DOSSIER_RETRIES = 3


def outgoing(decision: machine.Decision, code: str, cause: str) -> list[OutMessage]:
    messages = [
        envelope_message(
            subjects.fact("dossier", f.type),
            event_id=derived_event_id(cause, n),
            occurred_at=f.occurred_at,
            agency=f.agency,
            dossier_code=code,
            data=f.data,
        )
        for n, f in enumerate(decision.facts)
    ]
    offset = len(messages)
    messages += [
        envelope_message(
            subjects.out_agency(a.agency, "assigned"),
            event_id=derived_event_id(cause, offset + n),
            occurred_at=a.occurred_at,
            agency=a.agency,
            dossier_code=code,
            data=a.data,
        )
        for n, a in enumerate(decision.assignments)
    ]
    return messages


class RoutingHandlers:
    def __init__(self, catalog: Catalog, clock: Clock) -> None:
        self.catalog, self.clock = catalog, clock

    async def on_received(self, conn: asyncpg.Connection, inbound: Inbound) -> None:
        """Turn a received dossier into its plan (lt.evt.dossier.received → routed)."""
        parsed = self._parse_fact(inbound, DossierReceived)
        if isinstance(parsed, str):
            await self._dead_letter(conn, inbound, parsed)
            return
        envelope, received = parsed
        if received.procedure not in self.catalog.procedures:
            await self._dead_letter(conn, inbound, f"data.procedure: unknown procedure '{received.procedure}'")
            return
        decision = machine.start_dossier(envelope.dossier_code, received, self.catalog)
        if await repository.insert(conn, decision.state):
            await enqueue(conn, SCHEMA, outgoing(decision, envelope.dossier_code, inbound.key))

    async def on_agency_action(self, conn: asyncpg.Connection, inbound: Inbound) -> RetryLater | None:
        """Move dossiers along their plan as agencies report what they did (lt.in.agency.{A}.*)."""
        action = inbound.subject.rsplit(".", 1)[-1]
        if action in NOT_OURS:
            return None
        parsed = parse_agency_message(inbound.subject, inbound.body, self._agency_for_token, self.clock.now())
        if isinstance(parsed, DeadLetter):
            await self._dead_letter(conn, inbound, parsed.reason)
            return None
        if isinstance(parsed, Rejection):
            await self._refuse(conn, inbound, parsed)
            return None
        envelope = parsed.envelope
        state = await repository.load_for_update(conn, envelope.dossier_code)
        if state is None:
            if inbound.num_delivered <= UNKNOWN_DOSSIER_RETRIES:
                return RetryLater(f"dossier {envelope.dossier_code} not known yet", delay=0.5 * inbound.num_delivered)
            await self._refuse(
                conn,
                inbound,
                Rejection(
                    parsed.agency_code, envelope.event_id, f"dossier_code: unknown dossier '{envelope.dossier_code}'"
                ),
            )
            return None
        result = machine.decide(state, action, parsed.agency_code, envelope.occurred_at, parsed.data, self.catalog)
        if isinstance(result, machine.Refusal):
            await self._refuse(conn, inbound, Rejection(parsed.agency_code, envelope.event_id, result.reason))
            return None
        if result.state is not state and result.state != state:
            await repository.update(conn, result.state)
            await enqueue(conn, SCHEMA, outgoing(result, state.code, inbound.key))
        return None

    async def on_shipment(self, conn: asyncpg.Connection, inbound: Inbound) -> None:
        """A delivered result closes the dossier as returned via the post (lt.evt.postal.shipment_updated)."""
        parsed = self._parse_fact(inbound, ShipmentUpdated)
        if isinstance(parsed, str):
            await self._dead_letter(conn, inbound, parsed)
            return
        envelope, shipment = parsed
        if shipment.direction != "delivery" or shipment.status != "delivered" or envelope.dossier_code is None:
            return
        state = await repository.load_for_update(conn, envelope.dossier_code)
        if state is None:
            await self._dead_letter(conn, inbound, f"unknown dossier '{envelope.dossier_code}'")
            return
        result = machine.delivered_by_post(state, shipment.at, self.catalog)
        if isinstance(result, machine.Refusal):
            log.info("delivery of %s not applied: %s", state.code, result.reason)
            return
        await repository.update(conn, result.state)
        await enqueue(conn, SCHEMA, outgoing(result, state.code, inbound.key))

    # -- helpers ----------------------------------------------------------------------------------

    def _parse_fact(self, inbound: Inbound, model):
        obj, problem = decode_body(inbound.body)
        if problem:
            return problem
        try:
            envelope = Envelope.model_validate(obj)
            data = model.model_validate(envelope.data)
        except ValidationError as exc:
            return describe_validation_error(exc)
        if envelope.dossier_code is None:
            return "dossier_code: required on a dossier fact"
        return envelope, data

    async def _refuse(self, conn: asyncpg.Connection, inbound: Inbound, rejection: Rejection) -> None:
        log.info("refused %s: %s", inbound.subject, rejection.reason)
        await enqueue(conn, SCHEMA, [rejection_message(rejection, inbound.subject, inbound.key)])

    async def _dead_letter(self, conn: asyncpg.Connection, inbound: Inbound, reason: str) -> None:
        log.warning("dead letter on %s: %s", inbound.subject, reason)
        await dead_letter(conn, SCHEMA, "routing", inbound, reason)
        await enqueue(conn, SCHEMA, [dead_letter_message("routing", inbound.subject, inbound.key, reason)])

    def _agency_for_token(self, token: str) -> str | None:
        agency = self.catalog.agency_by_token(token)
        return agency.code if agency else None
