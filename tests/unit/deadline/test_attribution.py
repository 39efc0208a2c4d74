"""Who is late, by how much, and who is not charged (DOMAIN.md §1, CONTRACT.md §6), on hand-made facts.

Procedure 9.000001 of the tests' catalog: receive 1 working day at the commune, process 4 at the
district labour office, decide 4 at the province, return 1 at the commune. Office hours from
October to March: 07:30-11:30 and 13:00-17:00, so a working day is 8 hours. Tết 2026 is Mon 16 -
Fri 20 February. Procedure 9.000002 restarts its clock on a supplement (receive 0.5 day, process
1.5 at the commune, decide 3 at the district justice office, return 1).
"""

from __future__ import annotations

from services.deadline.report import explanation
from services.deadline.timeline import build_timeline
from tests.unit.deadline.common import (
    CALENDAR,
    CATALOG,
    COMMUNE,
    HOUR,
    JUSTICE_OFFICE,
    LABOUR_OFFICE,
    PROVINCE_DEPT,
    RESTART,
    THREE_LEVELS,
    vn,
)
from tests.unit.deadline.story import Story


def story(code: str = "T01.00.01.X99-260302-0001") -> Story:
    return Story(CATALOG, code, THREE_LEVELS, COMMUNE)


def test_tet_holidays_do_not_count_against_the_stage_budget():
    s = story("T01.00.01.X99-260210-0001")
    s.received(vn(2026, 2, 10, 8))
    s.completed(0, vn(2026, 2, 10, 16))  # the district office gets it on Tuesday before Tết
    s.handoff_received(1, vn(2026, 2, 11, 8))
    s.completed(1, vn(2026, 2, 23, 15))  # the Monday after Tết (16-20 Feb are holidays)
    stage = build_timeline(s.facts(), CALENDAR).stage(1)
    # 32 working hours from Tue 10 Feb 16:00: 1 + 8 + 8 + 8 before Tết, then 7 on Mon 23 Feb.
    assert stage.due == vn(2026, 2, 23, 16)
    assert stage.late is False
    assert stage.used_seconds == 31 * HOUR


def test_a_stage_finishing_after_tet_past_its_due_overruns_by_working_hours_only():
    s = story("T01.00.01.X99-260210-0002")
    s.received(vn(2026, 2, 10, 8))
    s.completed(0, vn(2026, 2, 10, 16))
    s.completed(1, vn(2026, 2, 24, 10))
    timeline = build_timeline(s.facts(), CALENDAR)
    stage = timeline.stage(1)
    assert stage.late is True
    assert stage.overrun_seconds == 3.5 * HOUR  # Mon 16:00-17:00, then Tue 07:30-10:00
    assert [(b.stage_index, b.agency, b.overrun_seconds) for b in timeline.blamed] == [(1, LABOUR_OFFICE, 3.5 * HOUR)]


def test_a_dossier_across_tet_late_only_because_of_the_district_department():
    s = story("T01.00.01.X99-260210-0003")
    # Appointment: 80 working hours from Tue 10 Feb 08:00: Tue 7.5, Wed-Fri 24 (31.5), Tết and the
    # weekends, Mon 23 Feb - Mon 2 Mar 48 (79.5), Tue 3 Mar 07:30 + 0.5 -> 08:00.
    s.received(vn(2026, 2, 10, 8))
    s.completed(0, vn(2026, 2, 10, 16))  # due Wed 11 Feb 08:00
    s.handoff_received(1, vn(2026, 2, 11, 8))
    s.completed(1, vn(2026, 2, 25, 10))  # due Mon 23 Feb 16:00: over by Mon 1 + Tue 8 + Wed 2.5
    s.handoff_received(2, vn(2026, 2, 25, 14))
    s.completed(2, vn(2026, 3, 3, 10), "result_ready")  # due Tue 3 Mar 10:00: exactly on time
    s.handoff_received(3, vn(2026, 3, 3, 14))
    s.returned(vn(2026, 3, 3, 15))
    timeline = build_timeline(s.facts(), CALENDAR)
    assert timeline.appointment_at == vn(2026, 3, 3, 8)
    assert (timeline.late, timeline.late_seconds) == (True, 2 * HOUR)  # Tue 08:00-10:00
    assert [(b.stage_index, b.agency, b.overrun_seconds) for b in timeline.blamed] == [(1, LABOUR_OFFICE, 11.5 * HOUR)]
    assert [(st.late, st.used_seconds) for st in timeline.stages] == [
        (False, 6.5 * HOUR),
        (True, 43.5 * HOUR),  # Tue 1, Wed-Fri 24, (Tết), Mon-Tue 16, Wed 2.5
        (False, 32 * HOUR),  # its whole budget, to the second
        (False, 3.5 * HOUR),  # Tue 10:00-15:00, its hand-off wait (10:00-11:30, 13:00-14:00) included
    ]
    assert timeline.stage(3).handoff_wait_seconds == 2.5 * HOUR


def test_supplement_request_stops_the_clock():
    s = story()
    s.received(vn(2026, 3, 2, 8))
    s.completed(0, vn(2026, 3, 2, 10))
    s.handoff_received(1, vn(2026, 3, 2, 14))
    s.paused(1, vn(2026, 3, 3, 9))
    s.resumed(1, vn(2026, 3, 3, 9), vn(2026, 3, 5, 9))  # 16 working hours waiting for the citizen
    s.completed(1, vn(2026, 3, 10, 9))
    timeline = build_timeline(s.facts(), CALENDAR)
    stage = timeline.stage(1)
    assert stage.paused_seconds == 16 * HOUR
    assert stage.due == vn(2026, 3, 10, 10)  # Fri 6 Mar 10:00 without the pause, moved by 16 hours
    assert stage.late is False
    assert stage.used_seconds == 31 * HOUR
    assert timeline.blamed == ()


def test_a_late_stage_is_charged_its_own_overrun_and_not_the_pause_inside_it():
    s = story()
    s.received(vn(2026, 3, 2, 8))
    s.completed(0, vn(2026, 3, 2, 10))  # stage 1 due Fri 6 Mar 10:00
    s.paused(1, vn(2026, 3, 4, 9))
    s.resumed(1, vn(2026, 3, 4, 9), vn(2026, 3, 5, 9))  # 8 working hours: due Mon 9 Mar 10:00
    s.completed(1, vn(2026, 3, 9, 15))
    timeline = build_timeline(s.facts(), CALENDAR)
    stage = timeline.stage(1)
    assert stage.due == vn(2026, 3, 9, 10)
    assert stage.overrun_seconds == 3.5 * HOUR  # Mon 10:00-11:30 and 13:00-15:00, not the 8 paused hours too
    assert stage.used_seconds == 35.5 * HOUR  # 43.5 working hours sent -> done, less the pause
    assert [(b.stage_index, b.agency, b.overrun_seconds) for b in timeline.blamed] == [(1, LABOUR_OFFICE, 3.5 * HOUR)]
    assert explanation(timeline, CATALOG)["pauses"][0] | {"start": None, "end": None} == {
        "kind": "supplement", "stage_index": 1, "agency": LABOUR_OFFICE, "start": None, "end": None,
        "working_hours": 8.0, "charged_to": None,
    }  # fmt: skip


def test_a_supplement_pause_across_tet_moves_the_due_by_working_hours_and_the_late_stage_is_the_next_one():
    s = story("T01.00.01.X99-260209-0001")
    s.received(vn(2026, 2, 9, 8))  # appointment Mon 2 Mar 08:00 (80 working hours, Tết excluded)
    s.completed(0, vn(2026, 2, 9, 10))  # stage 1 due Fri 13 Feb 10:00
    s.paused(1, vn(2026, 2, 12, 9))
    s.resumed(1, vn(2026, 2, 12, 9), vn(2026, 2, 24, 9))  # Thu 6.5, Fri 8, (Tết), Mon 8, Tue 1.5: 24 hours
    s.completed(1, vn(2026, 2, 25, 9))
    s.completed(2, vn(2026, 3, 5, 10), "result_ready")
    timeline = build_timeline(s.facts(), CALENDAR)
    district, province = timeline.stage(1), timeline.stage(2)
    assert timeline.pauses[0].working_seconds == 24 * HOUR
    assert district.due == vn(2026, 2, 25, 10)  # Fri 13 Feb 10:00 + 24 h: Fri 5.5, Mon 8, Tue 8, Wed 2.5
    assert (district.late, district.used_seconds) == (False, 31 * HOUR)
    assert timeline.appointment_at == vn(2026, 3, 5, 8)  # Mon 2 Mar 08:00 + 24 h
    # The province: sent Wed 25 Feb 09:00, due Tue 3 Mar 09:00, done Thu 5 Mar 10:00.
    assert (province.due, province.overrun_seconds) == (vn(2026, 3, 3, 9), 17 * HOUR)
    assert (timeline.late, timeline.late_seconds) == (True, 2 * HOUR)
    assert [(b.stage_index, b.agency) for b in timeline.blamed] == [(2, PROVINCE_DEPT)]


def test_a_restart_supplement_judges_the_dossier_against_the_restarted_appointment_and_the_stage_on_its_budget():
    s = Story(CATALOG, "T01.00.01.X99-260302-0009", RESTART, COMMUNE)
    s.received(vn(2026, 3, 2, 8))  # 6 working days: Tue 10 Mar 08:00
    s.completed(0, vn(2026, 3, 2, 9))  # stage 1 stays at the commune
    s.paused(1, vn(2026, 3, 2, 10))
    s.resumed(1, vn(2026, 3, 2, 10), vn(2026, 3, 3, 9))  # 7 working hours; 6 days again from Tue 09:00
    s.completed(1, vn(2026, 3, 3, 10))
    s.handoff_received(2, vn(2026, 3, 3, 14))
    s.completed(2, vn(2026, 3, 11, 11), "result_ready")
    timeline = build_timeline(s.facts(), CALENDAR)
    assert [(a.cause, a.appointment_at) for a in timeline.appointments] == [
        ("received", vn(2026, 3, 10, 8)),
        ("restart", vn(2026, 3, 11, 9)),  # Tue 6.5, Wed-Mon 32, Tue 8, Wed 1.5
    ]
    commune, justice = timeline.stage(1), timeline.stage(2)
    assert (commune.due, commune.paused_seconds, commune.used_seconds, commune.late) == (
        vn(2026, 3, 4, 13, 30),  # 12 hours from Mon 09:00 -> Tue 14:30, and the 7 paused hours
        7 * HOUR,
        2 * HOUR,
        False,
    )
    # The justice office: sent Tue 3 Mar 10:00 with 24 hours, due Fri 6 Mar 10:00.
    assert (justice.due, justice.overrun_seconds) == (vn(2026, 3, 6, 10), 25 * HOUR)  # Fri 5.5, Mon-Tue 16, Wed 3.5
    assert (timeline.late, timeline.late_seconds) == (True, 2 * HOUR)  # Wed 09:00-11:00, not from Tue 10 08:00
    assert [(b.stage_index, b.agency) for b in timeline.blamed] == [(2, JUSTICE_OFFICE)]


def test_handoff_wait_belongs_to_the_receiving_agencys_stage():
    s = story()
    s.received(vn(2026, 3, 2, 8))
    s.completed(0, vn(2026, 3, 2, 10))  # the commune sends it on at once
    s.handoff_received(1, vn(2026, 3, 5, 10))  # the district office signs for it three working days later
    s.completed(1, vn(2026, 3, 9, 14))
    timeline = build_timeline(s.facts(), CALENDAR)
    sender, receiver = timeline.stage(0), timeline.stage(1)
    assert receiver.handoff_wait_seconds == 24 * HOUR
    assert receiver.due == vn(2026, 3, 6, 10)  # counted from the hand-off, not from the receipt
    assert receiver.late is True and receiver.overrun_seconds == 10.5 * HOUR
    assert sender.late is False
    assert [(b.stage_index, b.agency) for b in timeline.blamed] == [(1, LABOUR_OFFICE)]


def test_a_dossier_late_only_because_of_one_district_department_blames_that_stage_alone():
    s = story()
    s.received(vn(2026, 3, 2, 8))  # appointment: Mon 16 Mar 08:00
    s.completed(0, vn(2026, 3, 3, 8))  # the commune uses exactly its day
    s.handoff_received(1, vn(2026, 3, 3, 9))
    s.completed(1, vn(2026, 3, 10, 16))  # due Mon 9 Mar 08:00: 14.5 working hours over
    s.handoff_received(2, vn(2026, 3, 11, 8))
    s.completed(2, vn(2026, 3, 16, 16), "result_ready")  # the province uses exactly its 4 days
    timeline = build_timeline(s.facts(), CALENDAR)
    assert timeline.appointment_at == vn(2026, 3, 16, 8)
    assert timeline.late is True
    assert timeline.late_seconds == 6.5 * HOUR
    assert [(b.stage_index, b.agency, b.overrun_seconds) for b in timeline.blamed] == [(1, LABOUR_OFFICE, 14.5 * HOUR)]
    assert [st.late for st in timeline.stages[:3]] == [False, True, False]
    assert explanation(timeline, CATALOG)["blamed"] == [
        {"stage_index": 1, "agency": LABOUR_OFFICE, "agency_name": "Phòng Lao động huyện Thử", "overrun_hours": 14.5}
    ]


def test_several_overrunning_stages_are_listed_largest_overrun_first():
    s = story()
    s.received(vn(2026, 3, 2, 8))
    s.completed(0, vn(2026, 3, 3, 9))  # due Tue 08:00: 1 hour over
    s.completed(1, vn(2026, 3, 9, 15, 30))  # due Mon 9 Mar 09:00: 5 hours over
    s.completed(2, vn(2026, 3, 16, 9), "result_ready")  # due Fri 13 Mar 15:30: 3 hours over
    timeline = build_timeline(s.facts(), CALENDAR)
    assert [(b.stage_index, b.agency, b.overrun_seconds) for b in timeline.blamed] == [
        (1, LABOUR_OFFICE, 5 * HOUR),
        (2, PROVINCE_DEPT, 3 * HOUR),
        (0, COMMUNE, 1 * HOUR),
    ]


def test_pauses_and_postal_legs_are_charged_to_no_agency():
    s = story()
    s.received(vn(2026, 3, 2, 8))
    s.completed(0, vn(2026, 3, 2, 10))
    s.paused(1, vn(2026, 3, 3, 9), kind="obligation")  # the citizen pays a fee for 3 working days
    s.resumed(1, vn(2026, 3, 3, 9), vn(2026, 3, 6, 9), kind="obligation")
    s.completed(1, vn(2026, 3, 10, 16))  # due moved to Wed 11 Mar 10:00 by the pause
    s.completed(2, vn(2026, 3, 13, 16), "result_ready")
    s.handoff_received(3, vn(2026, 3, 16, 8))
    s.shipment("EV123VN", "delivery", "accepted", vn(2026, 3, 16, 9))  # handed to the post after an hour
    s.shipment("EV123VN", "delivery", "in_transit", vn(2026, 3, 17, 9))
    s.shipment("EV123VN", "delivery", "delivered", vn(2026, 3, 19, 9))  # 24 working hours in transit
    s.returned(vn(2026, 3, 19, 9), via="postal")
    timeline = build_timeline(s.facts(), CALENDAR)
    back = timeline.stage(3)
    # Its own time: Fri 16:00-17:00 and Mon 07:30-09:00; the post's 24 hours are not its.
    assert back.postal_seconds == 24 * HOUR and back.late is False and back.used_seconds == 2.5 * HOUR
    assert timeline.stage(1).paused_seconds == 24 * HOUR and timeline.stage(1).late is False
    assert timeline.blamed == ()
    leg = timeline.postal_legs[0]
    assert (leg.direction, leg.status, leg.working_seconds) == ("delivery", "delivered", 24 * HOUR)
    explained = explanation(timeline, CATALOG)
    assert explained["pauses"][0]["charged_to"] is None and explained["pauses"][0]["working_hours"] == 24
    assert explained["postal_legs"][0]["charged_to"] is None


def test_overlapping_pauses_stop_the_clock_once():
    s = story()
    s.received(vn(2026, 3, 2, 8))
    s.completed(0, vn(2026, 3, 2, 10))
    s.paused(1, vn(2026, 3, 3, 9), kind="supplement")
    s.paused(1, vn(2026, 3, 4, 9), kind="obligation")  # a fee asked while papers are awaited
    s.resumed(1, vn(2026, 3, 3, 9), vn(2026, 3, 5, 9), kind="supplement")
    s.resumed(1, vn(2026, 3, 4, 9), vn(2026, 3, 6, 9), kind="obligation")
    stage = build_timeline(s.facts(), CALENDAR).stage(1)
    assert stage.paused_seconds == 24 * HOUR  # Tue 09:00 -> Fri 09:00, not 16 + 16 hours
    assert stage.due == vn(2026, 3, 11, 10)
