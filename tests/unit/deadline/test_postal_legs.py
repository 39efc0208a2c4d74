"""Postal legs on the dossier's timeline, charged to no agency, and the citizen's end-to-end time
(pickup to result in hand) beside the agencies' verdict, which ends at the result (pure)."""

from __future__ import annotations

from services.deadline.report import end_to_end_json, explanation
from services.deadline.timeline import build_timeline
from tests.unit.deadline.common import CALENDAR, CATALOG, COMMUNE, HOUR, THREE_LEVELS, vn
from tests.unit.deadline.story import Story

CODE = "T01.00.01.X99-260302-0001"


def through_the_result(received=vn(2026, 3, 2, 8)) -> Story:
    """Received Mon 2 Mar 08:00, every stage done by its due time, result ready Thu 12 Mar 10:00
    and the return stage (8 working hours) sent to the commune then."""
    s = Story(CATALOG, CODE, THREE_LEVELS, COMMUNE)
    s.received(received)
    s.completed(0, vn(2026, 3, 2, 10))
    s.completed(1, vn(2026, 3, 6, 10))
    s.completed(2, vn(2026, 3, 12, 10), "result_ready")
    return s


def test_a_retried_delivery_is_one_leg_from_the_first_acceptance_to_delivery():
    s = through_the_result()
    s.shipment("W1", "delivery", "accepted", vn(2026, 3, 12, 14))
    s.shipment("W1", "delivery", "delivery_failed", vn(2026, 3, 12, 16), state="ordered")
    s.shipment("W1", "delivery", "accepted", vn(2026, 3, 13, 8), attempt=2)
    s.shipment("W1", "delivery", "delivered", vn(2026, 3, 13, 9), attempt=2)
    s.returned(vn(2026, 3, 13, 9), via="postal")
    t = build_timeline(s.facts(), CALENDAR)
    (leg,) = t.postal_legs
    assert (leg.status, leg.start, leg.end) == ("delivered", vn(2026, 3, 12, 14), vn(2026, 3, 13, 9))
    assert leg.working_seconds == 4.5 * HOUR  # Thu 14:00-17:00, Fri 07:30-09:00
    back = t.stage(3)  # the return stage: Thu 10:00-11:30 and 13:00-14:00 are the commune's
    assert (back.postal_seconds, back.used_seconds, back.late) == (4.5 * HOUR, 2.5 * HOUR, False)
    assert t.blamed == ()


def test_a_delivery_whose_attempts_ran_out_ends_at_the_last_failure_and_the_counter_takes_over():
    s = through_the_result()
    s.shipment("W1", "delivery", "accepted", vn(2026, 3, 12, 14))
    s.shipment("W1", "delivery", "delivery_failed", vn(2026, 3, 12, 16), state="ordered")
    s.shipment("W1", "delivery", "delivery_failed", vn(2026, 3, 13, 10), attempt=2, state="back_at_counter")
    s.shipment("W1", "delivery", "in_transit", vn(2026, 3, 13, 9), attempt=2, state="back_at_counter")  # late
    t = build_timeline(s.facts(), CALENDAR)
    (leg,) = t.postal_legs
    assert (leg.status, leg.end) == ("back_at_counter", vn(2026, 3, 13, 10))
    back = t.stage(3)
    assert not back.clock_stopped  # the transit ended: the return stage's clock runs again
    assert back.due == vn(2026, 3, 13, 17)  # Thu 10:00 + 8 h + the post's 5.5 h (Thu 14:00-Fri 10:00)
    s.returned(vn(2026, 3, 16, 9))  # handed out at the counter on Monday morning: 1.5 h late
    t = build_timeline(s.facts(), CALENDAR)
    assert (t.stage(3).late, t.stage(3).overrun_seconds, t.returned_via) == (True, 1.5 * HOUR, "counter")
    assert t.late is False  # the agencies' on-time verdict was taken at the result


def test_the_pickup_leg_precedes_the_receipt_and_the_citizen_waits_from_it():
    s = through_the_result(received=vn(2026, 3, 2, 8))
    s.shipment("P1", "pickup", "accepted", vn(2026, 2, 26, 9))
    s.shipment("P1", "pickup", "picked_up", vn(2026, 2, 26, 14))
    s.shipment("P1", "pickup", "delivered", vn(2026, 2, 27, 16))
    s.shipment("W1", "delivery", "accepted", vn(2026, 3, 13, 8))
    s.shipment("W1", "delivery", "delivered", vn(2026, 3, 13, 15))
    s.returned(vn(2026, 3, 13, 15), via="postal")
    t = build_timeline(s.facts(), CALENDAR)
    pickup, delivery = t.postal_legs  # in time order
    assert (pickup.direction, pickup.start, pickup.end, pickup.status) == (
        "pickup",
        vn(2026, 2, 26, 14),
        vn(2026, 3, 2, 8),
        "delivered",
    )
    assert pickup.working_seconds == 11.5 * HOUR  # Thu 14:00-17:00, Fri 8 h, Mon 07:30-08:00
    assert all(st.postal_seconds == 0 for st in t.stages[:3])  # no agency's stage holds the pickup
    j = t.journey
    assert (j.start, j.end, j.via) == (vn(2026, 2, 26, 14), vn(2026, 3, 13, 15), "postal")
    assert j.before_receipt_seconds == 11.5 * HOUR
    assert j.to_result_seconds == CALENDAR.working_seconds_between(vn(2026, 3, 2, 8), vn(2026, 3, 12, 10))
    assert j.after_result_seconds == 11.5 * HOUR  # Thu 10:00-17:00 and Fri 07:30-15:00, lunches out
    assert j.working_seconds == j.before_receipt_seconds + j.to_result_seconds + j.after_result_seconds
    assert j.postal_seconds == pickup.working_seconds + delivery.working_seconds
    assert j.elapsed_seconds == (vn(2026, 3, 13, 15) - vn(2026, 2, 26, 14)).total_seconds()

    e = explanation(t, CATALOG)
    assert e["on_time_verdict_at"] == e["result_ready_at"] == "2026-03-12T10:00:00+07:00"
    assert e["returned_via"] == "postal" and e["late"] is False
    assert [(leg["direction"], leg["charged_to"]) for leg in e["postal_legs"]] == [("pickup", None), ("delivery", None)]
    assert e["end_to_end"] == {
        "from": "2026-02-26T14:00:00+07:00",
        "to": "2026-03-13T15:00:00+07:00",
        "via": "postal",
        "working_hours": j.working_seconds / HOUR,
        "elapsed_days": round(j.elapsed_seconds / 86400, 4),
        "pickup_hours": 11.5,
        "to_result_hours": j.to_result_seconds / HOUR,
        "after_result_hours": 11.5,
        "postal_hours": 11.5 + 5.5,
        "postal_charged_to": None,
    }


def test_an_open_dossier_has_no_end_to_end_time_yet():
    t = build_timeline(through_the_result().facts(), CALENDAR)
    assert (t.journey.start, t.journey.end, t.journey.working_seconds) == (vn(2026, 3, 2, 8), None, None)
    assert explanation(t, CATALOG)["end_to_end"]["to"] is None


def test_the_reports_end_to_end_figures_per_way_of_return():
    row = lambda via, n, mean: {  # noqa: E731
        "via": via, "returned": n, "mean_working_hours": mean, "median_working_hours": mean,
        "max_working_hours": mean + 1, "mean_elapsed_days": 9.123456, "mean_to_result_hours": 70,
        "mean_after_result_hours": mean - 70, "mean_postal_hours": 3,
    }  # fmt: skip
    figures = end_to_end_json([row("postal", 1, 80.0), row("all", 3, 76.0), row("counter", 2, 74.0)])
    assert (figures["returned"], figures["mean_working_hours"], figures["mean_elapsed_days"]) == (3, 76.0, 9.1235)
    assert [(x["via"], x["returned"], x["mean_after_result_hours"]) for x in figures["by_return"]] == [
        ("counter", 2, 4.0),
        ("postal", 1, 10.0),
    ]
    assert end_to_end_json([]) == {"returned": 0, **dict.fromkeys(figures.keys() - {"returned", "by_return"}),
                                   "by_return": []}  # fmt: skip


def test_a_fee_awaited_while_the_post_carries_the_result_stops_the_return_stage_once():
    s = through_the_result()
    s.shipment("W1", "delivery", "accepted", vn(2026, 3, 12, 14))
    s.paused(3, vn(2026, 3, 12, 15), kind="obligation")  # a fee asked for while the post already has it
    s.resumed(3, vn(2026, 3, 12, 15), vn(2026, 3, 13, 8), kind="obligation")
    s.shipment("W1", "delivery", "delivered", vn(2026, 3, 13, 9))
    s.returned(vn(2026, 3, 13, 9), via="postal")
    back = build_timeline(s.facts(), CALENDAR).stage(3)
    # the obligation (Thu 15:00-17:00, Fri 07:30-08:00: 2.5 h) lies inside the transit (4.5 h): the
    # clock stood still 4.5 h, not 7 h, of which 2 h are the post's alone
    assert (back.paused_seconds, back.postal_seconds) == (2.5 * HOUR, 2 * HOUR)
    assert back.used_seconds == 2.5 * HOUR  # Thu 10:00-11:30 and 13:00-14:00 at the commune
    assert back.due == vn(2026, 3, 13, 16)  # Thu 10:00 + 8 working hours + 4.5 stopped (counted twice: Mon 09:00)
