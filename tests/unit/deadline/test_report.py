"""The explanation's stable JSON and the report's figures (Decision 766 on-time rate), without I/O."""

from __future__ import annotations

import hashlib
from datetime import date

from services.deadline.report import ReportFilter, explanation, parse_report_request, report_json, trace_id
from services.deadline.timeline import build_timeline
from tests.unit.deadline.common import CALENDAR, CATALOG, COMMUNE, LABOUR_OFFICE, THREE_LEVELS, vn
from tests.unit.deadline.story import Story

CODE = "T01.00.01.X99-260302-0001"


def test_the_trace_id_is_the_first_16_bytes_of_the_sha256_of_the_code():
    assert trace_id(CODE) == hashlib.sha256(CODE.encode()).hexdigest()[:32]
    assert len(trace_id(CODE)) == 32


def test_the_explanation_carries_the_stable_fields_in_local_time():
    s = Story(CATALOG, CODE, THREE_LEVELS, COMMUNE)
    s.received(vn(2026, 3, 2, 8))
    s.completed(0, vn(2026, 3, 2, 10))
    s.handoff_received(1, vn(2026, 3, 3, 8))
    explained = explanation(build_timeline(s.facts(), CALENDAR), CATALOG)
    assert {"code", "procedure", "receiving_agency", "received_at", "appointment_at", "result_ready_at",
            "returned_at", "status", "late", "late_by_hours", "trace_id", "stages", "pauses", "postal_legs",
            "blamed"} <= explained.keys()  # fmt: skip
    assert explained["appointment_at"] == "2026-03-16T08:00:00+07:00"
    assert explained["procedure_name"] == "Thủ tục liên thông ba cấp (thử)"
    stage = explained["stages"][1]
    assert stage["agency"] == LABOUR_OFFICE and stage["agency_name"] == "Phòng Lao động huyện Thử"
    assert (stage["start"], stage["due"], stage["end"]) == (
        "2026-03-02T10:00:00+07:00",
        "2026-03-06T10:00:00+07:00",
        None,
    )
    assert (stage["budget_hours"], stage["handoff_wait_hours"], stage["used_hours"]) == (32.0, 6.0, None)
    assert explained["status"] == "in_progress" and explained["holder_agency"] == LABOUR_OFFICE


def test_report_dates_must_be_iso_dates_in_order():
    assert parse_report_request({}) == ReportFilter()
    assert parse_report_request({"from": "2026-03-01", "to": "2026-03-31", "procedure": "9.000001"}) == ReportFilter(
        date(2026, 3, 1), date(2026, 3, 31), "9.000001", None
    )
    assert parse_report_request({"from": "2026-13-01"}) == "from: expected a date YYYY-MM-DD or null, got '2026-13-01'"
    assert parse_report_request({"to": 20260301}) == "to: expected a date YYYY-MM-DD or null, got 20260301"
    assert (
        parse_report_request({"from": "2026-04-01", "to": "2026-03-01"}) == "from (2026-04-01) is after to (2026-03-01)"
    )
    assert parse_report_request({"agency": ""}) == "agency: expected a code (non-empty string) or null, got ''"


def counts(procedure: str, agency: str, on_time: int, late: int, within: int, past: int) -> dict:
    return {"procedure": procedure, "receiving_agency": agency, "finished_on_time": on_time, "finished_late": late,
            "in_progress_within": within, "in_progress_past_due": past}  # fmt: skip


def test_the_on_time_rate_is_on_time_over_finished_dossiers():
    rows = [counts("9.000001", COMMUNE, 6, 2, 3, 1), counts("9.000002", COMMUNE, 1, 1, 0, 0)]
    late = [
        {"agency": LABOUR_OFFICE, "role": "process", "procedure": "9.000001", "late_stages": 2, "overrun_hours": 9.5}
    ]
    report = report_json(ReportFilter(date(2026, 3, 1)), vn(2026, 4, 1, 8), rows, late, CATALOG)
    assert (report["finished_on_time"], report["finished_late"], report["on_time_rate"]) == (7, 3, 0.7)
    assert (report["in_progress_within"], report["in_progress_past_due"]) == (3, 1)
    assert report["from"] == "2026-03-01" and report["to"] is None and report["as_of"] == "2026-04-01T08:00:00+07:00"
    assert [p["on_time_rate"] for p in report["by_procedure"]] == [0.75, 0.5]
    assert report["by_agency"] == [
        {"agency": COMMUNE, "agency_name": "UBND xã Thử Một", "finished_on_time": 7, "finished_late": 3,
         "on_time_rate": 0.7, "in_progress_within": 3, "in_progress_past_due": 1}
    ]  # fmt: skip
    assert report["lateness"] == [
        {"agency": LABOUR_OFFICE, "agency_name": "Phòng Lao động huyện Thử", "stage_role": "process",
         "procedure": "9.000001", "late_stages": 2, "overrun_hours": 9.5}
    ]  # fmt: skip


def test_no_finished_dossier_means_no_rate_rather_than_zero():
    report = report_json(ReportFilter(), None, [counts("9.000001", COMMUNE, 0, 0, 2, 0)], [], CATALOG)
    assert report["on_time_rate"] is None and report["as_of"] is None
