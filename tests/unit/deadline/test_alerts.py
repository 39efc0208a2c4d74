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
from tests.unit.deadline.common import CALENDAR, CATALOG, COMMUNE, HOUR, LABOUR_OFFICE, THREE_LEVELS, vn
from tests.unit.deadline.story import Story

SECOND = timedelta(seconds=1)


def at_the_district_office() -> Story:
    """Stage 1 (4 working days at the district office) sent Mon 2 Mar 10:00: due Fri 6 Mar 10:00.
    The appointment is Mon 16 Mar 08:00."""
    s = Story(CATALOG, "T01.00.01.X99-260302-0001", THREE_LEVELS, COMMUNE)
    s.received(vn(2026, 3, 2, 8))
    s.completed(0, vn(2026, 3, 2, 10))
    return s


def timers_of(s: Story, threshold: int | None = None) -> dict[str, tuple]:
    timeline = build_timeline(s.facts(), CALENDAR)
    return {t.kind: (t.stage_index, t.agency, t.due_at, t.fire_at) for t in plan_timers(timeline, CALENDAR, threshold)}


def test_a_running_stage_is_warned_when_it_reaches_its_last_working_day():
    timers = timers_of(at_the_district_office())
    assert timers[STAGE_WARNING] == (1, LABOUR_OFFICE, vn(2026, 3, 6, 10), vn(2026, 3, 5, 10))


def test_the_warning_threshold_is_configurable_in_working_hours():
    timers = timers_of(at_the_district_office(), threshold=2 * HOUR)
    assert timers[STAGE_WARNING][3] == vn(2026, 3, 6, 8)  # Fri 07:30-10:00 holds 2.5 hours


def test_warn_at_counts_working_time_back_across_tet():
    assert warn_at(CALENDAR, vn(2026, 2, 10, 16), vn(2026, 2, 23, 16), 8 * HOUR) == vn(2026, 2, 13, 16)


def test_a_stage_is_overdue_from_the_second_after_its_due_time():
    timers = timers_of(at_the_district_office())
    assert timers[STAGE_OVERDUE] == (1, LABOUR_OFFICE, vn(2026, 3, 6, 10), vn(2026, 3, 6, 10) + SECOND)


def test_the_holder_is_asked_for_an_apology_one_working_day_before_the_appointment():
    timers = timers_of(at_the_district_office())
    assert timers[APOLOGY_REQUIRED] == (1, LABOUR_OFFICE, vn(2026, 3, 16, 8), vn(2026, 3, 13, 8))
    assert timers[DOSSIER_OVERDUE] == (1, LABOUR_OFFICE, vn(2026, 3, 16, 8), vn(2026, 3, 16, 8) + SECOND)


def test_a_paused_dossier_has_no_running_timers():
    s = at_the_district_office()
    s.paused(1, vn(2026, 3, 3, 9))
    assert timers_of(s) == {}
    s.resumed(1, vn(2026, 3, 3, 9), vn(2026, 3, 5, 9))
    timers = timers_of(s)
    assert timers[STAGE_OVERDUE][2] == vn(2026, 3, 10, 10)  # moved by the 16 paused working hours
    assert timers[DOSSIER_OVERDUE][2] == vn(2026, 3, 18, 8)  # the appointment moved with it


def test_dossier_timers_end_when_the_result_is_ready_and_all_end_when_it_is_returned():
    s = at_the_district_office()
    s.completed(1, vn(2026, 3, 5, 9))
    s.completed(2, vn(2026, 3, 9, 9), "result_ready")
    timers = timers_of(s)
    assert set(timers) == {STAGE_WARNING, STAGE_OVERDUE}  # the return stage at the commune
    assert timers[STAGE_OVERDUE][:2] == (3, COMMUNE)
    s.returned(vn(2026, 3, 9, 10))
    assert timers_of(s) == {}


def test_stage_alerts_are_once_per_stage_and_dossier_alerts_once_per_appointment():
    s = at_the_district_office()
    before = {t.kind: t.identity for t in plan_timers(build_timeline(s.facts(), CALENDAR), CALENDAR)}
    s.rescheduled("apology", vn(2026, 3, 20, 17), vn(2026, 3, 4, 9), agency=LABOUR_OFFICE)
    after = {t.kind: t.identity for t in plan_timers(build_timeline(s.facts(), CALENDAR), CALENDAR)}
    assert before[STAGE_WARNING] == after[STAGE_WARNING] == "stage_warning:1"
    assert before[APOLOGY_REQUIRED] != after[APOLOGY_REQUIRED]
    assert after[DOSSIER_OVERDUE] == "dossier_overdue:2026-03-20T10:00:00+00:00"


def messages(kind: str, now) -> list[tuple[str, dict]]:
    timeline = build_timeline(at_the_district_office().facts(), CALENDAR)
    timer = next(t for t in plan_timers(timeline, CALENDAR) if t.kind == kind)
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
