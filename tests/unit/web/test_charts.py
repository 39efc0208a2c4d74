"""The overview's inline SVG charts, read as XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from shared.web.charts import Series, heat_colour, heatmap, line_chart, wait_bars

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    """The SVG as XML (it must be well-formed to be inlined in HTML and read by a browser)."""
    return ET.fromstring(svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def test_a_week_without_finished_dossiers_breaks_the_line_instead_of_dropping_to_zero():
    svg = parse(
        line_chart("t", "Theo thủ tục", ["02/03", "09/03", "16/03", "23/03"], [Series("A", [1.0, None, 0.5, 0.75])])
    )
    lines = svg.findall(f"{SVG}polyline")
    assert [p.get("points").count(",") for p in lines] == [2]  # only 16/03 -> 23/03 joins two points
    assert len(svg.findall(f"{SVG}circle")) == 3
    assert "A · 02/03: 100 %" in svg.find(f"{SVG}circle/{SVG}title").text


def test_each_series_has_its_own_colour_and_a_legend_entry():
    svg = line_chart("t", "x", ["a", "b"], [Series("Tất cả (all)", [1, 0.5]), Series("9.000001 <thử>", [0.5, 1])])
    tree = parse(svg)
    strokes = {p.get("stroke") for p in tree.findall(f"{SVG}polyline")}
    assert len(strokes) == 2
    assert "9.000001 &lt;thử&gt;" in svg and "<thử>" not in svg


def test_the_heat_colour_runs_from_pale_yellow_to_dark_red():
    assert heat_colour(0, 10) == "#fef08a"
    assert heat_colour(10, 10) == heat_colour(25, 10) == "#991b1b"
    assert heat_colour(3, 0) == "#fef08a"


HEAT = {
    "roles": ["receive", "process"],
    "agencies": [
        {"agency": "T01.31.00.X99", "agency_name": "Phòng Lao động", "level": "district", "overrun_hours": 20.5},
        {"agency": "T01.00.01.X99", "agency_name": "UBND xã", "level": "commune", "overrun_hours": 0},
    ],
    "cells": [
        {"agency": "T01.31.00.X99", "role": "process", "ended_stages": 6, "late_stages": 2, "overrun_hours": 20.5},
        {"agency": "T01.00.01.X99", "role": "receive", "ended_stages": 5, "late_stages": 0, "overrun_hours": 0.0},
    ],
    "max_overrun_hours": 20.5,
}


def test_heatmap_cells_carry_their_agency_role_and_overrun_and_the_legend_its_scale():
    svg = heatmap("heatmap", HEAT)
    tree = parse(svg)
    cells = tree.findall(f".//{SVG}g[@class='cell late']")
    assert [(c.get("data-agency"), c.get("data-role"), c.get("data-overrun")) for c in cells] == [
        ("T01.31.00.X99", "process", "20.5")
    ]
    assert cells[0].find(f"{SVG}rect").get("fill") == "#991b1b"
    calm = tree.find(f".//{SVG}g[@data-role='receive']/{SVG}rect")
    assert calm.get("fill") == "#dcfce7"  # ended stages, none late
    assert "20,5 giờ" in svg and "2/6 trễ" in svg and "Giờ vượt hạn (overrun hours):" in svg
    assert tree.find(f"{SVG}defs/{SVG}linearGradient").get("id") == "heat-scale"
    empty = [r for r in tree.iter(f"{SVG}rect") if r.get("fill") == "#f1f5f9"]
    assert len(empty) == 2 + 1  # the two cells without stages, and the legend's swatch


def test_hand_off_bars_are_as_long_as_their_wait():
    rows = [
        {"from_level": "commune", "to_level": "district", "handoffs": 4, "median_hours": 3.5, "p90_hours": 5.7},
        {"from_level": "district", "to_level": "province", "handoffs": 3, "median_hours": 1.0, "p90_hours": 1.4},
    ]
    tree = parse(wait_bars("handoffs", rows))
    widths = [float(r.get("width")) for r in tree.findall(f"{SVG}rect") if "bar" in (r.get("class") or "")]
    assert widths[1] == 440.0  # the longest p90 fills the scale
    assert widths[0] == round(440 * 3.5 / 5.7, 1)
    assert "Xã → Huyện" in ET.tostring(tree, encoding="unicode")
