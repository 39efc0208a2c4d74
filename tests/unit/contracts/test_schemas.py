"""The checked-in JSON Schemas (docs/schemas/) are current, and an independent validator
(`jsonschema`) accepts the messages our code builds and refuses malformed ones."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import jsonschema
import pytest

from shared.contracts import subjects
from shared.contracts.envelope import envelope_message
from shared.contracts.events import AGENCY_EVENT, UNIONS, HandoffSent, InputRejected
from shared.contracts.schemas import DEFAULT_OUT, render

ICT = timezone(timedelta(hours=7))
CONTRACT_EXAMPLE = {  # CONTRACT.md §3, with the `submitted` data of the same section
    "event_id": "0f8c2b0e-8a52-4f0e-9a3c-5d7c8f1e2a11",
    "type": "submitted",
    "schema_version": 1,
    "occurred_at": "2026-03-02T08:15:00+07:00",
    "agency": "000.00.15.H57",
    "data": {
        "external_ref": "commune-system-id-123",
        "procedure": "2.000286",
        "channel": "counter",
        "return_method": "postal",
        "applicant": {"kind": "citizen", "full_name": "...", "id_number": "...", "phone": "..."},
        "delivery_address": {"line": "...", "commune": "...", "province": "..."},
        "postal_waybill": None,
    },
}


def validator(family: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((DEFAULT_OUT / f"{family}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("family", list(UNIONS))
def test_the_checked_in_schema_is_up_to_date(family):
    assert (DEFAULT_OUT / f"{family}.schema.json").read_text() == render(family), "run `make docs`"


def test_the_contracts_own_example_is_valid():
    assert not list(validator("agency_event").iter_errors(CONTRACT_EXAMPLE))
    assert AGENCY_EVENT.validate_python(CONTRACT_EXAMPLE).data.procedure == "2.000286"


@pytest.mark.parametrize(
    "broken",
    [
        {**CONTRACT_EXAMPLE, "type": "no_such_action"},
        {**CONTRACT_EXAMPLE, "occurred_at": 5},
        {**CONTRACT_EXAMPLE, "data": {**CONTRACT_EXAMPLE["data"], "channel": "fax"}},
        {**CONTRACT_EXAMPLE, "data": {k: v for k, v in CONTRACT_EXAMPLE["data"].items() if k != "procedure"}},
        {**CONTRACT_EXAMPLE, "type": "stage_completed", "data": {"outcome": "maybe"}},
    ],
)
def test_malformed_messages_are_refused_by_the_schema(broken):
    assert list(validator("agency_event").iter_errors(broken))


def test_messages_built_by_our_code_validate():
    at = datetime(2026, 3, 3, 9, 0, tzinfo=ICT)
    fact = envelope_message(
        subjects.fact("dossier", "handoff_sent"),
        event_id="f-1",
        occurred_at=at,
        agency="000.00.15.H57",
        dossier_code="000.00.15.H57-260302-0007",
        data=HandoffSent(
            seq=3,
            stage_index=2,
            from_agency="000.00.15.H57",
            to_agency="000.31.30.H57",
            to_level="district",
            role="process",
            budget_hours=80,
            sent_at=at,
            due_at=at + timedelta(days=14),
        ),
    )
    assert not list(validator("fact").iter_errors(json.loads(fact.payload)))
    rejected = envelope_message(
        subjects.out_agency("000.00.15.H57", "input_rejected"),
        event_id="r-1",
        occurred_at=at,
        agency="000.00.15.H57",
        dossier_code=None,
        data=InputRejected(refused_event_id="e-9", refused_subject="lt.in.agency.x.submitted", reason="data: ..."),
    )
    assert not list(validator("agency_outbound").iter_errors(json.loads(rejected.payload)))
