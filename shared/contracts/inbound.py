"""Parsing and validating inbound messages, as pure functions that name exactly what is wrong.

A message we can attribute to an agency but cannot accept becomes a `Rejection` (the agency gets
`input_rejected`); a message we cannot attribute to anyone becomes a dead letter.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from shared.contracts.events import AGENCY_ACTIONS, AGENCY_EVENT, POSTAL_ACTIONS, POSTAL_EVENT, Envelope

MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 12
FUTURE_TOLERANCE = timedelta(days=2)
# Bidirectional embedding/override/isolate controls: invisible, and they reorder what an operator
# reads ("Trojan Source"); no name or reference needs them.
_BIDI_CONTROLS = frozenset(range(0x202A, 0x202F)) | frozenset(range(0x2066, 0x206A))
_LINE_CONTROLS = frozenset("\t\n\r")
# Identifiers compared for equality: an invisible character would make two look-alike references.
_IDENTIFIER_KEYS = frozenset({"event_id", "type", "external_ref", "procedure", "postal_waybill", "waybill"})


@dataclass(frozen=True)
class Accepted:
    envelope: Envelope
    data: BaseModel
    agency_code: str | None  # None for postal messages


@dataclass(frozen=True)
class Rejection:
    """Refused input from a known sender; `agency_code` None means the postal integration."""

    agency_code: str | None
    event_id: str | None
    reason: str


@dataclass(frozen=True)
class DeadLetter:
    reason: str


def describe_validation_error(error: ValidationError, prefix: str = "", skip: int = 0) -> str:
    """Every error as `path: what is wrong`, joined; `skip` drops leading location parts (a
    discriminated union's tag)."""
    parts = []
    for item in error.errors(include_url=False):
        loc = ".".join(str(p) for p in (prefix, *item["loc"][skip:]) if p != "")
        msg = item["msg"]
        if item["type"] in ("missing",):
            msg = "required field is missing"
        elif item["type"] == "extra_forbidden":
            msg = "unknown field"
        elif item["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        parts.append(f"{loc or 'body'}: {msg}")
    return "; ".join(parts)


def _depth(value: Any, limit: int, level: int = 1) -> int:
    if level > limit:
        return level
    if isinstance(value, dict):
        return max([_depth(v, limit, level + 1) for v in value.values()] or [level])
    if isinstance(value, list):
        return max([_depth(v, limit, level + 1) for v in value] or [level])
    return level


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"the number {literal[:20]} is out of range")
    return value


def decode_body(data: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """Return (object, None) or (None, reason). Strict RFC 8259 JSON: Python's NaN and Infinity
    extensions are refused (PostgreSQL's jsonb could not store them either)."""
    if len(data) > MAX_BODY_BYTES:
        return None, f"body is {len(data)} bytes, more than the {MAX_BODY_BYTES} allowed"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"body is not valid UTF-8 (byte {exc.start})"
    try:
        obj = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        return None, f"body JSON is nested deeper than {MAX_JSON_DEPTH} levels"
    except ValueError as exc:
        return None, f"body is not valid JSON: {exc}"
    if not isinstance(obj, dict):
        return None, f"body must be a JSON object, not {type(obj).__name__}"
    if _depth(obj, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        return None, f"body JSON is nested deeper than {MAX_JSON_DEPTH} levels"
    return obj, None


def _char_problem(text: str, identifier: bool) -> str | None:
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cs":
            return f"contains a lone surrogate U+{ord(ch):04X}"
        if category == "Cc" and ch not in _LINE_CONTROLS:
            return f"contains the control character U+{ord(ch):04X}"
        if ord(ch) in _BIDI_CONTROLS:
            return f"contains the bidirectional control character U+{ord(ch):04X}"
        if identifier and (category[0] == "C" or (category[0] == "Z" and ch != " ") or ch in _LINE_CONTROLS):
            return f"contains the invisible or control character U+{ord(ch):04X}, not allowed in an identifier"
    return None


def text_problem(value: Any, path: str = "") -> str | None:
    """The first string (key or value) with characters no inbound text may carry, named by its path:
    NUL and other C0/C1 controls, lone surrogates (PostgreSQL cannot store either), bidirectional
    controls anywhere, and any invisible character in an identifier. Combining marks, emoji and
    zero-width joiners in names are accepted as they are."""
    if isinstance(value, str):
        problem = _char_problem(value, path.rsplit(".", 1)[-1] in _IDENTIFIER_KEYS)
        return f"{path or 'body'}: {problem}" if problem else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if problem := _char_problem(str(key), True):
                return f"{path or 'body'}: field name {key!r} {problem}"
            if problem := text_problem(item, where):
                return problem
    elif isinstance(value, list):
        for n, item in enumerate(value):
            if problem := text_problem(item, f"{path}.{n}" if path else str(n)):
                return problem
    return None


def _event_id_of(obj: dict[str, Any] | None, body: bytes = b"") -> str | None:
    """The envelope's event_id, also read from an oversize body so its refusal can name it."""
    if obj is None and MAX_BODY_BYTES < len(body) <= 16 * MAX_BODY_BYTES:
        try:
            loaded = json.loads(body)
            obj = loaded if isinstance(loaded, dict) else None
        except (ValueError, UnicodeDecodeError, RecursionError):
            obj = None
    value = obj.get("event_id") if obj else None
    return value if isinstance(value, str) and 0 < len(value) <= 128 else None


def _validate_envelope(
    obj: dict[str, Any], action: str, union: TypeAdapter, now: datetime | None
) -> tuple[Envelope, BaseModel] | str:
    """The envelope first (so its own errors and a type/subject mismatch are named as such), then
    the typed message of the family's discriminated union, which validates `data`."""
    try:
        envelope = Envelope.model_validate(obj)
    except ValidationError as exc:
        return describe_validation_error(exc)
    if envelope.type != action:
        return f"type: '{envelope.type}' does not match the subject's action '{action}'"
    if now is not None and envelope.occurred_at > now + FUTURE_TOLERANCE:
        return f"occurred_at: {envelope.occurred_at.isoformat()} is in the future (now {now.isoformat()})"
    try:
        message = union.validate_python(obj)
    except ValidationError as exc:
        return describe_validation_error(exc, skip=1)  # the first location is the union's tag
    return envelope, message.data


def parse_agency_message(
    subject: str,
    body: bytes,
    agency_for_token: Callable[[str], str | None],
    now: datetime | None = None,
) -> Accepted | Rejection | DeadLetter:
    """Validate `lt.in.agency.{A}.{action}` against the envelope and the action's data model."""
    tokens = subject.split(".")
    if len(tokens) != 5 or tokens[:3] != ["lt", "in", "agency"]:
        return DeadLetter(f"subject '{subject}' is not lt.in.agency.{{agency}}.{{action}}")
    token, action = tokens[3], tokens[4]
    agency_code = agency_for_token(token)
    if agency_code is None:
        return DeadLetter(f"subject '{subject}': agency token '{token}' is not in the catalog")
    obj, problem = decode_body(body)
    event_id = _event_id_of(obj, body)
    problem = problem or text_problem(obj)
    if problem:
        return Rejection(agency_code, event_id, problem)
    if action not in AGENCY_ACTIONS:
        return Rejection(agency_code, event_id, f"unknown action '{action}' in subject '{subject}'")
    result = _validate_envelope(obj, action, AGENCY_EVENT, now)
    if isinstance(result, str):
        return Rejection(agency_code, event_id, result)
    envelope, data = result
    if envelope.agency != agency_code:
        return Rejection(
            agency_code,
            event_id,
            f"agency: '{envelope.agency}' does not match the subject's agency '{agency_code}'",
        )
    if action not in ("submitted", "pickup_requested") and envelope.dossier_code is None:
        return Rejection(agency_code, event_id, "dossier_code: required for every action but 'submitted'")
    return Accepted(envelope, data, agency_code)


def parse_postal_message(subject: str, body: bytes, now: datetime | None = None) -> Accepted | Rejection:
    tokens = subject.split(".")
    action = tokens[3] if len(tokens) == 4 else ""
    obj, problem = decode_body(body)
    event_id = _event_id_of(obj, body)
    problem = problem or text_problem(obj)
    if problem:
        return Rejection(None, event_id, problem)
    if action not in POSTAL_ACTIONS:
        return Rejection(None, event_id, f"unknown postal action in subject '{subject}'")
    result = _validate_envelope(obj, action, POSTAL_EVENT, now)
    if isinstance(result, str):
        return Rejection(None, event_id, result)
    return Accepted(result[0], result[1], None)
