"""Shipment states from the post's reports, whatever their order (pure)."""

from __future__ import annotations

import itertools
import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from services.postal.domain import (
    Applied,
    Duplicate,
    Impossible,
    Report,
    Shipment,
    receive,
    return_stage_due,
    state_of,
    transit_start,
)
from services.postal.handlers import max_attempts_from
from services.postal.pickup import redacted_pickup_body
from services.postal.waybill import is_valid, s10_check_digit, waybill
from tests.unit.deadline.common import CALENDAR, vn

ORDERED = vn(2026, 3, 4, 10)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return vn(2026, 3, day, hour, minute)


class Post:
    """Plays reports into a shipment as the handler does: record what is applied, count orders."""

    def __init__(self, direction: str = "delivery", max_attempts: int = 2) -> None:
        self.shipment = Shipment("LT000000011VN", direction, ORDERED)
        self.max_attempts = max_attempts
        self.reorders = self.back_to_counter = self.duplicates = 0
        self.refused: list[str] = []

    def report(self, status: str, when: datetime, attempt: int | None = None):
        result = receive(self.shipment, status, when, attempt, self.max_attempts)
        if isinstance(result, Impossible):
            self.refused.append(result.reason)
        elif isinstance(result, Duplicate):
            self.duplicates += 1
        else:
            assert isinstance(result, Applied)
            s = self.shipment
            self.shipment = Shipment(s.waybill, s.direction, s.ordered_at, (*s.reports, result.report))
            self.reorders += result.reorder
            self.back_to_counter += result.back_to_counter
        return result

    def play(self, *reports: tuple[str, datetime]) -> Post:
        for status, when in reports:
            self.report(status, when)
        return self

    @property
    def state(self):
        return state_of(self.shipment, self.max_attempts)

    def attempts_of(self, status: str) -> list[int]:
        return sorted(r.attempt for r in self.shipment.reports if r.status == status)


FIRST_TRIP = [("accepted", at(4, 14)), ("picked_up", at(4, 15)), ("in_transit", at(5, 8))]


def test_the_happy_path_ends_delivered():
    post = Post().play(*FIRST_TRIP, ("delivered", at(5, 10)))
    assert (post.state.name, post.state.attempt, post.reorders, post.back_to_counter) == ("delivered", 1, 0, 0)


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_every_arrival_order_of_one_trip_ends_delivered(order):
    trip = [*FIRST_TRIP, ("delivered", at(5, 10))]
    post = Post().play(*(trip[i] for i in order))
    assert (post.state.name, post.reorders, post.refused, len(post.shipment.reports)) == ("delivered", 0, [], 4)


def test_the_same_status_twice_is_a_duplicate_and_changes_nothing():
    post = Post().play(*FIRST_TRIP, ("in_transit", at(5, 8)), ("delivered", at(5, 10)), ("delivered", at(5, 10)))
    assert (post.state.name, post.duplicates, len(post.shipment.reports)) == ("delivered", 2, 4)


def test_a_failed_delivery_is_ordered_again_then_delivered():
    post = Post().play(*FIRST_TRIP, ("delivery_failed", at(5, 10)))
    assert (post.state.name, post.state.attempt, post.state.ordered_at, post.reorders) == ("ordered", 2, at(5, 10), 1)
    post.play(("accepted", at(6, 8)), ("in_transit", at(6, 10)))
    assert (post.state.name, post.state.attempt) == ("in_transit", 2)
    post.play(("delivered", at(6, 14)))
    assert (post.state.name, post.state.attempt, post.reorders, post.back_to_counter) == ("delivered", 2, 1, 0)
    assert post.attempts_of("accepted") == [1, 2] and post.attempts_of("delivered") == [2]


def test_a_repeated_failure_report_is_not_a_second_failed_attempt():
    """The post resends its report of the first failure (same time, a new event id) after the
    retry was ordered: it belongs to the first attempt, so the result is not sent back."""
    post = Post(max_attempts=2).play(*FIRST_TRIP, ("delivery_failed", at(5, 10)), ("delivery_failed", at(5, 10)))
    assert (post.state.name, post.state.attempt, post.duplicates, post.back_to_counter) == ("ordered", 2, 1, 0)


def test_a_late_report_of_the_failed_attempt_stays_with_it():
    post = Post().play(("accepted", at(4, 14)), ("delivery_failed", at(5, 10)), ("in_transit", at(5, 8)))
    assert post.attempts_of("in_transit") == [1]
    assert (post.state.name, post.state.attempt) == ("ordered", 2)


def test_the_post_may_name_the_attempt():
    post = Post().play(*FIRST_TRIP, ("delivery_failed", at(5, 10)))
    post.report("accepted", at(5, 9), attempt=1)  # a time before the failure, and it says so
    post.report("in_transit", at(6, 9), attempt=2)
    assert post.attempts_of("accepted") == [1] and post.attempts_of("in_transit") == [1, 2]
    post.report("accepted", at(6, 9), attempt=3)
    assert post.refused == ["data.attempt: attempt 3 of waybill LT000000011VN was never ordered (2 orders were sent)"]


def test_failures_until_the_attempts_run_out_bring_the_result_back_to_the_counter():
    post = Post(max_attempts=3)
    for day in (5, 6, 9):
        post.play(("accepted", at(day, 8)), ("delivery_failed", at(day, 10)))
    assert (post.state.name, post.state.attempt, post.reorders, post.back_to_counter) == ("back_at_counter", 3, 2, 1)
    post.play(("returned_to_sender", at(9, 16)))  # the post confirms it brought the result back
    assert (post.state.name, post.back_to_counter, post.refused) == ("returned_to_sender", 1, [])


def test_returned_to_sender_brings_the_result_back_to_the_counter_once():
    post = Post().play(*FIRST_TRIP, ("returned_to_sender", at(5, 11)), ("returned_to_sender", at(5, 11)))
    assert (post.state.name, post.back_to_counter, post.reorders, post.duplicates) == ("returned_to_sender", 1, 0, 1)


def test_a_second_different_ending_is_impossible():
    post = Post().play(("delivered", at(5, 10)), ("returned_to_sender", at(5, 11)))
    assert post.refused == [
        "waybill LT000000011VN: status 'returned_to_sender' is impossible: the shipment already ended as "
        "'delivered' at 2026-03-05T10:00:00+07:00"
    ]
    assert post.state.name == "delivered"


def test_delivered_after_the_result_went_back_to_the_counter_is_impossible():
    post = Post(max_attempts=1).play(("delivery_failed", at(5, 10)), ("delivered", at(5, 15)))
    assert post.refused == [
        "waybill LT000000011VN: status 'delivered' is impossible: after 1 failed delivery attempts "
        "(the last at 2026-03-05T10:00:00+07:00) the result went back to the receiving agency's counter"
    ]
    assert (post.state.name, post.back_to_counter) == ("back_at_counter", 1)


def test_a_status_before_its_order_is_impossible():
    post = Post().play(("accepted", at(4, 9)))
    assert post.refused == [
        "waybill LT000000011VN: status 'accepted' at 2026-03-04T09:00:00+07:00 is earlier than the delivery "
        "order of attempt 1 (2026-03-04T10:00:00+07:00)"
    ]
    post = Post().play(("delivery_failed", at(5, 10)))
    post.report("accepted", at(5, 9), attempt=2)
    assert "earlier than the delivery order of attempt 2 (2026-03-05T10:00:00+07:00)" in post.refused[0]


def test_late_reports_after_an_ending_are_recorded_and_change_nothing():
    post = Post().play(("delivered", at(5, 10)), ("in_transit", at(5, 8)), ("accepted", at(4, 14)))
    assert (post.state.name, post.refused, len(post.shipment.reports)) == ("delivered", [], 3)


def test_the_state_depends_on_the_recorded_reports_only():
    post = Post(max_attempts=3).play(
        *FIRST_TRIP, ("delivery_failed", at(5, 10)), ("accepted", at(6, 8)), ("delivery_failed", at(6, 10))
    )
    reports = list(post.shipment.reports)
    rng = random.Random(7)
    for _ in range(20):
        rng.shuffle(reports)
        shuffled = Shipment(post.shipment.waybill, "delivery", ORDERED, tuple(reports))
        assert state_of(shuffled, 3) == post.state
    assert (post.state.name, post.state.attempt, post.state.ordered_at) == ("ordered", 3, at(6, 10))


def test_a_pickup_has_one_attempt_and_never_goes_to_a_counter():
    post = Post("pickup").play(("accepted", at(4, 11)), ("delivery_failed", at(4, 15)), ("picked_up", at(5, 9)))
    assert (post.state.name, post.state.attempt, post.reorders) == ("delivery_failed", 1, 0)
    post.play(("returned_to_sender", at(5, 10)))
    assert (post.state.name, post.back_to_counter) == ("returned_to_sender", 0)


def test_the_return_stage_is_due_its_budget_plus_the_posts_transit():
    # Result ready (return stage sent) Wed 4 Mar 10:00; the post accepted it at 14:00 and brought it
    # back Thu 5 Mar 11:00. 2.5 working hours (10:00-11:30, 13:00-14:00) of the 8 were used before.
    shipment = Shipment("W", "delivery", ORDERED, (Report("accepted", at(4, 14), 1),))
    assert transit_start(shipment) == at(4, 14)
    due = return_stage_due(CALENDAR, ORDERED, 8 * 3600, transit_start(shipment), at(5, 11))
    assert due == at(6, 8, 30)  # 5.5 hours left from Thu 11:00: 11:00-11:30, 13:00-17:00, Fri 07:30-08:30
    assert transit_start(Shipment("W", "delivery", ORDERED)) == ORDERED


@pytest.mark.parametrize(("raw", "value"), [(None, 2), ("", 2), (" 3 ", 3), ("1", 1)])
def test_the_retry_policy_comes_from_the_environment(raw, value):
    assert max_attempts_from(raw) == value


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("two", "LIENTHONG_POSTAL_MAX_ATTEMPTS must be a whole number of delivery attempts, not 'two'"),
        ("0", "LIENTHONG_POSTAL_MAX_ATTEMPTS must be between 1 and 100, not '0'"),
        ("2.5", "must be a whole number"),
    ],
)
def test_a_bad_retry_policy_is_refused_at_start(raw, message):
    with pytest.raises(ValueError, match=message):
        max_attempts_from(raw)


def test_a_dead_lettered_pickup_request_keeps_no_address():
    body = {
        "event_id": "e1",
        "type": "pickup_requested",
        "occurred_at": "2026-03-04T08:00:00+07:00",
        "agency": "T01.00.01.X99",
        "data": {"procedure": "9.000001", "external_ref": "r-1", "pickup_address": {"line": "Số 12 Đường Lạ"},
                 "adress": "Số 12 Đường Lạ"},
    }  # fmt: skip
    kept = json.loads(redacted_pickup_body(json.dumps(body).encode()))
    assert "Lạ" not in json.dumps(kept, ensure_ascii=False)
    assert kept["event_id"] == "e1" and kept["data"] == {"procedure": "9.000001", "external_ref": "r-1"}
    assert b"12" not in redacted_pickup_body(b"not json: S\xe1\xbb\x91 12")


def test_waybills_follow_the_s10_check_digit():
    assert s10_check_digit("47312482") == 9  # the usual worked example: RR 47312482 9 GB
    number = waybill(1234)
    assert number.startswith("LT00001234") and number.endswith("VN") and is_valid(number)
    assert not is_valid(number[:10] + str((int(number[10]) + 1) % 10) + "VN")


def test_times_are_compared_whatever_their_offset():
    post = Post().play(("accepted", ORDERED.astimezone(UTC) + timedelta(seconds=1)))
    assert post.refused == [] and post.state.name == "accepted"
