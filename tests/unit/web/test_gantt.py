"""A dossier's Gantt-like timeline, drawn from the deadline service's explanation of real facts."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from services.deadline.report import explanation
from services.deadline.timeline import build_timeline
from shared.web.gantt import COLOURS, timeline_svg
from tests.unit.deadline.common import CALENDAR, CATALOG, COMMUNE, THREE_LEVELS, vn
from tests.unit.deadline.story import Story
from tests.unit.web.test_charts import SVG, parse


def explained(story: Story) -> dict:
    return explanation(build_timeline(story.facts(), CALENDAR), CATALOG)


def late_with_a_pause_and_the_post() -> Story:
    s = Story(CATALOG, "T01.00.01.X99-260302-0001", THREE_LEVELS, COMMUNE)
    s.received(vn(2026, 3, 2, 8))
    s.completed(0, vn(2026, 3, 2, 10))
    s.handoff_received(1, vn(2026, 3, 3, 8))
    s.paused(1, vn(2026, 3, 4, 8))
    s.resumed(1, vn(2026, 3, 4, 8), vn(2026, 3, 5, 8))
    s.completed(1, vn(2026, 3, 11, 16))
    s.handoff_received(2, vn(2026, 3, 12, 8))
    s.completed(2, vn(2026, 3, 17, 16), "result_ready")
    s.shipment("EB123VN", "delivery", "accepted", vn(2026, 3, 18, 8))
    s.shipment("EB123VN", "delivery", "delivered", vn(2026, 3, 19, 10))
    return s


def stage(tree: ET.Element, index: int) -> ET.Element:
    return tree.find(f".//{SVG}g[@data-stage-index='{index}']")


def test_the_late_stage_is_red_after_its_amber_hand_off_wait_with_the_pause_hatched_and_the_due_marked():
    tree = parse(timeline_svg(explained(late_with_a_pause_and_the_post())))
    district = stage(tree, 1)
    assert (district.get("class"), district.get("data-late")) == ("stage late", "true")
    kinds = [(r.get("class"), r.get("fill")) for r in district.findall(f"{SVG}rect")]
    assert kinds == [("handoff", COLOURS["handoff"]), ("processing late", COLOURS["late"]), ("pause", "url(#hatch)")]
    handoff, processing, pause = district.findall(f"{SVG}rect")
    assert float(handoff.get("x")) + float(handoff.get("width")) == pytest.approx(float(processing.get("x")), abs=0.1)
    assert (
        float(processing.get("x")) < float(pause.get("x")) < float(processing.get("x")) + float(processing.get("width"))
    )
    assert "hạn giai đoạn (stage due) 09/03/2026 10:00" in ET.tostring(district, encoding="unicode")
    assert stage(tree, 2).get("data-late") == "false"
    assert stage(tree, 2).find(f"{SVG}rect[@class='processing']").get("fill") == COLOURS["processing"]


def test_postal_legs_have_their_own_row_and_the_appointment_and_result_their_lines():
    svg = timeline_svg(explained(late_with_a_pause_and_the_post()))
    tree = parse(svg)
    assert tree.find(f".//{SVG}rect[@class='postal']") is not None
    assert "Bưu chính (postal)" in svg
    markers = {g.get("class") for g in tree.findall(f"{SVG}g") if "marker" in (g.get("class") or "")}
    assert markers == {"marker appointment_at", "marker result_ready_at"}
    assert "Hẹn trả (appointment) 17/03/2026 08:00" in svg  # moved by the day paused


def test_an_open_stage_runs_dashed_to_the_edge_and_an_unstarted_one_has_no_bar():
    s = Story(CATALOG, "T01.00.01.X99-260302-0002", THREE_LEVELS, COMMUNE)
    s.received(vn(2026, 3, 2, 8))
    s.completed(0, vn(2026, 3, 2, 10))
    tree = parse(timeline_svg(explained(s)))
    open_bar = stage(tree, 1).find(f"{SVG}rect[@class='processing']")
    assert open_bar.get("stroke-dasharray") == "4 3"
    assert "đang xử lý (open)" in open_bar.find(f"{SVG}title").text
    assert stage(tree, 2).find(f"{SVG}rect") is None


def test_weekends_are_shaded():
    tree = parse(timeline_svg(explained(late_with_a_pause_and_the_post())))
    assert len(tree.findall(f"{SVG}rect[@class='weekend']")) == 5  # Sun 1 (the left edge), 7-8 and 14-15 March
