"""Budgets proposed from observed stage times, the replay under them, and the catalog fragment."""

from __future__ import annotations

from datetime import date

import pytest
import yaml

from services.deadline.recommend import (
    RecommendRequest,
    parse_recommend_request,
    percentile,
    propose_budgets,
    recommend,
    replay_stage,
    used_days,
)
from services.deadline.report import ReportFilter
from services.deadline.timeline import build_timeline
from shared.catalog import parse_catalog
from shared.recommend import catalog_fragment, format_recommendation
from tests.harness import CATALOGS
from tests.unit.deadline.common import CALENDAR, CATALOG, COMMUNE, THREE_LEVELS, vn
from tests.unit.deadline.story import Story


def finished(code: str, district_days_late: int = 0, pause: bool = False) -> Story:
    """Received Mon 2 Mar 08:00; the district office takes 4 days + `district_days_late`; the
    province 2 days; result ready at the province. Stage budgets: 1, 4, 4, 1 working days."""
    s = Story(CATALOG, code, THREE_LEVELS, COMMUNE)
    s.received(vn(2026, 3, 2, 8))
    s.completed(0, vn(2026, 3, 2, 12, 0))  # half a day's work (3.5 h + the lunch break)
    s.handoff_received(1, vn(2026, 3, 2, 14))
    if pause:
        s.paused(1, vn(2026, 3, 3, 8))
        s.resumed(1, vn(2026, 3, 3, 8), vn(2026, 3, 4, 8))  # one working day the citizen's
    end1 = CALENDAR.add_working_days(vn(2026, 3, 2, 12), 4 + district_days_late + (1 if pause else 0))
    s.completed(1, end1)
    s.handoff_received(2, end1)
    s.completed(2, CALENDAR.add_working_days(end1, 2), "result_ready")
    return s


def request(pct: float = 80) -> RecommendRequest:
    return RecommendRequest(CATALOG.procedure(THREE_LEVELS), pct, ReportFilter(procedure=THREE_LEVELS), 5000)


def test_the_percentile_interpolates_between_the_closest_ranks():
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile([1, 2, 3, 4, 5], 80) == pytest.approx(4.2)
    assert percentile([7], 90) == 7
    assert (percentile([1, 9], 100), percentile([1, 9], 1)) == (9, pytest.approx(1.08))


def test_proposed_budgets_add_up_to_the_legal_total_in_half_days():
    proposed = propose_budgets([0.2, 6.1, 2.0, 0.4], [1, 4, 4, 1], 10)
    assert sum(proposed) == 10
    assert all(p * 2 == int(p * 2) for p in proposed)
    assert proposed == [0.5, 7.0, 2.0, 0.5]  # 20 half days in proportion, at least one each


def test_every_stage_keeps_at_least_half_a_day_even_when_it_took_no_time():
    assert propose_budgets([0.0, 8.0, 0.0], [1, 4, 1], 6) == [0.5, 5.0, 0.5]
    assert propose_budgets([0.0, 0.0], [2, 4], 6) == [2.0, 4.0]  # nothing observed to weigh: as now


def test_a_stage_nobody_finished_keeps_its_current_budget():
    assert propose_budgets([1.0, 3.0, None, None], [1, 4, 4, 1], 10) == [1.5, 3.5, 4.0, 1.0]
    assert propose_budgets([1.0, 1.0, None, None], [1, 4, 4, 1], 10) == [2.5, 2.5, 4.0, 1.0]


def test_a_total_that_is_not_a_whole_number_of_half_days_stays_the_total():
    proposed = propose_budgets([1.0, 1.0], [1.25, 1.5], 2.75)
    assert sum(proposed) == pytest.approx(2.75) and proposed == [1.75, 1.0]


def test_a_replay_with_the_recorded_budget_gives_the_recorded_verdict():
    t = build_timeline(finished("T01.00.01.X99-260302-0001", district_days_late=2).facts(), CALENDAR)
    for stage, days in zip(t.stages, (1, 4, 4, 1), strict=True):
        verdict = replay_stage(stage, days, CALENDAR)
        if stage.end is None:
            assert verdict is None  # the return stage is still open
            continue
        assert (verdict.due, verdict.late, verdict.overrun_seconds) == (stage.due, stage.late, stage.overrun_seconds)
    assert t.stages[1].late


def test_a_larger_budget_turns_the_late_stage_on_time_and_pauses_still_stop_its_clock():
    t = build_timeline(finished("T01.00.01.X99-260302-0001", district_days_late=1, pause=True).facts(), CALENDAR)
    district = t.stages[1]
    assert district.late and district.paused_seconds == 8 * 3600
    assert replay_stage(district, 5, CALENDAR).late is False  # 5 days of work + the day paused
    assert replay_stage(district, 4.5, CALENDAR).late is True
    assert used_days(district, CALENDAR) == 5.0  # from the hand-off (wait included), less the pause


def test_recommend_moves_budget_to_the_stage_that_needs_it_and_keeps_the_dossier_verdicts():
    stories = [finished(f"T01.00.01.X99-260302-{n:04d}", district_days_late=n % 3) for n in range(1, 7)]
    timelines = [build_timeline(s.facts(), CALENDAR) for s in stories]
    r = recommend(timelines, request(80), CATALOG)
    assert r["dossiers"] == 6 and r["skipped_other_plan"] == 0
    stages = {s["index"]: s for s in r["stages"]}
    assert [s["proposed_days"] for s in r["stages"]] == [0.5, 6.5, 2.0, 1.0]
    assert sum(s["proposed_days"] for s in r["stages"]) == 10
    assert stages[1]["observed_days"] == 6.0 and stages[1]["observed_hours"] == 48.0  # p80 of 4, 4, 5, 5, 6, 6
    assert stages[3]["observed_stages"] == 0 and stages[3]["observed_days"] is None
    assert (stages[1]["on_time_rate_now"], stages[1]["on_time_rate_proposed"]) == (pytest.approx(1 / 3, abs=1e-4), 1.0)
    assert (stages[2]["on_time_rate_now"], stages[2]["on_time_rate_proposed"]) == (1.0, 1.0)
    assert r["stage_on_time_rate"] == {"now": pytest.approx(14 / 18, abs=1e-4), "proposed": 1.0}
    assert r["dossiers_every_stage_on_time"] == {"now": pytest.approx(2 / 6, abs=1e-4), "proposed": 1.0}
    assert r["dossier_on_time_rate"] == 1.0


def test_dossiers_routed_by_another_plan_or_unfinished_are_left_out():
    before = yaml.safe_load((CATALOGS / "basic.yaml").read_text())  # the catalog before a change
    three = next(p for p in before["procedures"] if p["code"] == THREE_LEVELS)
    three["stages"] = [three["stages"][0], {**three["stages"][1], "working_days": 8}, three["stages"][3]]
    old_plan = Story(parse_catalog(yaml.safe_dump(before, allow_unicode=True)), "T01.00.01.X99-260302-0008",
                     THREE_LEVELS, COMMUNE)  # fmt: skip
    old_plan.received(vn(2026, 3, 2, 8))
    old_plan.completed(0, vn(2026, 3, 2, 9))
    old_plan.completed(1, vn(2026, 3, 3, 9), "result_ready")
    other = Story(CATALOG, "T01.00.01.X99-260302-0009", "9.000004", COMMUNE)  # same roles, other procedure
    other.received(vn(2026, 3, 2, 8))
    other.completed(0, vn(2026, 3, 2, 9))
    other.completed(1, vn(2026, 3, 3, 9))
    other.completed(2, vn(2026, 3, 4, 9), "result_ready")
    running = Story(CATALOG, "T01.00.01.X99-260302-0010", THREE_LEVELS, COMMUNE)
    running.received(vn(2026, 3, 2, 8))
    stories = (finished("T01.00.01.X99-260302-0001"), old_plan, other, running)
    r = recommend([build_timeline(s.facts(), CALENDAR) for s in stories], request(), CATALOG)
    assert (r["dossiers"], r["skipped_other_plan"]) == (1, 2)


def test_a_request_names_a_known_procedure_and_a_percentile_from_1_to_100():
    assert parse_recommend_request({}, CATALOG) == "procedure: expected a procedure code, got None"
    assert parse_recommend_request({"procedure": "1.234567"}, CATALOG) == "procedure: '1.234567' is not in the catalog"
    bad = parse_recommend_request({"procedure": THREE_LEVELS, "percentile": 0}, CATALOG)
    assert bad == "percentile: expected a number from 1 to 100, got 0"
    bad = parse_recommend_request({"procedure": THREE_LEVELS, "from": "2026-02-30"}, CATALOG)
    assert bad == "from: expected a date YYYY-MM-DD or null, got '2026-02-30'"
    ok = parse_recommend_request({"procedure": THREE_LEVELS, "percentile": 90, "from": "2026-03-01"}, CATALOG)
    assert ok == RecommendRequest(
        CATALOG.procedure(THREE_LEVELS), 90.0, ReportFilter(date(2026, 3, 1), None, THREE_LEVELS), 5000
    )


def test_the_printout_and_the_fragment_carry_the_budgets_and_the_replayed_rates():
    stories = [finished(f"T01.00.01.X99-260302-{n:04d}", district_days_late=n % 3) for n in range(1, 7)]
    r = recommend([build_timeline(s.facts(), CALENDAR) for s in stories], request(80), CATALOG)
    text = format_recommendation(r)
    assert "Tỉ lệ giai đoạn đúng hạn (stage on-time rate): hiện nay (now) 77,8 % → với định mức đề xuất" in text
    assert "(replayed) 100 %" in text
    assert "Phòng Lao động huyện Thử" in text and "6,5" in text
    fragment = catalog_fragment(r)
    assert fragment.startswith("# lienthong recommend: proposed stage budgets for procedure 9.000001\n")
    entry = yaml.safe_load(fragment)["procedures"][0]
    assert [s["working_days"] for s in entry["stages"]] == [0.5, 6.5, 2.0, 1.0]
    assert (entry["total_working_days"], entry["intake_cutoff"], entry["supplement_policy"]) == (10, "15:00", "pause")
    # the fragment replaces the procedure's entry in a real catalog, which still loads
    catalog = yaml.safe_load((CATALOGS / "basic.yaml").read_text())
    catalog["procedures"] = [entry if p["code"] == THREE_LEVELS else p for p in catalog["procedures"]]
    reloaded = parse_catalog(yaml.safe_dump(catalog, allow_unicode=True))
    assert [s.working_days for s in reloaded.procedure(THREE_LEVELS).stages] == [0.5, 6.5, 2.0, 1.0]
