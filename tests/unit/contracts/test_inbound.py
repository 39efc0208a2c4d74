"""Inbound validation names exactly what is wrong (pure, no I/O)."""

from __future__ import annotations

import json

import pytest

from shared.contracts.inbound import (
    MAX_BODY_BYTES,
    Accepted,
    DeadLetter,
    Rejection,
    parse_agency_message,
    parse_postal_message,
)
from shared.messaging import message_key

AGENCIES = {"000_00_15_H57": "000.00.15.H57", "000_00_30_H57": "000.00.30.H57"}
SUBJECT = "lt.in.agency.000_00_15_H57.submitted"


def lookup(token: str) -> str | None:
    return AGENCIES.get(token)


def body(**overrides) -> bytes:
    envelope = {
        "event_id": "e-1",
        "type": "submitted",
        "schema_version": 1,
        "occurred_at": "2026-03-02T08:15:00+07:00",
        "agency": "000.00.15.H57",
        "data": {"external_ref": "r1", "procedure": "1.001776", "channel": "counter", "return_method": "counter"},
    }
    envelope.update(overrides)
    return json.dumps(envelope).encode()


def test_a_valid_submission_is_accepted():
    parsed = parse_agency_message(SUBJECT, body(), lookup)
    assert isinstance(parsed, Accepted)
    assert parsed.agency_code == "000.00.15.H57"


def test_an_unknown_agency_token_is_a_dead_letter():
    parsed = parse_agency_message("lt.in.agency.999_XX.submitted", body(), lookup)
    assert isinstance(parsed, DeadLetter)
    assert "999_XX" in parsed.reason


def test_a_malformed_subject_is_a_dead_letter():
    assert isinstance(parse_agency_message("lt.in.agency.submitted", body(), lookup), DeadLetter)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b"[1, 2]", "must be a JSON object"),
        (b"{" * 5000, "not valid JSON"),
        (json.dumps({"a": [[[[[[[[[[[[[[1]]]]]]]]]]]]]]}).encode(), "nested deeper"),
        (b"x" * (MAX_BODY_BYTES + 1), "more than the"),
    ],
)
def test_undecodable_bodies_are_refused_with_the_reason(raw, reason):
    parsed = parse_agency_message(SUBJECT, raw, lookup)
    assert isinstance(parsed, Rejection)
    assert reason in parsed.reason


def test_the_envelope_agency_must_be_the_subject_agency():
    parsed = parse_agency_message(SUBJECT, body(agency="000.00.30.H57"), lookup)
    assert isinstance(parsed, Rejection)
    assert parsed.reason == "agency: '000.00.30.H57' does not match the subject's agency '000.00.15.H57'"
    assert parsed.event_id == "e-1"


def test_a_naive_timestamp_is_refused():
    parsed = parse_agency_message(SUBJECT, body(occurred_at="2026-03-02T08:15:00"), lookup)
    assert isinstance(parsed, Rejection)
    assert parsed.reason.startswith("occurred_at:")


def test_an_unknown_envelope_field_is_named():
    parsed = parse_agency_message(SUBJECT, body(extra_field=1), lookup)
    assert isinstance(parsed, Rejection)
    assert parsed.reason == "extra_field: unknown field"


def test_a_postal_return_needs_a_delivery_address():
    data = {"external_ref": "r1", "procedure": "p", "channel": "counter", "return_method": "postal"}
    parsed = parse_agency_message(SUBJECT, body(data=data), lookup)
    assert isinstance(parsed, Rejection)
    assert parsed.reason == "data: delivery_address is required when return_method is 'postal'"


def test_far_future_events_are_refused():
    from datetime import datetime

    now = datetime.fromisoformat("2026-03-01T00:00:00+07:00")
    parsed = parse_agency_message(SUBJECT, body(occurred_at="2031-01-01T00:00:00+07:00"), lookup, now)
    assert isinstance(parsed, Rejection)
    assert "in the future" in parsed.reason


def test_actions_other_than_submitted_need_a_dossier_code():
    subject = "lt.in.agency.000_00_15_H57.refused"
    parsed = parse_agency_message(subject, body(type="refused", data={"reason": "thiếu giấy tờ"}), lookup)
    assert isinstance(parsed, Rejection)
    assert parsed.reason.startswith("dossier_code:")


def test_unknown_actions_are_refused():
    parsed = parse_agency_message("lt.in.agency.000_00_15_H57.teleported", body(type="teleported"), lookup)
    assert isinstance(parsed, Rejection)
    assert "unknown action 'teleported'" in parsed.reason


def test_postal_status_is_validated():
    raw = json.dumps(
        {
            "event_id": "p1",
            "type": "shipment_status",
            "occurred_at": "2026-03-02T08:15:00+07:00",
            "data": {"waybill": "W1", "status": "lost_in_space", "at": "2026-03-02T08:15:00+07:00"},
        }
    )
    parsed = parse_postal_message("lt.in.postal.shipment_status", raw.encode())
    assert isinstance(parsed, Rejection)
    assert parsed.reason.startswith("data.status:")


def test_message_keys_are_scoped_by_the_sender_so_agencies_cannot_shadow_each_other():
    a = message_key("lt.in.agency.A_1.stage_completed", body(), None, "x")
    b = message_key("lt.in.agency.B_2.stage_completed", body(), None, "x")
    assert a != b
    assert a == "A_1/e-1"
    assert message_key("lt.evt.dossier.routed", body(), None, "x") == "e-1"
    assert message_key("lt.evt.dossier.routed", b"junk", {"Nats-Msg-Id": "m"}, "x") == "m"
