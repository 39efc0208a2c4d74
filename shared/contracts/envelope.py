"""Building outgoing envelopes (CONTRACT.md §3) as ready-to-publish messages."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from shared.contracts.events import SCHEMA_VERSION

_NAMESPACE = uuid.UUID("6f1d3f8e-5b7a-4c1e-9d2a-7e4b8c0f1a23")


@dataclass(frozen=True)
class OutMessage:
    subject: str
    payload: bytes
    msg_id: str
    dossier_code: str | None = None


def derived_event_id(cause: str, n: int) -> str:
    """A deterministic id for the n-th message caused by `cause`, so replays produce the same ids."""
    return str(uuid.uuid5(_NAMESPACE, f"{cause}#{n}"))


def envelope_message(
    subject: str,
    *,
    event_id: str,
    occurred_at: datetime,
    agency: str | None,
    dossier_code: str | None,
    data: BaseModel | dict[str, Any],
) -> OutMessage:
    body = {
        "event_id": event_id,
        "type": subject.rsplit(".", 1)[-1],
        "schema_version": SCHEMA_VERSION,
        "occurred_at": occurred_at.isoformat(),
        "agency": agency,
        "dossier_code": dossier_code,
        "data": data.model_dump(mode="json") if isinstance(data, BaseModel) else data,
    }
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return OutMessage(subject, payload, event_id, dossier_code)
