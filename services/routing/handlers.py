"""Routing's edges: parse, lock the dossier, decide (pure), save the state and its outbox rows
in the consumer's transaction (the ack follows the commit, shared.messaging)."""

from __future__ import annotations

import logging

import asyncpg
from pydantic import BaseModel, ValidationError

from services.routing import machine, repository
from shared.catalog import Catalog
from shared.clock import Clock
from shared.contracts import subjects
from shared.contracts.envelope import OutMessage, derived_event_id, envelope_message
from shared.contracts.events import DossierReceived, Envelope, ShipmentUpdated
from shared.contracts.inbound import DeadLetter, Rejection, decode_body, describe_validation_error, parse_agency_message
from shared.contracts.replies import dead_letter_message, rejection_message
from shared.db.outbox import enqueue
from shared.messaging import Inbound, RetryLater, dead_letter

log = logging.getLogger(__name__)
SCHEMA = repository.SCHEMA
NOT_OURS = frozenset({"submitted", "pickup_requested"})  # intake's and postal's: acknowledged, no output


def outgoing(decision: machine.Decision, code: str, cause: str) -> list[OutMessage]:
    """The decision's facts, then its assignments, with event ids derived from the cause's key."""
    facts = [
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
    assignments = [
        envelope_message(
            subjects.out_agency(a.agency, "assigned"),
            event_id=derived_event_id(cause, len(facts) + n),
            occurred_at=a.occurred_at,
            agency=a.agency,
            dossier_code=code,
            data=a.data,
        )
        for n, a in enumerate(decision.assignments)
    ]
    return facts + assignments


class RoutingHandlers:
    def __init__(self, catalog: Catalog, clock: Clock) -> None:
        self.catalog, self.clock = catalog, clock

    async def on_received(self, conn: asyncpg.Connection, inbound: Inbound) -> None:
        """Turn a received dossier into its plan (lt.evt.dossier.received -> dossier.routed)."""
        parsed = _parse_fact(inbound, DossierReceived)
        if isinstance(parsed, str):
            await self._dead_letter(conn, inbound, parsed)
            return
        envelope, received = parsed
        if received.procedure not in self.catalog.procedures:
            await self._dead_letter(conn, inbound, f"data.procedure: '{received.procedure}' is not in the catalog")
            return
        if received.receiving_agency not in self.catalog.agencies:
            reason = f"data.receiving_agency: '{received.receiving_agency}' is not in the catalog"
            await self._dead_letter(conn, inbound, reason)
            return
        decision = machine.start_dossier(envelope.dossier_code, received, self.catalog)
        if await repository.insert(conn, decision.state):
            await enqueue(conn, SCHEMA, outgoing(decision, envelope.dossier_code, inbound.key))

    async def on_agency_action(self, conn: asyncpg.Connection, inbound: Inbound) -> RetryLater | None:
        """Move dossiers along their plan as agencies report what they did (lt.in.agency.{A}.*)."""
        if inbound.subject.rsplit(".", 1)[-1] in NOT_OURS:
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
            refusal = machine.unknown_dossier(envelope.dossier_code, inbound.num_delivered)
            if refusal is None:
                return RetryLater(f"dossier {envelope.dossier_code} not known yet", delay=inbound.num_delivered)
            await self._refuse(conn, inbound, Rejection(parsed.agency_code, envelope.event_id, refusal.reason))
            return None
        result = machine.decide(state, envelope, parsed.data, self.catalog)
        if isinstance(result, machine.Refusal):
            await self._refuse(conn, inbound, Rejection(parsed.agency_code, envelope.event_id, result.reason))
            return None
        await self._apply(conn, state, result, inbound)
        return None

    async def on_shipment(self, conn: asyncpg.Connection, inbound: Inbound) -> None:
        """A delivered result closes the dossier as returned by post (lt.evt.postal.shipment_updated)."""
        parsed = _parse_fact(inbound, ShipmentUpdated, code_required=False)
        if isinstance(parsed, str):
            await self._dead_letter(conn, inbound, parsed)
            return
        envelope, shipment = parsed
        if shipment.direction != "delivery" or shipment.status != "delivered":
            return  # pickups (whose dossier may not exist yet) and transit are the post's business
        if envelope.dossier_code is None:
            await self._dead_letter(conn, inbound, "dossier_code: required on a delivered result")
            return
        state = await repository.load_for_update(conn, envelope.dossier_code)
        if state is None:
            await self._dead_letter(conn, inbound, f"dossier_code: unknown dossier '{envelope.dossier_code}'")
            return
        result = machine.decide(state, envelope, shipment, self.catalog)
        if isinstance(result, machine.Refusal):
            # The post is no agency: nobody to answer; the fact stays in LT_EVT for the record.
            log.warning("delivery of dossier %s not applied: %s", state.code, result.reason)
            return
        await self._apply(conn, state, result, inbound)

    # -- helpers ----------------------------------------------------------------------------------

    async def _apply(self, conn: asyncpg.Connection, before, decision: machine.Decision, inbound: Inbound) -> None:
        if not decision.facts and decision.state == before:
            return  # accepted as a no-op (e.g. the explicit receipt of a stage received automatically)
        await repository.save(conn, before, decision.state, decision.facts)
        await enqueue(conn, SCHEMA, outgoing(decision, before.code, inbound.key))

    async def _refuse(self, conn: asyncpg.Connection, inbound: Inbound, rejection: Rejection) -> None:
        log.info("refused %s (key %s): %s", inbound.subject, inbound.key, rejection.reason)
        await enqueue(conn, SCHEMA, [rejection_message(rejection, inbound.subject, inbound.key)])

    async def _dead_letter(self, conn: asyncpg.Connection, inbound: Inbound, reason: str) -> None:
        log.warning("dead letter on %s (key %s): %s", inbound.subject, inbound.key, reason)
        await dead_letter(conn, SCHEMA, "routing", inbound, reason)
        await enqueue(conn, SCHEMA, [dead_letter_message("routing", inbound.subject, inbound.key, reason)])

    def _agency_for_token(self, token: str) -> str | None:
        agency = self.catalog.agency_by_token(token)
        return agency.code if agency else None


def _parse_fact(
    inbound: Inbound, model: type[BaseModel], code_required: bool = True
) -> tuple[Envelope, BaseModel] | str:
    """A fact from another lienthong service: its envelope and data, or why it cannot be read."""
    obj, problem = decode_body(inbound.body)
    if problem:
        return problem
    try:
        envelope = Envelope.model_validate(obj)
        data = model.model_validate(envelope.data)
    except ValidationError as exc:
        return describe_validation_error(exc)
    if code_required and envelope.dossier_code is None:
        return "dossier_code: required on a dossier fact"
    return envelope, data
