"""Every span attribute lienthong sets, with its meaning and the only values it may take.

No span may carry a citizen's name, ID number, phone number or address (CONTRACT.md §4). So an
attribute is not free text: a string attribute is one of a closed set of values, or one of the
catalog's own codes (agencies, procedures, levels: public data of the administration), or must
match the shape of a code (dossier code, subject); a number has a range. `check` enforces this
on every span we build, before it reaches the SDK: a span with a value that does not fit is not
emitted, and a message span leaves such an attribute out.
tests/unit/tracing/test_attributes.py fails if an attribute's name or shape could admit personal data.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

AttributeValue = str | bool | int | float

# Shapes, not free text. A dossier code is "{receiving agency code}-{YYMMDD}-{NNNN}" (CONTRACT.md
# §3), an agency code being a catalog code with at least one dot ("000.00.15.H57"). A subject has
# lowercase words and agency tokens (the code with "_" for ".") only: a phone or ID number is neither.
CATALOG_CODE = r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
DOSSIER_CODE = rf"{CATALOG_CODE}-\d{{6}}-\d{{4}}"
AGENCY_TOKEN = r"[A-Za-z0-9-]+(?:_[A-Za-z0-9-]+)+"
SUBJECT = rf"lt(?:\.(?:[a-z][a-z_]*|{AGENCY_TOKEN}|\*|>))+"
# The services' durable consumers (a name not listed here is left out of the message span).
CONSUMERS = frozenset(
    {"intake", "routing", "routing-received", "routing-postal", "deadline", "postal", "postal-in", "postal-pickup"}
)

# Vocabularies given at run time from the catalog (check's `vocabularies`).
AGENCIES, PROCEDURES, AGENCY_LEVELS = "agencies", "procedures", "levels"
STAGE_KINDS = frozenset({"processing", "handoff", "pause", "postal"})
ROLES = frozenset({"receive", "process", "decide", "consult", "return"})
PAUSE_KINDS = frozenset({"supplement", "obligation"})
POSTAL_DIRECTIONS = frozenset({"pickup", "delivery"})
POSTAL_STATUSES = frozenset(
    {"accepted", "picked_up", "in_transit", "delivered", "delivery_failed", "returned_to_sender", "back_at_counter"}
)  # back_at_counter: the delivery attempts ran out and the result went back to the receiving agency
OUTCOMES = frozenset({"forward", "result_ready", "returned", "refused", "withdrawn"})
DOSSIER_STATUSES = frozenset({"in_progress", "paused", "result_ready", "returned", "refused", "withdrawn"})
SCOPES = frozenset({"stage", "dossier"})
MESSAGE_OUTCOMES = frozenset({"applied", "retry", "dead_letter", "transient_failure"})
MAX_HOURS = 100_000.0  # ~40 years of office hours: any real figure, never a phone or ID number


@dataclass(frozen=True)
class Attribute:
    name: str
    meaning: str
    type: type
    values: frozenset[str] | None = None  # str: the closed set of values
    pattern: str | None = None  # str: the full shape of a value
    vocabulary: str | None = None  # str: one of the catalog's codes of this vocabulary
    minimum: float | None = None  # numbers: the range
    maximum: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regex", re.compile(self.pattern) if self.pattern else None)

    def admits(self, value: object, vocabularies: Mapping[str, Collection[str]] | None = None) -> bool:
        if self.type is bool:
            return isinstance(value, bool)
        if self.type in (int, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return False
            if self.type is int and not isinstance(value, int):
                return False
            return (self.minimum is None or value >= self.minimum) and (self.maximum is None or value <= self.maximum)
        if not isinstance(value, str):
            return False
        if self.values is not None:
            return value in self.values
        if self.vocabulary is not None:
            return vocabularies is not None and value in vocabularies.get(self.vocabulary, ())
        regex = self.__dict__["_regex"]
        return regex is not None and regex.fullmatch(value) is not None


def _hours(name: str, meaning: str, minimum: float = 0.0) -> Attribute:
    return Attribute(name, meaning, float, minimum=minimum, maximum=MAX_HOURS)


_ALL = (
    # CONTRACT.md §4
    Attribute("lienthong.dossier.code", "The dossier's code (the trace id is derived from it).", str,
              pattern=DOSSIER_CODE),
    Attribute("lienthong.procedure.code", "The procedure's code in the catalog.", str, vocabulary=PROCEDURES),
    Attribute("lienthong.stage.index", "Position of the stage in the dossier's plan, from 0.", int,
              minimum=0, maximum=99),
    Attribute("lienthong.stage.kind", "What the span measures: processing, handoff, pause or postal.", str,
              values=STAGE_KINDS),
    Attribute("lienthong.agency.code", "Official code (in the catalog) of the agency the span's time belongs to.",
              str, vocabulary=AGENCIES),
    Attribute("lienthong.agency.level", "That agency's level in the catalog (commune, district, ...).", str,
              vocabulary=AGENCY_LEVELS),
    _hours("lienthong.budget.hours", "Working hours the agency (or the dossier) was given."),
    _hours("lienthong.used.hours", "Working hours used (stages: without pauses and postal transit; pauses and "
           "postal legs: their working hours)."),
    _hours("lienthong.overrun.hours", "Working hours past the due time (0 when on time)."),
    Attribute("lienthong.late", "The stage ended, or the dossier's result was ready, after its due time.", bool),
    # our extensions (docs/design.md, tracing)
    Attribute("lienthong.stage.role", "The stage's role in the plan.", str, values=ROLES),
    Attribute("lienthong.stage.outcome", "How the stage ended.", str, values=OUTCOMES),
    _hours("lienthong.paused.hours", "Working hours the stage's clock stood still (pauses)."),
    _hours("lienthong.postal.hours", "Working hours of postal transit inside the stage."),
    Attribute("lienthong.handoff.inferred", "The receipt was not reported: it is taken as the sending time.", bool),
    Attribute("lienthong.dossier.status", "The dossier's status when its root span was emitted.", str,
              values=DOSSIER_STATUSES),
    Attribute("lienthong.pause.kind", "Why the clock stopped: supplement (papers) or obligation (fee, tax).", str,
              values=PAUSE_KINDS),
    Attribute("lienthong.postal.direction", "pickup (papers to the agency) or delivery (result to the citizen).",
              str, values=POSTAL_DIRECTIONS),
    Attribute("lienthong.postal.status", "How the postal leg ended (delivered, returned_to_sender, back_at_counter), "
              "else the post's latest status of the shipment.", str, values=POSTAL_STATUSES),
    Attribute("lienthong.overdue", "Marker: the stage (or dossier) was flagged overdue while still running.", bool),
    Attribute("lienthong.overdue.scope", "What was overdue: the stage or the whole dossier.", str, values=SCOPES),
    _hours("lienthong.overdue.hours", "Working hours past the due time when the overdue flag was raised."),
    # per-message spans (OpenTelemetry messaging semantic conventions, and the dossier link)
    Attribute("messaging.system", "Always nats.", str, values=frozenset({"nats"})),
    Attribute("messaging.operation.type", "Always process (a consumer applying a message).", str,
              values=frozenset({"process"})),
    Attribute("messaging.destination.name", "The NATS subject of the message.", str, pattern=SUBJECT),
    Attribute("messaging.consumer.group.name", "The durable consumer that applied the message.", str,
              values=CONSUMERS),
    Attribute("messaging.batch.message_count", "Messages in the pulled batch the message came in.", int,
              minimum=1, maximum=100_000),
    Attribute("lienthong.message.outcome", "applied, retry (not decidable yet), dead_letter or transient_failure.",
              str, values=MESSAGE_OUTCOMES),
)  # fmt: skip

REGISTRY: Mapping[str, Attribute] = {a.name: a for a in _ALL}

# The only span names: a closed set plus the message spans' "process {subject}".
SPAN_NAME = re.compile(
    rf"dossier|stage [0-9]{{1,2}}|handoff|processing|pause (?:supplement|obligation)"
    rf"|postal (?:pickup|delivery)|overdue (?:stage|dossier)|process message|process {SUBJECT}"
)
EVENT_NAMES = frozenset({"deadline.overdue", "handoff.received", "result_ready"})


class UnregisteredAttribute(ValueError):
    pass


def check(attributes: Mapping[str, object], vocabularies: Mapping[str, Collection[str]] | None = None) -> None:
    """Raise unless every attribute is registered and its value fits its registered shape."""
    for name, value in attributes.items():
        attribute = REGISTRY.get(name)
        if attribute is None:
            raise UnregisteredAttribute(f"span attribute {name!r} is not in shared.tracing.attributes.REGISTRY")
        if not attribute.admits(value, vocabularies):
            raise UnregisteredAttribute(
                f"span attribute {name!r}: value of type {type(value).__name__} does not fit its registered shape"
            )  # the value itself is never echoed


def admitted(name: str, value: object) -> bool:
    attribute = REGISTRY.get(name)
    return attribute is not None and attribute.admits(value)


def catalog_vocabularies(catalog) -> dict[str, frozenset[str]]:
    """The catalog's public codes an attribute may take (`catalog`: a shared.catalog.Catalog)."""
    agencies = catalog.agencies.values()
    return {
        AGENCIES: frozenset(a.code for a in agencies),
        AGENCY_LEVELS: frozenset(a.level for a in agencies),
        PROCEDURES: frozenset(catalog.procedures),
    }
