"""What postal may keep of a pickup request it could not process. Pure.

A pickup request carries the citizen's address, which must live in no table outside intake; a
dead-lettered request is therefore kept with only the fields that identify it, never the rest.
"""

from __future__ import annotations

import json
from typing import Any

KEPT_ENVELOPE = ("event_id", "type", "schema_version", "occurred_at", "agency", "dossier_code")
KEPT_DATA = ("procedure", "external_ref")
_SHORT = 128


def _short_text(value: Any) -> Any:
    """Identifiers only: short strings, numbers and null; anything else is dropped."""
    if isinstance(value, str):
        return value if len(value) <= _SHORT else None
    return value if isinstance(value, int | float) or value is None else None


def redacted_pickup_body(body: bytes) -> bytes:
    """The request with its envelope and data.procedure / data.external_ref only (and a note);
    a body that is not a JSON object keeps nothing at all."""
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        obj = None
    if not isinstance(obj, dict):
        return json.dumps({"redacted": "body not kept: it is no JSON object and may hold an address"}).encode()
    kept: dict[str, Any] = {k: _short_text(obj[k]) for k in KEPT_ENVELOPE if k in obj}
    data = obj.get("data")
    if isinstance(data, dict):
        kept["data"] = {k: _short_text(data[k]) for k in KEPT_DATA if k in data}
    kept["redacted"] = "every other field removed: a pickup request may hold the citizen's address"
    return json.dumps(kept, ensure_ascii=False).encode()
