"""The envelope and every event of the public contract as pydantic v2 models (CONTRACT.md §2-3).

Each family of messages (inbound agency actions, inbound postal actions, facts, outbound agency
and outbound postal messages) is a registry `type -> data model` and, built from it, a
discriminated union by `type` of typed envelopes (`AGENCY_EVENT`, `FACT`, ...), so one
`validate_python` call both picks the model and validates its data. The JSON Schemas of
docs/schemas/ and the AsyncAPI document are generated from these unions (`make docs`).
Personal data is carried only by `Applicant` and `DeliveryAddress` (in `submitted`,
`pickup_requested` and the postal orders): never by a fact.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, create_model, model_validator

SCHEMA_VERSION = 1

AgencyCode = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+(\.[A-Za-z0-9]+)*$")]
DossierCode = Annotated[str, Field(min_length=1, max_length=96, pattern=r"^[A-Za-z0-9.]+-\d{6}-\d{4,}$")]
ShortText = Annotated[str, Field(min_length=1, max_length=2000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Open(BaseModel):
    """Data of inbound actions: unknown optional fields are ignored, so publishers can evolve."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Envelope(Strict):
    event_id: Annotated[str, Field(min_length=1, max_length=128)]
    type: Annotated[str, Field(min_length=1, max_length=64)]
    schema_version: Literal[1] = SCHEMA_VERSION
    occurred_at: AwareDatetime
    agency: AgencyCode | None = None
    dossier_code: DossierCode | None = None
    data: dict[str, Any] = Field(default_factory=dict)


# ---- inbound: lt.in.agency.{A}.submitted -------------------------------------------------------


class Applicant(Open):
    """Personal data: stays in intake's own tables, never in a fact, span or log."""

    kind: Literal["citizen", "enterprise", "agency", "organisation"] = "citizen"
    full_name: Annotated[str, Field(max_length=256)] | None = None
    id_number: Annotated[str, Field(max_length=32)] | None = None
    phone: Annotated[str, Field(max_length=32)] | None = None
    email: Annotated[str, Field(max_length=256)] | None = None


class DeliveryAddress(Open):
    """Personal data: goes to the postal integration in the order body only."""

    line: Annotated[str, Field(min_length=1, max_length=512)]
    commune: Annotated[str, Field(max_length=128)] | None = None
    district: Annotated[str, Field(max_length=128)] | None = None
    province: Annotated[str, Field(max_length=128)] | None = None
    recipient: Annotated[str, Field(max_length=256)] | None = None
    phone: Annotated[str, Field(max_length=32)] | None = None


class SubmittedData(Open):
    external_ref: Annotated[str, Field(min_length=1, max_length=128)]
    procedure: Annotated[str, Field(min_length=1, max_length=64)]
    channel: Literal["counter", "online", "postal"]
    return_method: Literal["counter", "postal"]
    applicant: Applicant | None = None
    delivery_address: DeliveryAddress | None = None
    postal_waybill: Annotated[str, Field(min_length=1, max_length=64)] | None = None

    @model_validator(mode="after")
    def _postal_return_needs_address(self) -> SubmittedData:
        if self.return_method == "postal" and self.delivery_address is None:
            raise ValueError("delivery_address is required when return_method is 'postal'")
        return self


# ---- inbound: other agency actions ---------------------------------------------------------------


class HandoffReceivedData(Open):
    stage_index: int | None = Field(default=None, ge=0)


class StageCompletedData(Open):
    outcome: Literal["forward", "result_ready"]
    stage_index: int | None = Field(default=None, ge=0)


class SupplementRequestedData(Open):
    reason: ShortText | None = None


class SupplementReceivedData(Open):
    pass


class ObligationRequestedData(Open):
    reason: ShortText | None = None
    amount_vnd: int | None = Field(default=None, ge=0)


class ObligationFulfilledData(Open):
    pass


class ApologyIssuedData(Open):
    new_appointment_at: AwareDatetime
    reason: ShortText | None = None


class RefusedData(Open):
    reason: ShortText


class WithdrawnData(Open):
    reason: ShortText | None = None


class ResultReturnedData(Open):
    pass


class PickupRequestedData(Open):
    """Extension: a citizen asks the post to pick a dossier up (issue: postal intake)."""

    procedure: Annotated[str, Field(min_length=1, max_length=64)]
    pickup_address: DeliveryAddress
    external_ref: Annotated[str, Field(min_length=1, max_length=128)]


AGENCY_ACTIONS: dict[str, type[BaseModel]] = {
    "submitted": SubmittedData,
    "handoff_received": HandoffReceivedData,
    "stage_completed": StageCompletedData,
    "supplement_requested": SupplementRequestedData,
    "supplement_received": SupplementReceivedData,
    "obligation_requested": ObligationRequestedData,
    "obligation_fulfilled": ObligationFulfilledData,
    "apology_issued": ApologyIssuedData,
    "refused": RefusedData,
    "withdrawn": WithdrawnData,
    "result_returned": ResultReturnedData,
    "pickup_requested": PickupRequestedData,
}

# ---- inbound: lt.in.postal.* ----------------------------------------------------------------------

ShipmentStatus = Literal["accepted", "picked_up", "in_transit", "delivered", "delivery_failed", "returned_to_sender"]


class ShipmentStatusData(Open):
    waybill: Annotated[str, Field(min_length=1, max_length=64)]
    status: ShipmentStatus
    at: AwareDatetime
    note: ShortText | None = None
    # Extension: the delivery attempt the status is about (the `attempt` of its delivery order);
    # without it, the status's time decides (services/postal/domain.py).
    attempt: int | None = Field(default=None, ge=1, le=100)


POSTAL_ACTIONS: dict[str, type[BaseModel]] = {"shipment_status": ShipmentStatusData}


# ---- facts: lt.evt.{topic}.{type} ------------------------------------------------------------------


class PlannedStage(Strict):
    index: int
    agency: str
    agency_level: str
    role: str
    working_days: float
    budget_hours: float
    planned_start: AwareDatetime
    planned_due: AwareDatetime


class DossierReceived(Strict):
    procedure: str
    receiving_agency: str
    channel: str
    return_method: str
    received_at: AwareDatetime
    counting_from: AwareDatetime
    appointment_at: AwareDatetime
    total_working_days: float
    external_ref: str
    postal_waybill: str | None = None


class DossierRouted(Strict):
    seq: int
    procedure: str
    receiving_agency: str
    supplement_policy: str
    appointment_at: AwareDatetime
    stages: list[PlannedStage]


class HandoffSent(Strict):
    seq: int
    stage_index: int
    from_agency: str
    to_agency: str
    to_level: str
    role: str
    budget_hours: float
    sent_at: AwareDatetime
    due_at: AwareDatetime


class HandoffReceived(Strict):
    seq: int
    stage_index: int
    agency: str
    received_at: AwareDatetime
    inferred: bool = False


class StageCompleted(Strict):
    seq: int
    stage_index: int
    agency: str
    outcome: str
    completed_at: AwareDatetime


class Paused(Strict):
    seq: int
    kind: Literal["supplement", "obligation"]
    stage_index: int
    agency: str
    paused_at: AwareDatetime


class Resumed(Strict):
    seq: int
    kind: Literal["supplement", "obligation"]
    stage_index: int
    agency: str
    paused_at: AwareDatetime
    resumed_at: AwareDatetime
    paused_hours: float
    policy: Literal["pause", "restart"]


class Rescheduled(Strict):
    seq: int
    cause: Literal["pause", "restart", "apology"]
    previous_appointment_at: AwareDatetime
    appointment_at: AwareDatetime
    agency: str | None = None


class ResultReady(Strict):
    seq: int
    stage_index: int
    agency: str
    ready_at: AwareDatetime
    appointment_at: AwareDatetime
    late: bool
    return_method: str


class Returned(Strict):
    seq: int
    returned_at: AwareDatetime
    via: Literal["counter", "postal"]


class Refused(Strict):
    seq: int
    stage_index: int
    agency: str
    reason: str


class Withdrawn(Strict):
    seq: int
    stage_index: int
    agency: str
    reason: str | None = None


class DeadlineWarning(Strict):
    scope: Literal["stage", "dossier"]
    stage_index: int | None
    agency: str
    due_at: AwareDatetime
    remaining_hours: float


class DeadlineOverdue(Strict):
    scope: Literal["stage", "dossier"]
    stage_index: int | None
    agency: str
    due_at: AwareDatetime
    overdue_by_hours: float
    detected_at: AwareDatetime


class ShipmentUpdated(Strict):
    waybill: str
    direction: Literal["pickup", "delivery"]
    status: str
    at: AwareDatetime
    attempt: int = 1
    # Extension: the shipment's state once this status was applied (its statuses may come in any
    # order): a status name, or `back_at_counter` when the delivery attempts ran out and the result
    # went back to the receiving agency's counter.
    state: str | None = None


FACTS: dict[tuple[str, str], type[BaseModel]] = {
    ("dossier", "received"): DossierReceived,
    ("dossier", "routed"): DossierRouted,
    ("dossier", "handoff_sent"): HandoffSent,
    ("dossier", "handoff_received"): HandoffReceived,
    ("dossier", "stage_completed"): StageCompleted,
    ("dossier", "paused"): Paused,
    ("dossier", "resumed"): Resumed,
    ("dossier", "rescheduled"): Rescheduled,
    ("dossier", "result_ready"): ResultReady,
    ("dossier", "returned"): Returned,
    ("dossier", "refused"): Refused,
    ("dossier", "withdrawn"): Withdrawn,
    ("deadline", "warning"): DeadlineWarning,
    ("deadline", "overdue"): DeadlineOverdue,
    ("postal", "shipment_updated"): ShipmentUpdated,
}


# ---- outbound: lt.out.agency.{A}.* and lt.out.postal.* -----------------------------------------------


class Assigned(Strict):
    stage_index: int
    role: str
    procedure: str
    from_agency: str | None
    budget_hours: float
    sent_at: AwareDatetime
    due_at: AwareDatetime
    purpose: Literal["process", "return"] = "process"


class AgencyDeadlineWarning(Strict):
    stage_index: int | None
    due_at: AwareDatetime
    remaining_hours: float


class ApologyRequired(Strict):
    appointment_at: AwareDatetime
    stage_index: int | None
    reason: str


class InputRejected(Strict):
    refused_event_id: str | None
    refused_subject: str
    reason: str


class DeliveryOrder(Strict):
    """The only message that carries an address, in its body (CONTRACT.md §4, DOMAIN.md §9)."""

    waybill: str
    dossier_code: str
    receiving_agency: str
    address: DeliveryAddress
    cod_amount_vnd: int = 0
    attempt: int = 1


class PickupOrder(Strict):
    waybill: str
    agency: str
    procedure: str
    external_ref: str
    address: DeliveryAddress


class PickupOrdered(Strict):
    """Extension `lt.out.agency.{A}.pickup_ordered`: the post was asked to fetch the papers of the
    agency's `pickup_requested`; the agency's later `submitted` names `waybill` in `postal_waybill`.
    No address: that goes to the post only."""

    waybill: str
    procedure: str
    external_ref: str
    requested_event_id: str


OUTBOUND_AGENCY: dict[str, type[BaseModel]] = {
    "assigned": Assigned,
    "deadline_warning": AgencyDeadlineWarning,
    "apology_required": ApologyRequired,
    "input_rejected": InputRejected,
    "pickup_ordered": PickupOrdered,
}
OUTBOUND_POSTAL: dict[str, type[BaseModel]] = {
    "delivery_order": DeliveryOrder,
    "pickup_order": PickupOrder,
    "input_rejected": InputRejected,
}


# ---- typed envelopes: one discriminated union by `type` per family --------------------------------


def _typed_envelope(type_: str, data_model: type[BaseModel]) -> type[Envelope]:
    """`Envelope` whose `type` is the literal `type_` and whose `data` is `data_model`."""
    name = data_model.__name__.removesuffix("Data") + "Message"
    return create_model(
        name,
        __base__=Envelope,
        __doc__=data_model.__doc__,
        type=(Literal[type_], ...),
        data=(data_model, ...),
    )


def _union(registry: dict[str, type[BaseModel]]) -> TypeAdapter:
    members = tuple(_typed_envelope(type_, model) for type_, model in registry.items())
    return TypeAdapter(Annotated[Union[members], Field(discriminator="type")])  # noqa: UP007


FACT_TYPES: dict[str, type[BaseModel]] = {type_: model for (_topic, type_), model in FACTS.items()}
assert len(FACT_TYPES) == len(FACTS), "fact types must be unique across topics: they are the discriminator"

AGENCY_EVENT = _union(AGENCY_ACTIONS)
POSTAL_EVENT = _union(POSTAL_ACTIONS)
FACT = _union(FACT_TYPES)
AGENCY_OUTBOUND = _union(OUTBOUND_AGENCY)
POSTAL_OUTBOUND = _union(OUTBOUND_POSTAL)

UNIONS: dict[str, TypeAdapter] = {
    "agency_event": AGENCY_EVENT,
    "postal_event": POSTAL_EVENT,
    "fact": FACT,
    "agency_outbound": AGENCY_OUTBOUND,
    "postal_outbound": POSTAL_OUTBOUND,
}
