"""The `lienthong` command line without NATS: its parser, its extension list, and how it prints."""

from __future__ import annotations

import argparse
import sys
import types

import pytest

from services.deadline.report import ReportFilter, explanation, report_json
from services.deadline.timeline import build_timeline
from shared import cli
from tests.unit.deadline.common import CALENDAR, CATALOG, COMMUNE, LABOUR_OFFICE, THREE_LEVELS, vn
from tests.unit.deadline.story import Story

CODE = "T01.00.01.X99-260302-0001"


def late_dossier() -> dict:
    """Late 6.5 working hours, only because the district labour office overran 14.5 hours."""
    s = Story(CATALOG, CODE, THREE_LEVELS, COMMUNE)
    s.received(vn(2026, 3, 2, 8))
    s.completed(0, vn(2026, 3, 3, 8))
    s.paused(1, vn(2026, 3, 3, 9))
    s.resumed(1, vn(2026, 3, 3, 9), vn(2026, 3, 3, 10))
    s.completed(1, vn(2026, 3, 10, 17))  # due Mon 9 Mar 09:00 (moved by the hour paused)
    s.completed(2, vn(2026, 3, 16, 17), "result_ready")  # appointment Mon 16 Mar 09:00
    return explanation(build_timeline(s.facts(), CALENDAR), CATALOG)


def test_numbers_use_the_vietnamese_decimal_comma():
    assert [cli.vn_number(x) for x in (6.5, 14.0, 7.25, 0.3333, None)] == ["6,5", "14", "7,25", "0,33", "—"]


def test_explain_prints_the_verdict_the_stages_the_blame_and_the_trace_link():
    text = cli.format_explanation(late_dossier(), "http://jaeger.example:16686/")
    lines = text.splitlines()
    assert lines[0] == f"Hồ sơ {CODE} — TRỄ HẠN 6,5 giờ làm việc (late)"
    assert "Hẹn trả (appointment): 16/03/2026 09:00  [dời 1 lần (moved): pause]" in lines
    header = next(line for line in lines if line.startswith("Giai đoạn"))
    assert [h in header for h in ("Cơ quan", "Hạn (due)", "Hoàn thành", "Vượt (overrun)")] == [True] * 4
    district = next(line for line in lines if line.startswith("1 process"))
    assert "Phòng Lao động huyện Thử" in district and "09/03/2026 09:00" in district and district.endswith("14,5 giờ")
    assert any(line.startswith("Tạm dừng (pause, supplement) ở giai đoạn 1") for line in lines)
    assert f"Trễ do (blamed): giai đoạn 1 — Phòng Lao động huyện Thử ({LABOUR_OFFICE}), vượt 14,5 giờ" in lines
    trace_id = late_dossier()["trace_id"]
    assert lines[-1] == f"Trace: {trace_id} · Jaeger: http://jaeger.example:16686/trace/{trace_id}"


def test_explain_says_in_progress_and_on_time_plainly():
    e = late_dossier()
    assert cli.verdict({**e, "late": False}) == "ĐÚNG HẠN (on time)"
    running = {**e, "late": False, "result_ready_at": None, "status": "in_progress"}
    assert cli.verdict(running) == "ĐANG GIẢI QUYẾT (in progress)"


def test_report_prints_the_rate_and_the_lateness_table():
    rows = [{"procedure": "9.000001", "receiving_agency": COMMUNE, "finished_on_time": 7, "finished_late": 3,
             "in_progress_within": 2, "in_progress_past_due": 1}]  # fmt: skip
    late = [
        {"agency": LABOUR_OFFICE, "role": "process", "procedure": "9.000001", "late_stages": 3, "overrun_hours": 20.5}
    ]
    text = cli.format_report(report_json(ReportFilter(), vn(2026, 4, 1, 8), rows, late, CATALOG))
    assert "Đã giải quyết (finished): 10 — đúng hạn (on time) 7, trễ hạn (late) 3" in text
    assert "tỉ lệ đúng hạn (on-time rate, QĐ 766): 70 %" in text
    assert "Đang giải quyết (in progress): 3 — còn hạn (within) 2, quá hạn (past due) 1" in text
    lateness = next(line for line in text.splitlines() if line.startswith("Phòng Lao động huyện Thử"))
    assert lateness.split()[-3:] == ["9.000001", "3", "20,5"]


def test_the_parser_is_built_from_the_command_list_and_extensions(monkeypatch: pytest.MonkeyPatch):
    seen = []
    extension = types.ModuleType("lienthong_test_extension")
    extension.COMMANDS = [
        cli.Command("hello", "say hello", lambda p: p.add_argument("--name"), lambda a: seen.append(a.name) or 7)
    ]
    monkeypatch.setitem(sys.modules, "lienthong_test_extension", extension)
    monkeypatch.setattr(cli, "EXTENSIONS", ("lienthong_test_extension",))
    assert [c.name for c in cli.commands()] == ["explain", "report", "hello"]
    assert cli.main(["hello", "--name", "Huế"]) == 7 and seen == ["Huế"]


def test_report_refuses_a_bad_date_before_asking_anyone(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exited:
        cli.main(["report", "--from", "2026-13-01"])
    assert exited.value.code == 2
    assert "expected a date YYYY-MM-DD, got '2026-13-01'" in capsys.readouterr().err


def test_without_nats_the_operator_gets_one_line_saying_so(monkeypatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("NATS_URL", "nats://127.0.0.1:9")  # nothing listens on the discard port
    assert cli.main(["explain", CODE]) == 2
    assert capsys.readouterr().err.startswith("lienthong explain: cannot reach NATS at nats://127.0.0.1:9")


def test_explain_requires_a_code():
    parser = cli.build_parser(cli.commands())
    with pytest.raises(SystemExit):
        parser.parse_args(["explain"])
    assert isinstance(parser.parse_args(["explain", CODE, "--json"]), argparse.Namespace)


def test_report_prints_the_citizens_end_to_end_time_beside_the_on_time_figures():
    figures = {"mean_working_hours": 76.0, "median_working_hours": 75.5, "max_working_hours": 90.25,
               "mean_elapsed_days": 12.34, "mean_to_result_hours": 70.0, "mean_after_result_hours": 6.0,
               "mean_postal_hours": 3.5}  # fmt: skip
    rows = [{"via": "all", "returned": 3, **figures}, {"via": "postal", "returned": 1, **figures}]
    text = cli.format_report(report_json(ReportFilter(), vn(2026, 4, 1, 8), [], [], CATALOG, rows))
    lines = text.splitlines()
    title = lines.index("Thời gian công dân chờ (citizen-facing end-to-end, incl. postal pickup and delivery):")
    assert lines[title + 2].split() == ["tất", "cả", "3", "76", "75,5", "90,25", "12,3", "6", "3,5"]
    assert lines[title + 3].split() == ["bưu", "chính", "1", "76", "75,5", "90,25", "12,3", "6", "3,5"]
    empty = cli.format_report(report_json(ReportFilter(), vn(2026, 4, 1, 8), [], [], CATALOG))
    assert "  (chưa có hồ sơ đã trả kết quả)" in empty.splitlines()


def test_explain_prints_the_postal_leg_and_the_citizens_end_to_end_time():
    s = Story(CATALOG, CODE, THREE_LEVELS, COMMUNE)
    s.received(vn(2026, 3, 2, 8))
    s.completed(0, vn(2026, 3, 2, 10))
    s.completed(1, vn(2026, 3, 6, 10))
    s.completed(2, vn(2026, 3, 12, 10), "result_ready")
    s.shipment("LT000000014VN", "delivery", "accepted", vn(2026, 3, 12, 14))
    s.shipment("LT000000014VN", "delivery", "delivered", vn(2026, 3, 13, 9))
    s.returned(vn(2026, 3, 13, 9), via="postal")
    lines = cli.format_explanation(explanation(build_timeline(s.facts(), CALENDAR), CATALOG), "http://j").splitlines()
    assert (
        "Bưu chính (postal delivery, LT000000014VN, delivered): 12/03/2026 14:00 → 13/03/2026 09:00 "
        "— không tính cho cơ quan nào"
    ) in lines
    journey = next(line for line in lines if line.startswith("Công dân chờ"))
    assert journey == (
        "Công dân chờ (citizen's end-to-end): 02/03/2026 08:00 → 13/03/2026 09:00 qua bưu chính (by post): "
        "73 giờ làm việc, 11 ngày; đến khi có kết quả 66 giờ (đánh giá đúng hạn dừng ở đây), "
        "sau đó 7 giờ; bưu chính 4,5 giờ"
    )
