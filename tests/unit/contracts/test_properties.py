"""Property tests over the envelope and `submitted` data: any JSON either parses into a valid
model or is refused with a reason (never another exception), and valid envelopes round-trip."""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.contracts.events import Envelope, SubmittedData
from shared.contracts.inbound import Accepted, DeadLetter, Rejection, parse_agency_message, parse_postal_message

COMMUNE = "T01.00.01.X99"
TOKENS = {"T01_00_01_X99": COMMUNE}
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
ENVELOPE_KEYS = ["event_id", "type", "schema_version", "occurred_at", "agency", "dossier_code", "data"]
SUBMITTED_KEYS = ["external_ref", "procedure", "channel", "return_method", "applicant", "delivery_address"]


def near(keys: list[str], values: st.SearchStrategy) -> st.SearchStrategy:
    """Objects that look like the model: its own keys (and a few others) with arbitrary values."""
    return st.dictionaries(st.sampled_from([*keys, "extra", ""]), values, max_size=len(keys) + 1)


aware = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2026, 3, 1), timezones=st.sampled_from([UTC])
).map(lambda d: d.astimezone(UTC))
ids = st.text(alphabet=string.ascii_letters + string.digits + "-", min_size=1, max_size=64)
valid_envelopes = st.builds(
    dict,
    event_id=ids,
    type=st.sampled_from(["stage_completed", "handoff_received", "refused"]),
    schema_version=st.just(1),
    occurred_at=aware.map(lambda d: d.isoformat()),
    agency=st.just(COMMUNE),
    dossier_code=st.integers(1, 9999).map(lambda n: f"{COMMUNE}-260302-{n:04d}"),
    data=st.dictionaries(st.text(max_size=8), json_values, max_size=3),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(near(ENVELOPE_KEYS, json_values))
def test_any_json_object_is_an_envelope_or_a_validation_error(obj):
    try:
        envelope = Envelope.model_validate(obj)
    except ValidationError as exc:
        assert exc.errors()  # a reason per field
        return
    assert envelope.occurred_at.tzinfo is not None


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(near(SUBMITTED_KEYS, json_values | st.sampled_from(["counter", "postal", "online", "9.000001"])))
def test_any_submitted_data_is_valid_or_a_validation_error(obj):
    try:
        data = SubmittedData.model_validate(obj)
    except ValidationError as exc:
        assert exc.errors()
        return
    assert data.return_method != "postal" or data.delivery_address is not None


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["submitted", "stage_completed", "apology_issued", "nonsense"]),
    st.one_of(
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        near(ENVELOPE_KEYS, json_values).map(lambda v: json.dumps(v).encode()),
        valid_envelopes.map(lambda v: json.dumps(v).encode()),
    ),
)
def test_any_bytes_on_an_inbound_subject_are_accepted_or_refused_with_a_reason(action, body):
    result = parse_agency_message(f"lt.in.agency.T01_00_01_X99.{action}", body, TOKENS.get, NOW)
    assert isinstance(result, Accepted | Rejection | DeadLetter)
    if not isinstance(result, Accepted):
        assert result.reason.strip()
    postal = parse_postal_message("lt.in.postal.shipment_status", body, NOW)
    assert isinstance(postal, Accepted) or postal.reason.strip()


@settings(max_examples=300)
@given(valid_envelopes)
def test_valid_envelopes_round_trip(obj):
    envelope = Envelope.model_validate(obj)
    again = Envelope.model_validate_json(envelope.model_dump_json())
    assert again == envelope
    assert Envelope.model_validate(json.loads(json.dumps(envelope.model_dump(mode="json")))) == envelope
    result = parse_agency_message(
        f"lt.in.agency.T01_00_01_X99.{obj['type']}", json.dumps(obj).encode(), TOKENS.get, NOW
    )
    # A well-formed envelope is refused, if at all, only for its action's data, never for the envelope.
    assert isinstance(result, Accepted) or result.reason.startswith("data"), result
    assert NOW - envelope.occurred_at < timedelta(days=365 * 30)
