"""The two replies every consumer of inbound messages gives to input it cannot accept."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.contracts import subjects
from shared.contracts.envelope import OutMessage, derived_event_id, envelope_message
from shared.contracts.events import InputRejected
from shared.contracts.inbound import Rejection


def rejection_message(rejection: Rejection, subject: str, key: str) -> OutMessage:
    """`lt.out.agency.{A}.input_rejected` (or `lt.out.postal.input_rejected` for the post)."""
    target = (
        subjects.out_agency(rejection.agency_code, "input_rejected")
        if rejection.agency_code
        else subjects.out_postal("input_rejected")
    )
    return envelope_message(
        target,
        event_id=derived_event_id(key, 0),
        occurred_at=datetime.now(UTC),
        agency=rejection.agency_code,
        dossier_code=None,
        data=InputRejected(refused_event_id=rejection.event_id, refused_subject=subject, reason=rejection.reason),
    )


def dead_letter_message(service: str, subject: str, key: str, reason: str) -> OutMessage:
    """`lt.out.dead_letter.{service}`: input that cannot be attributed to any agency."""
    return envelope_message(
        subjects.dead_letter(service),
        event_id=derived_event_id(key, 0),
        occurred_at=datetime.now(UTC),
        agency=None,
        dossier_code=None,
        data={"refused_subject": subject, "reason": reason},
    )
