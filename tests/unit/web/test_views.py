"""The overview, dossier and AsyncAPI pages as HTML, from answers shaped by the service's own pure
functions (ops_figures, report) over the tests' stories."""

from __future__ import annotations

from html.parser import HTMLParser

from services.deadline.ops_figures import dossiers_json, handoffs_json, heatmap_json, trend_json
from services.deadline.report import ReportFilter, explanation, report_json
from services.deadline.timeline import build_timeline
from shared.contracts.asyncapi import build_document
from shared.web.asyncapi_view import asyncapi_page
from shared.web.views import dossier, overview
from tests.unit.deadline.common import CALENDAR, CATALOG, COMMUNE, LABOUR_OFFICE, THREE_LEVELS, vn
from tests.unit.web.stories import LATE, NOW, district

WINDOW = ReportFilter(vn(2026, 3, 2).date(), NOW.date())


class Tags(HTMLParser):
    """Every start tag with its attributes; fails on unbalanced svg/table/section nesting."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.open: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("svg", "table", "section", "g", "a"):
            self.open.append(tag)

    def handle_endtag(self, tag):
        if tag in ("svg", "table", "section", "g", "a"):
            assert self.open.pop() == tag

    def ids(self) -> set[str]:
        return {a["id"] for _, a in self.tags if "id" in a}


def parsed(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    assert tags.open == []
    return tags


def overview_html() -> str:
    late = {"week": vn(2026, 3, 16).date(), "procedure": THREE_LEVELS, "receiving_agency": COMMUNE}
    trend = trend_json(WINDOW, NOW, [{**late, "finished_on_time": 1, "finished_late": 1}], CATALOG)
    cell = {"agency": LABOUR_OFFICE, "level": "district", "role": "process", "ended_stages": 3, "late_stages": 2,
            "overrun_hours": 37.5}  # fmt: skip
    heat = heatmap_json(WINDOW, NOW, [cell], CATALOG)
    waits = {"handoffs": 4, "median_hours": 3.5, "p90_hours": 5.7, "max_hours": 6.0}
    handoffs = handoffs_json(
        WINDOW, NOW, [{"from_level": "commune", "to_level": "district", **waits}],
        [{"agency": LABOUR_OFFICE, "level": "district", **waits}], CATALOG,
    )  # fmt: skip
    row = {"code": LATE, "procedure": THREE_LEVELS, "receiving_agency": COMMUNE, "holder_agency": None,
           "status": "returned", "received_at": vn(2026, 3, 2, 8), "appointment_at": vn(2026, 3, 16, 8),
           "result_ready_at": vn(2026, 3, 16, 16), "late_hours": 6.5, "stage_index": None, "stage_agency": None,
           "stage_due": None}  # fmt: skip
    listed = dossiers_json(WINDOW, NOW, [row], 200, CATALOG)
    counts = {"procedure": THREE_LEVELS, "receiving_agency": COMMUNE, "finished_on_time": 1, "finished_late": 1,
              "in_progress_within": 2, "in_progress_past_due": 1}  # fmt: skip
    report = report_json(WINDOW, NOW, [counts], [], CATALOG)
    return overview(report, trend, heat, handoffs, listed)


def test_the_overview_has_every_chart_the_filters_and_links_to_each_listed_dossier():
    html = overview_html()
    tags = parsed(html)
    assert {"trend-procedure", "trend-agency", "heatmap", "handoffs", "dossiers"} <= tags.ids()
    links = [a["href"] for t, a in tags.tags if t == "a"]
    assert f"/dossiers/{LATE}" in links
    inputs = {a["name"]: a.get("value") for t, a in tags.tags if t == "input"}
    assert inputs == {"from": "2026-03-02", "to": "2026-03-20"}
    assert "<b>50 %</b><span>tỉ lệ đúng hạn (on-time rate, QĐ 766)</span>" in html
    assert "Đã trễ hạn (finished late)" in html and "6,5 giờ" in html
    assert '<html lang="vi">' in html and "http" not in html.split("<body>")[0]  # no external asset


def test_the_dossier_page_shows_the_verdict_the_timeline_the_blame_and_the_trace_link():
    story = district()[0]
    x = explanation(build_timeline(story.facts(), CALENDAR), CATALOG)
    html = dossier(x, "http://jaeger.example:16686/")
    tags = parsed(html)
    assert {"verdict", "timeline", "trace-link"} <= tags.ids()
    link = next(a for _, a in tags.tags if a.get("id") == "trace-link")
    assert link["href"] == "http://jaeger.example:16686/trace/84ea5c9adac712b99fd0210c0b1300ea"
    assert "TRỄ HẠN 6,5 giờ làm việc (late)" in html
    assert "Giai đoạn 1: Phòng Lao động huyện Thử (T01.31.00.X99), vượt (overrun) 20,5 giờ" in html


def test_names_from_the_catalog_are_escaped():
    story = district()[0]
    x = explanation(build_timeline(story.facts(), CALENDAR), CATALOG)
    x["stages"][1]["agency_name"] = 'Phòng <b>"Lao động"</b>'
    html = dossier(x, "http://jaeger")
    assert "<b>&quot;Lao" not in html and "Phòng &lt;b&gt;&quot;Lao động&quot;&lt;/b&gt;" in html


def test_the_asyncapi_view_lists_every_channel_with_its_message_fields():
    document = build_document()
    html = asyncapi_page(document)
    tags = parsed(html)
    sections = {a["id"] for t, a in tags.tags if t == "section" and "channel" in a.get("class", "")}
    assert sections == set(document["channels"])
    assert "<code>lt.in.agency.{agency}.stage_completed</code>" in html
    assert "một trong (one of): forward, result_ready" in html  # stage_completed's outcome
    assert "lienthong nhận (receives)" in html and "lienthong gửi (sends)" in html
    assert html.index("Vào lienthong (inbound") < html.index("Sự kiện (facts") < html.index("Ra (outbound")
    assert 'id="envelope"' in html and "<code>occurred_at</code>" in html
