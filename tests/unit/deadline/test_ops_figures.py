"""The operators' figures shaped from SQL rows, without I/O: windows, weeks, heatmap order, hand-off
order, and which dossiers need attention first."""

from __future__ import annotations

from datetime import date

from services.deadline.ops_figures import (
    at_risk_horizon,
    category,
    default_window,
    dossiers_json,
    handoffs_json,
    heatmap_json,
    parse_limit,
    parse_window,
    trend_json,
)
from services.deadline.report import ReportFilter
from tests.unit.deadline.common import CALENDAR, CATALOG, COMMUNE, LABOUR_OFFICE, PROVINCE_DEPT, THREE_LEVELS, vn

NOW = vn(2026, 3, 20, 9)  # a Friday


def test_without_dates_the_window_is_the_12_weeks_up_to_now_starting_on_a_monday():
    assert default_window(ReportFilter(), NOW) == ReportFilter(date(2025, 12, 29), date(2026, 3, 20))
    kept = ReportFilter(date(2026, 3, 1), None, THREE_LEVELS)
    assert default_window(kept, NOW) == kept
    assert default_window(ReportFilter(), None) == ReportFilter()  # a simulated clock that has not ticked
    assert parse_window({"to": "2026-13-01"}, NOW) == "to: expected a date YYYY-MM-DD or null, got '2026-13-01'"


def week_row(week: date, procedure: str, agency: str, on_time: int, late: int) -> dict:
    return {"week": week, "procedure": procedure, "receiving_agency": agency, "finished_on_time": on_time,
            "finished_late": late}  # fmt: skip


def test_the_trend_has_a_point_for_every_week_and_no_rate_where_nothing_finished():
    f = ReportFilter(date(2026, 3, 2), date(2026, 3, 20))
    rows = [
        week_row(date(2026, 3, 2), THREE_LEVELS, COMMUNE, 3, 1),
        week_row(date(2026, 3, 16), THREE_LEVELS, COMMUNE, 1, 0),
        week_row(date(2026, 3, 16), "9.000004", "T01.00.02.X99", 0, 2),
    ]
    t = trend_json(f, NOW, rows, CATALOG)
    assert t["weeks"] == ["2026-03-02", "2026-03-09", "2026-03-16"]
    assert [(p["finished"], p["on_time_rate"]) for p in t["overall"]] == [(4, 0.75), (0, None), (3, 0.3333)]
    by_procedure = {g["procedure"]: [p["on_time_rate"] for p in g["points"]] for g in t["by_procedure"]}
    assert by_procedure == {THREE_LEVELS: [0.75, None, 1.0], "9.000004": [None, None, 0.0]}
    assert [g["agency_name"] for g in t["by_agency"]] == ["UBND xã Thử Một", "UBND xã Thử Hai"]
    assert (t["from"], t["to"], t["as_of"]) == ("2026-03-02", "2026-03-20", "2026-03-20T09:00:00+07:00")


def test_an_open_ended_trend_spans_the_weeks_that_have_results():
    rows = [
        week_row(date(2026, 2, 23), THREE_LEVELS, COMMUNE, 1, 0),
        week_row(date(2026, 3, 9), THREE_LEVELS, COMMUNE, 0, 1),
    ]
    t = trend_json(ReportFilter(), None, rows, CATALOG)
    assert t["weeks"] == ["2026-02-23", "2026-03-02", "2026-03-09"] and t["as_of"] is None
    assert trend_json(ReportFilter(), None, [], CATALOG)["overall"] == []


def cell(agency: str, level: str, role: str, ended: int, late: int, overrun: float) -> dict:
    return {"agency": agency, "level": level, "role": role, "ended_stages": ended, "late_stages": late,
            "overrun_hours": overrun}  # fmt: skip


def test_the_heatmap_puts_the_most_overrun_agency_first_and_roles_in_stage_order():
    rows = [
        cell(COMMUNE, "commune", "return", 5, 0, 0),
        cell(PROVINCE_DEPT, "province", "decide", 4, 1, 3.5),
        cell(COMMUNE, "commune", "receive", 5, 1, 1.0),
        cell(LABOUR_OFFICE, "district", "process", 6, 2, 20.5),
    ]
    h = heatmap_json(ReportFilter(), NOW, rows, CATALOG)
    assert h["roles"] == ["receive", "process", "decide", "return"]
    assert [a["agency"] for a in h["agencies"]] == [LABOUR_OFFICE, PROVINCE_DEPT, COMMUNE]
    assert h["agencies"][0] == {
        "agency": LABOUR_OFFICE, "agency_name": "Phòng Lao động huyện Thử", "level": "district", "overrun_hours": 20.5
    }  # fmt: skip
    assert [(c["agency"], c["role"]) for c in h["cells"]][-2:] == [(COMMUNE, "receive"), (COMMUNE, "return")]
    assert h["max_overrun_hours"] == 20.5


def test_hand_offs_come_slowest_first():
    wait = {"handoffs": 3, "median_hours": 1.0, "max_hours": 9.0}
    by_level = [
        {"from_level": "commune", "to_level": "district", **wait, "p90_hours": 4.0},
        {"from_level": "district", "to_level": "province", **wait, "p90_hours": 8.25},
    ]
    by_agency = [{"agency": LABOUR_OFFICE, "level": "district", **wait, "p90_hours": 4.0}]
    w = handoffs_json(ReportFilter(), NOW, by_level, by_agency, CATALOG)
    assert [(r["from_level"], r["to_level"], r["p90_hours"]) for r in w["by_level"]] == [
        ("district", "province", 8.25),
        ("commune", "district", 4.0),
    ]
    assert w["by_agency"][0]["agency_name"] == "Phòng Lao động huyện Thử"


def dossier_row(code: str, appointment, result=None, stage=None) -> dict:
    return {"code": code, "procedure": THREE_LEVELS, "receiving_agency": COMMUNE, "holder_agency": LABOUR_OFFICE,
            "status": "result_ready" if result else "in_progress", "received_at": vn(2026, 3, 2, 8),
            "appointment_at": appointment, "result_ready_at": result, "late_hours": 2.0 if result else 0.0,
            "stage_index": stage and 1, "stage_agency": stage and LABOUR_OFFICE, "stage_due": stage}  # fmt: skip


def test_a_dossier_past_its_appointment_comes_before_a_stage_past_due_before_one_at_risk_before_the_late():
    rows = [
        dossier_row("late-earlier", vn(2026, 3, 9, 8), result=vn(2026, 3, 10, 8)),
        dossier_row("late-latest", vn(2026, 3, 16, 8), result=vn(2026, 3, 17, 8)),
        dossier_row("at-risk", vn(2026, 3, 20, 14)),
        dossier_row("stage-overdue", vn(2026, 3, 25, 8), stage=vn(2026, 3, 13, 11)),
        dossier_row("overdue", vn(2026, 3, 19, 8), stage=vn(2026, 3, 13, 11)),
    ]
    assert [category(r, NOW) for r in rows] == ["late", "late", "at_risk", "stage_overdue", "overdue"]
    d = dossiers_json(ReportFilter(), NOW, rows, 200, CATALOG)
    assert [x["code"] for x in d["dossiers"]] == ["overdue", "stage-overdue", "at-risk", "late-latest", "late-earlier"]
    assert d["dossiers"][1]["overdue_stage"]["due"] == "2026-03-13T11:00:00+07:00"
    assert [x["code"] for x in dossiers_json(ReportFilter(), NOW, rows, 2, CATALOG)["dossiers"]] == [
        "overdue",
        "stage-overdue",
    ]


def test_at_risk_means_the_appointment_falls_within_one_working_day():
    assert at_risk_horizon(CALENDAR, NOW) == vn(2026, 3, 23, 9)  # over the weekend
    assert at_risk_horizon(CALENDAR, vn(2026, 4, 29, 16)) == vn(2026, 5, 4, 16)  # 30 Apr and 1 May are holidays


def test_the_list_size_is_a_whole_number_up_to_1000():
    assert (parse_limit({}), parse_limit({"limit": None}), parse_limit({"limit": 5})) == (200, 200, 5)
    for bad in (0, 1001, "10", 2.5, True):
        assert parse_limit({"limit": bad}) == f"limit: expected a whole number from 1 to 1000, got {bad!r}"
