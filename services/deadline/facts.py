"""The facts the deadline service keeps: parsed from `lt.evt.*`, stored, and put back in order.

Pure. A dossier's facts are ordered by their `seq` (the dossier version routing gives every fact;
`received` is version 0), then by business time and event id, so the order in which NATS
redelivered them never matters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from shared.contracts.events import FACTS, Envelope
from shared.contracts.inbound import describe_validation_error

TOPICS = ("dossier", "postal")


@dataclass(frozen=True)
class Fact:
    event_id: str
    dossier_code: str
    topic: str
    type: str
    seq: int | None  # None for postal facts, which carry no dossier version
    occurred_at: datetime
    data: BaseModel

    @property
    def subject(self) -> str:
        return f"lt.evt.{self.topic}.{self.type}"


@dataclass(frozen=True)
class Ignored:
    """A message of LT_EVT that is not ours to track (our own alerts, other topics)."""

    why: str


def fact_from_row(event_id: str, dossier_code: str, topic: str, type_: str, occurred_at: datetime, data: Any) -> Fact:
    """A stored fact back as a model (it was validated when it came in)."""
    model = FACTS[(topic, type_)].model_validate(data)
    return Fact(event_id, dossier_code, topic, type_, _seq(topic, type_, model), occurred_at, model)


def parse_fact(subject: str, body: bytes) -> Fact | Ignored | str:
    """A fact to store, a message to ignore, or the precise reason it cannot be read."""
    tokens = subject.split(".")
    if len(tokens) != 4 or tokens[:1] != ["lt"] or tokens[1] != "evt":
        return Ignored(f"subject {subject!r} is not lt.evt.{{topic}}.{{type}}")
    topic, type_ = tokens[2], tokens[3]
    if topic not in TOPICS:
        return Ignored(f"topic {topic!r} is not tracked")
    model_type = FACTS.get((topic, type_))
    if model_type is None:
        return Ignored(f"fact type {topic}.{type_} has no deadline meaning")
    try:
        envelope = Envelope.model_validate_json(body)
    except ValidationError as exc:
        return f"envelope: {describe_validation_error(exc)}"
    if envelope.type != type_:
        return f"type: {envelope.type!r} does not match the subject's type {type_!r}"
    if envelope.dossier_code is None:
        if topic == "postal":
            return Ignored("postal fact for no dossier (yet)")
        return "dossier_code: required on dossier facts"
    try:
        data = model_type.model_validate(envelope.data)
    except ValidationError as exc:
        return describe_validation_error(exc, "data")
    seq = _seq(topic, type_, data)
    return Fact(envelope.event_id, envelope.dossier_code, topic, type_, seq, envelope.occurred_at, data)


def _seq(topic: str, type_: str, data: BaseModel) -> int | None:
    if topic != "dossier":
        return None
    return 0 if type_ == "received" else getattr(data, "seq", None)


def in_order(facts: Iterable[Fact]) -> tuple[list[Fact], list[Fact]]:
    """(dossier facts by version, postal facts by time), each without duplicates.

    A duplicate is the same event id, or a second fact of the same type at the same version
    (a republished fact under a new id): the first one in order wins."""
    seen_ids: set[str] = set()
    seen_versions: set[tuple[str, int]] = set()
    dossier: list[Fact] = []
    postal: list[Fact] = []
    for fact in sorted(facts, key=lambda f: (f.seq if f.seq is not None else 0, f.occurred_at, f.event_id)):
        if fact.event_id in seen_ids:
            continue
        seen_ids.add(fact.event_id)
        if fact.topic == "postal":
            postal.append(fact)
            continue
        version = (fact.type, fact.seq if fact.seq is not None else -1)
        if version in seen_versions:
            continue
        seen_versions.add(version)
        dossier.append(fact)
    postal.sort(key=lambda f: (getattr(f.data, "at", f.occurred_at), f.event_id))
    return dossier, postal
