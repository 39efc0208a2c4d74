"""Shipment states from the post's reports, whatever their order (pure)."""

from __future__ import annotations

import pytest

from services.postal.domain import StatusReport, apply_status, impossible
from services.postal.waybill import is_valid, s10_check_digit, waybill


def play(statuses, max_attempts=2):
    state, attempt, orders, counter = "ordered", 1, 0, False
    for status in statuses:
        if impossible(state, status):
            continue
        outcome = apply_status(state, attempt, StatusReport(status, attempt), max_attempts)
        state = outcome.state
        if outcome.reorder:
            attempt, orders = attempt + 1, orders + 1
        counter = counter or outcome.back_to_counter
    return state, attempt, orders, counter


def test_the_happy_path_ends_delivered():
    assert play(["accepted", "picked_up", "in_transit", "delivered"])[0] == "delivered"


def test_a_delivered_report_before_in_transit_still_ends_delivered():
    assert play(["accepted", "delivered", "in_transit", "picked_up"])[0] == "delivered"


def test_duplicates_change_nothing():
    assert play(["accepted", "accepted", "delivered", "delivered"])[0] == "delivered"


def test_a_failed_delivery_is_tried_again_then_delivered():
    assert play(["accepted", "delivery_failed", "accepted", "delivered"]) == ("delivered", 2, 1, False)


def test_failures_beyond_the_policy_bring_the_result_back_to_the_counter():
    assert play(["delivery_failed", "delivery_failed"], max_attempts=2) == ("back_at_counter", 2, 1, True)


def test_returned_to_sender_brings_the_result_back_to_the_counter():
    state, _, _, counter = play(["accepted", "in_transit", "returned_to_sender"])
    assert state == "returned_to_sender" and counter


@pytest.mark.parametrize(
    ("current", "incoming"),
    [("returned_to_sender", "delivered"), ("delivered", "returned_to_sender"), ("back_at_counter", "delivered")],
)
def test_a_second_different_ending_is_impossible(current, incoming):
    assert "impossible" in impossible(current, incoming)


def test_a_late_report_after_an_ending_is_not_impossible_but_changes_nothing():
    assert impossible("delivered", "in_transit") is None
    assert apply_status("delivered", 1, StatusReport("in_transit", 1), 2).state == "delivered"


def test_waybills_follow_the_s10_check_digit():
    assert s10_check_digit("47312482") == 9  # the usual worked example: RR 47312482 9 GB
    number = waybill(1234)
    assert number.startswith("LT00001234") and number.endswith("VN") and is_valid(number)
    assert not is_valid(number[:10] + str((int(number[10]) + 1) % 10) + "VN")
