"""When warnings, overdue flags and apology requests fire, to whom, and what they say."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from services.deadline.alerts import (
    APOLOGY_REQUIRED,
    DOSSIER_OVERDUE,
    STAGE_OVERDUE,
    STAGE_WARNING,
    alert_messages,
    plan_timers,
    warn_at,
)
from services.deadline.app import WARN_SETTING, warn_threshold_seconds
from services.deadline.timeline import build_timeline
from tests.unit.deadline.common import (
    CALENDAR,
    CATALOG,
    COMMUNE,
    HOUR,
    LABOUR_OFFICE,
    PROVINCE_DEPT,
    THREE_LEVELS,
    vn,
)
from tests.unit.deadline.story import Story

SECOND = timedelta(seconds=1)


def at_the_district_office() -> Story:
    """Stage 1 (4 working days at the district office) sent Mon 2 Mar 10:00: due Fri 6 Mar 10:00.
    The appointment is Mon 16 Mar 08:00."""
    s = Story(CATALOG, "T01.00.01.X99-260302-0001", THREE_LEVELS, COMMUNE)
    s.received(vn(2026, 3, 2, 8))
    s.completed(0, vn(2026, 3, 2, 10))
    return s


def timers_of(s: Story, threshold: int | None = None) -> dict[tuple[str, int | None], tuple]:
    """(kind, stage) -> (stage, agency, due, fire) of every timer the facts make due."""
    timeline = build_timeline(s.facts(), CALENDAR)
    return {
        (t.kind, t.stage_index if t.kind in (STAGE_WARNING, STAGE_OVERDUE) else None): (
            t.stage_index, t.agency, t.due_at, t.fire_at,
        )
        for t in plan_timers(timeline, CALENDAR, threshold)
    }  # fmt: skip


WARNING_1, OVERDUE_1 = (STAGE_WARNING, 1), (STAGE_OVERDUE, 1)
APOLOGY, DOSSIER = (APOLOGY_REQUIRED, None), (DOSSIER_OVERDUE, None)


def test_a_running_stage_is_warned_when_it_reaches_its_last_working_day():
    timers = timers_of(at_the_district_office())
    assert timers[WARNING_1] == (1, LABOUR_OFFICE, vn(2026, 3, 6, 10), vn(2026, 3, 5, 10))


def test_a_one_day_stage_is_on_its_last_working_day_from_its_start():
    timers = timers_of(at_the_district_office())
    # The commune's receiving stage (Mon 08:00, due Tue 08:00) was warned at its start: it ended
    # at 10:00, after that, so the warning stands; it never became overdue.
    assert timers[(STAGE_WARNING, 0)] == (0, COMMUNE, vn(2026, 3, 3, 8), vn(2026, 3, 2, 8))
    assert (STAGE_OVERDUE, 0) not in timers


def test_the_warning_threshold_is_configurable_in_working_hours():
    timers = timers_of(at_the_district_office(), threshold=2 * HOUR)
    assert timers[WARNING_1][3] == vn(2026, 3, 6, 8)  # Fri 07:30-10:00 holds 2.5 hours


def test_warn_at_counts_working_time_back_across_tet():
    assert warn_at(CALENDAR, vn(2026, 2, 10, 16), vn(2026, 2, 23, 16), 8 * HOUR) == vn(2026, 2, 13, 16)


def test_a_stage_is_overdue_from_the_second_after_its_due_time():
    timers = timers_of(at_the_district_office())
    assert timers[OVERDUE_1] == (1, LABOUR_OFFICE, vn(2026, 3, 6, 10), vn(2026, 3, 6, 10) + SECOND)


def test_the_holder_is_asked_for_an_apology_one_working_day_before_the_appointment():
    timers = timers_of(at_the_district_office())
    assert timers[APOLOGY] == (1, LABOUR_OFFICE, vn(2026, 3, 16, 8), vn(2026, 3, 13, 8))
    assert timers[DOSSIER] == (1, LABOUR_OFFICE, vn(2026, 3, 16, 8), vn(2026, 3, 16, 8) + SECOND)


def test_a_paused_dossier_has_no_running_timers():
    s = at_the_district_office()
    s.paused(1, vn(2026, 3, 3, 9))  # 7 of the labour office's 32 hours used
    assert set(timers_of(s)) == {(STAGE_WARNING, 0)}  # only what was due before the pause
    s.resumed(1, vn(2026, 3, 3, 9), vn(2026, 3, 5, 9))
    timers = timers_of(s)
    assert timers[OVERDUE_1][2] == vn(2026, 3, 10, 10)  # moved by the 16 paused working hours
    assert timers[DOSSIER][2] == vn(2026, 3, 18, 8)  # the appointment moved with it


def test_what_was_due_before_the_result_or_the_return_stays_due_and_nothing_after():
    s = at_the_district_office()
    s.completed(1, vn(2026, 3, 5, 9))  # before its warning (Thu 10:00)
    s.completed(2, vn(2026, 3, 9, 9), "result_ready")  # long before the appointment
    timers = timers_of(s)
    assert set(timers) == {(STAGE_WARNING, 0), (STAGE_WARNING, 3), (STAGE_OVERDUE, 3)}  # the return stage runs
    assert timers[(STAGE_OVERDUE, 3)][:2] == (3, COMMUNE)
    s.returned(vn(2026, 3, 9, 10))
    assert set(timers_of(s)) == {(STAGE_WARNING, 0), (STAGE_WARNING, 3)}


def test_a_completion_ahead_of_the_clock_does_not_take_back_an_overdue_that_was_due_before_it():
    s = at_the_district_office()
    s.completed(1, vn(2026, 3, 9, 9))  # 7 working hours after its due time
    timeline = build_timeline(s.facts(), CALENDAR)
    [timer] = [t for t in plan_timers(timeline, CALENDAR) if (t.kind, t.stage_index) == OVERDUE_1]
    assert (timer.fire_at, timer.until) == (vn(2026, 3, 6, 10) + SECOND, vn(2026, 3, 9, 9))
    # Fired late (the clock at Mon 10:00), it states the overdue as it stood when the stage ended.
    [(_, body)] = [(m.subject, json.loads(m.payload)) for m in alert_messages(timer, vn(2026, 3, 9, 10), CALENDAR)]
    assert body["data"]["overdue_by_hours"] == 7.0 and body["data"]["detected_at"] == "2026-03-09T10:00:00+07:00"


def test_a_pause_after_the_due_time_does_not_move_the_moment_it_became_overdue():
    s = at_the_district_office()
    s.paused(1, vn(2026, 3, 9, 8))
    s.resumed(1, vn(2026, 3, 9, 8), vn(2026, 3, 10, 8))
    assert timers_of(s)[OVERDUE_1][2:] == (vn(2026, 3, 6, 10), vn(2026, 3, 6, 10) + SECOND)


def test_the_apology_and_the_dossier_overdue_go_to_the_agency_holding_it_at_that_time():
    s = at_the_district_office()
    s.completed(1, vn(2026, 3, 10, 9))  # the province gets it Tue 10 Mar
    s.completed(2, vn(2026, 3, 16, 10), "result_ready")  # two hours after the appointment
    s.completed(3, vn(2026, 3, 16, 15))
    timers = timers_of(s)
    assert timers[APOLOGY] == (2, PROVINCE_DEPT, vn(2026, 3, 16, 8), vn(2026, 3, 13, 8))
    assert timers[DOSSIER] == (2, PROVINCE_DEPT, vn(2026, 3, 16, 8), vn(2026, 3, 16, 8) + SECOND)


def identities(s: Story) -> dict[str, str]:
    return {
        t.kind: t.identity
        for t in plan_timers(build_timeline(s.facts(), CALENDAR), CALENDAR)
        if t.stage_index != 0 or t.kind not in (STAGE_WARNING, STAGE_OVERDUE)
    }


def test_stage_alerts_are_once_per_stage_and_the_dossier_overdue_once_per_promise():
    s = at_the_district_office()
    before = identities(s)
    s.paused(1, vn(2026, 3, 3, 9))
    s.resumed(1, vn(2026, 3, 3, 9), vn(2026, 3, 3, 10))  # the appointment moves by an hour: same promise
    after = identities(s)
    assert before[STAGE_WARNING] == after[STAGE_WARNING] == "stage_warning:1"
    assert before[DOSSIER_OVERDUE] == after[DOSSIER_OVERDUE] == "dossier_overdue:0"


def test_a_dossier_overdue_before_a_pause_is_not_flagged_again_when_the_pause_moves_the_appointment():
    s = at_the_district_office()
    s.completed(1, vn(2026, 3, 5, 9))
    s.paused(2, vn(2026, 3, 16, 10))  # two hours after the appointment (Mon 16 Mar 08:00)
    s.resumed(2, vn(2026, 3, 16, 10), vn(2026, 3, 17, 10))  # appointment -> Tue 17 Mar 08:00: passed too
    dossier = [t for t in plan_timers(build_timeline(s.facts(), CALENDAR), CALENDAR) if t.kind == DOSSIER_OVERDUE]
    assert [(t.identity, t.due_at, t.fire_at) for t in dossier] == [
        ("dossier_overdue:0", vn(2026, 3, 16, 8), vn(2026, 3, 16, 8) + SECOND)
    ]


def test_the_apology_is_asked_for_once_per_dossier_and_never_after_it_was_issued():
    s = at_the_district_office()
    assert identities(s)[APOLOGY_REQUIRED] == "apology_required"
    s.rescheduled("apology", vn(2026, 3, 20, 17), vn(2026, 3, 4, 9), agency=LABOUR_OFFICE)
    after = identities(s)
    assert APOLOGY_REQUIRED not in after  # issued before it was asked for: nothing to ask (Decree 61)
    assert after[DOSSIER_OVERDUE] == "dossier_overdue:1"  # the new promise is watched
    timers = timers_of(s)
    assert timers[DOSSIER][2:] == (vn(2026, 3, 20, 17), vn(2026, 3, 20, 17) + SECOND)


def test_an_apology_after_the_request_stops_the_old_appointment_being_flagged():
    s = at_the_district_office()
    s.rescheduled("apology", vn(2026, 3, 20, 17), vn(2026, 3, 13, 9), agency=LABOUR_OFFICE)  # asked for at 08:00
    timers = timers_of(s)
    assert timers[APOLOGY][2:] == (vn(2026, 3, 16, 8), vn(2026, 3, 13, 8))
    assert timers[DOSSIER][2] == vn(2026, 3, 20, 17)  # the old appointment (Mon 16 Mar) never passed in force


def messages(kind: str, now) -> list[tuple[str, dict]]:
    timeline = build_timeline(at_the_district_office().facts(), CALENDAR)
    timer = next(t for t in plan_timers(timeline, CALENDAR) if t.kind == kind and t.stage_index == 1)
    return [(m.subject, json.loads(m.payload)) for m in alert_messages(timer, now, CALENDAR)]


def test_overdue_states_the_agency_the_due_time_and_the_working_hours_overdue():
    [(subject, body)] = messages(STAGE_OVERDUE, vn(2026, 3, 9, 9))
    assert subject == "lt.evt.deadline.overdue"
    assert body["agency"] == LABOUR_OFFICE and body["dossier_code"] == "T01.00.01.X99-260302-0001"
    assert body["data"] == {
        "scope": "stage",
        "stage_index": 1,
        "agency": LABOUR_OFFICE,
        "due_at": "2026-03-06T10:00:00+07:00",
        "overdue_by_hours": 7.0,  # Fri 10:00-17:00 (5.5 h) and Mon 07:30-09:00
        "detected_at": "2026-03-09T09:00:00+07:00",
    }
    [(_, dossier)] = messages(DOSSIER_OVERDUE, vn(2026, 3, 16, 9))
    assert dossier["data"]["scope"] == "dossier" and dossier["data"]["overdue_by_hours"] == 1.0


def test_a_warning_goes_to_the_facts_and_to_the_agency():
    published = messages(STAGE_WARNING, vn(2026, 3, 5, 10))
    assert [s for s, _ in published] == ["lt.evt.deadline.warning", "lt.out.agency.T01_31_00_X99.deadline_warning"]
    assert published[0][1]["data"]["remaining_hours"] == 8.0 and published[0][1]["data"]["scope"] == "stage"
    assert published[1][1]["data"] == {"stage_index": 1, "due_at": "2026-03-06T10:00:00+07:00", "remaining_hours": 8.0}
    assert published[0][1]["event_id"] != published[1][1]["event_id"]


def test_the_apology_request_names_the_appointment_and_why():
    [(subject, body)] = messages(APOLOGY_REQUIRED, vn(2026, 3, 13, 8))
    assert subject == "lt.out.agency.T01_31_00_X99.apology_required"
    assert body["data"]["appointment_at"] == "2026-03-16T08:00:00+07:00" and body["data"]["stage_index"] == 1
    assert body["data"]["reason"].startswith(
        "Ngày hẹn trả kết quả (08:00 ngày 16/03/2026) chỉ còn một ngày làm việc mà hồ sơ chưa có kết quả: "
        "cơ quan đang giữ hồ sơ phải gửi văn bản xin lỗi"
    )
    assert "is one working day away and the result is not ready" in body["data"]["reason"]


def test_alert_ids_are_derived_so_a_repeat_would_be_deduplicated():
    assert (
        messages(STAGE_OVERDUE, vn(2026, 3, 9, 9))[0][1]["event_id"]
        == messages(STAGE_OVERDUE, vn(2026, 3, 9, 10))[0][1]["event_id"]
    )


def test_the_warning_threshold_setting_is_read_in_working_hours():
    assert warn_threshold_seconds({}) is None  # one working day: the due day's office hours
    assert warn_threshold_seconds({WARN_SETTING: " 2.5 "}) == 9000
    with pytest.raises(ValueError, match="LIENTHONG_WARN_WORKING_HOURS must be a number of working hours, not 'x'"):
        warn_threshold_seconds({WARN_SETTING: "x"})
    with pytest.raises(ValueError, match="between 0 and 10000"):
        warn_threshold_seconds({WARN_SETTING: "-1"})
