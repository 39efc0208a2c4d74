"""Intake's handlers: thin edges around `domain.admit`, following the shared recipe."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.intake import domain, repository
from services.intake.sealing import Sealer, load_sealer
from shared.calendar import VN_TZ
from shared.catalog import Catalog
from shared.clock import Clock
from shared.contracts import subjects
from shared.contracts.envelope import derived_event_id, envelope_message
from shared.contracts.events import Envelope, SubmittedData
from shared.contracts.inbound import Accepted, DeadLetter, Rejection, decode_body, parse_agency_message
from shared.contracts.replies import dead_letter_message, rejection_message
from shared.db.outbox import enqueue
from shared.messaging import Inbound, dead_letter, message_key

log = logging.getLogger(__name__)
SCHEMA = repository.SCHEMA
CONSUMER = "intake"


@dataclass(frozen=True)
class Submitted:
    dossier_code: str
    appointment_at: datetime
    new: bool


class IntakeHandlers:
    def __init__(self, catalog: Catalog, clock: Clock) -> None:
        self.catalog, self.clock = catalog, clock
        self.sealer: Sealer | None = None

    async def start(self, conn: asyncpg.Connection) -> None:
        self.sealer = await load_sealer(conn)

    async def on_submitted(self, conn: asyncpg.Connection, inbound: Inbound) -> None:
        """Admit dossiers submitted at an agency's one-stop (lt.in.agency.{A}.submitted)."""
        parsed = parse_agency_message(inbound.subject, inbound.body, self._agency_for_token, self.clock.now())
        if isinstance(parsed, DeadLetter):
            log.warning("dead letter on %s: %s", inbound.subject, parsed.reason)
            await dead_letter(conn, SCHEMA, CONSUMER, inbound, parsed.reason)
            await enqueue(conn, SCHEMA, [dead_letter_message("intake", inbound.subject, inbound.key, parsed.reason)])
            return
        if isinstance(parsed, Accepted):
            outcome = await self.submit(conn, parsed.envelope, parsed.data, inbound.key)
            if isinstance(outcome, Submitted):
                return
            parsed = Rejection(parsed.agency_code, parsed.envelope.event_id, outcome)
        log.info("refused %s: %s", inbound.subject, parsed.reason)
        await enqueue(conn, SCHEMA, [rejection_message(parsed, inbound.subject, inbound.key)])

    async def submit(
        self, conn: asyncpg.Connection, envelope: Envelope, data: SubmittedData, key: str
    ) -> Submitted | str:
        """Record a submission once per (agency, external_ref); returns the dossier or a refusal reason."""
        agency = envelope.agency or ""
        await repository.lock_submission(conn, agency, data.external_ref)
        existing = await repository.find_submission(conn, agency, data.external_ref)
        if existing is not None:
            return Submitted(existing["code"], existing["appointment_at"], new=False)
        admission = domain.admit(agency, envelope.occurred_at, data, self.catalog)
        if isinstance(admission, str):
            return admission
        if envelope.dossier_code is not None:
            problem = domain.code_fits_submission(envelope.dossier_code, agency)
            if problem is None and await repository.code_taken(conn, envelope.dossier_code):
                problem = f"dossier_code: '{envelope.dossier_code}' is already used by another submission"
            if problem:
                return problem
            code = envelope.dossier_code
        else:
            sequence = await repository.next_sequence(conn, agency, domain.receipt_date(admission.received_at))
            code = domain.dossier_code(agency, admission.received_at, sequence)
        assert self.sealer is not None
        await repository.insert_dossier(conn, code, admission, data, envelope.event_id, self.sealer)
        fact = envelope_message(
            subjects.fact("dossier", "received"),
            event_id=derived_event_id(key, 0),
            occurred_at=admission.received_at,
            agency=agency,
            dossier_code=code,
            data=domain.received_fact(code, admission, data),
        )
        await enqueue(conn, SCHEMA, [fact])
        log.info("admitted %s (procedure %s)", code, admission.procedure)
        return Submitted(code, admission.appointment_at, new=True)

    async def rpc_submit(self, conn: asyncpg.Connection, body: bytes, caller_token: str | None = None) -> dict:
        """`lt.rpc.intake.submit`: the same envelope as `submitted`, answered at once for the receipt.
        `lt.rpc.intake.submit.{A}` (extension): the same, asked by agency A, whose NATS account can
        reach only that subject (shared/natsauth.py): the envelope's agency must then be A."""
        obj, problem = decode_body(body)
        if problem:
            return {"ok": False, "error": problem}
        agency = obj.get("agency")
        if caller_token is not None:
            if self.catalog.agency_by_token(caller_token) is None:
                return {"ok": False, "error": f"agency token '{caller_token}' is not in the catalog"}
            subject = f"{subjects.IN_AGENCY_PREFIX}.{caller_token}.submitted"  # the envelope must match it
        elif not isinstance(agency, str) or self.catalog.agencies.get(agency) is None:
            return {"ok": False, "error": f"agency: {agency!r} is not in the catalog"}
        else:
            subject = subjects.in_agency(agency, "submitted")
        parsed = parse_agency_message(subject, body, self._agency_for_token, self.clock.now())
        if not isinstance(parsed, Accepted):
            return {"ok": False, "error": parsed.reason}
        key = message_key(subject, body, None, "rpc")
        async with conn.transaction():
            outcome = await self.submit(conn, parsed.envelope, parsed.data, key)
        if isinstance(outcome, str):
            return {"ok": False, "error": outcome}
        return {
            "ok": True,
            "dossier_code": outcome.dossier_code,
            "appointment_at": outcome.appointment_at.astimezone(VN_TZ).isoformat(),
            "duplicate": not outcome.new,
        }

    async def rpc_delivery_address(self, conn: asyncpg.Connection, body: bytes) -> dict:
        """`lt.rpc.intake.delivery_address` (extension, for the postal service only): the address
        is read from intake's tables at the moment the post needs it and is never stored elsewhere."""
        obj, problem = decode_body(body)
        code = obj.get("dossier_code") if obj else None
        if problem or not isinstance(code, str):
            return {"ok": False, "error": problem or "dossier_code: required"}
        assert self.sealer is not None
        found = await repository.delivery_address(conn, code, self.sealer)
        if found is None:
            return {"ok": False, "error": f"unknown dossier '{code}'"}
        return_method, address = found
        return {"ok": True, "dossier_code": code, "return_method": return_method, "address": address}

    def _agency_for_token(self, token: str) -> str | None:
        agency = self.catalog.agency_by_token(token)
        return agency.code if agency else None
