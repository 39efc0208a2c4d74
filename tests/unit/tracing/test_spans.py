"""The span builder: a dossier's timeline -> the spans of its trace, on business time."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime

import pytest

from services.deadline.timeline import build_timeline
from services.deadline.tracing import dossier_spans, overdue_span
from shared.contracts.events import DeadlineOverdue
from shared.tracing.attributes import catalog_vocabularies
from shared.tracing.ids import dossier_trace_id, dossier_trace_id_hex, root_span_id, span_id
from shared.tracing.spec import InvalidSpan, validate
from tests.unit.deadline.common import CALENDAR, CATALOG, COMMUNE, LABOUR_OFFICE, PROVINCE_DEPT, THREE_LEVELS, vn
from tests.unit.deadline.story import Story

CODE = "T01.00.01.X99-260302-0001"
VOCABULARIES = catalog_vocabularies(CATALOG)


def late_at_the_district() -> Story:
    """Stage 1 at the district labour office: sent Mon 2 Mar 10:00, received 14:00, a supplement
    pause of one working day, completed Thu 12 Mar 10:00, three working days late."""
    s = Story(CATALOG, CODE, THREE_LEVELS, COMMUNE)
    s.received(vn(2026, 3, 2, 8))
    s.completed(0, vn(2026, 3, 2, 10))
    s.handoff_received(1, vn(2026, 3, 2, 14))
    s.paused(1, vn(2026, 3, 3, 9))
    s.resumed(1, vn(2026, 3, 3, 9), vn(2026, 3, 4, 9))
    s.completed(1, vn(2026, 3, 12, 10))
    s.handoff_received(2, vn(2026, 3, 12, 15))
    s.completed(2, vn(2026, 3, 16, 15))
    s.completed(3, vn(2026, 3, 17, 9), "result_ready")
    s.returned(vn(2026, 3, 17, 10))
    return s


def spans_of(story: Story, facts=None):
    timeline = build_timeline(facts if facts is not None else story.facts(), CALENDAR)
    return {s.key: s for s in dossier_spans(timeline)}


def test_trace_id_is_the_first_16_bytes_of_sha256_of_the_code():
    digest = hashlib.sha256(CODE.encode("utf-8")).digest()
    assert dossier_trace_id(CODE) == int.from_bytes(digest[:16], "big")
    assert dossier_trace_id_hex(CODE) == digest[:16].hex()
    assert span_id(CODE, "stage:1") != span_id(CODE, "stage:2") != span_id("X.1-260302-0001", "stage:1")


def test_a_closed_dossier_is_one_tree_with_the_business_times():
    spans = spans_of(late_at_the_district())
    assert set(spans) == {
        "dossier", "stage:0", "stage:0:processing", "stage:1", "stage:1:handoff", "stage:1:processing",
        "stage:2", "stage:2:handoff", "stage:2:processing", "stage:3", "stage:3:processing",
        "pause:supplement:1:1772503200",
    }  # fmt: skip
    assert {s.trace_id for s in spans.values()} == {dossier_trace_id(CODE)}
    root = spans["dossier"]
    assert root.parent_id is None and root.span_id == root_span_id(CODE)
    assert (root.start, root.end) == (vn(2026, 3, 2, 8), vn(2026, 3, 17, 10))
    for key, span in spans.items():
        assert span.span_id == span_id(CODE, key)
        validate(span, VOCABULARIES)
    by_id = {s.span_id: s for s in spans.values()}
    assert by_id[spans["stage:1"].parent_id].key == "dossier"
    assert by_id[spans["stage:1:handoff"].parent_id].key == "stage:1"
    assert by_id[spans["stage:1:processing"].parent_id].key == "stage:1"
    assert by_id[spans["pause:supplement:1:1772503200"].parent_id].key == "stage:1"


def test_the_late_district_stage_carries_its_verdict():
    spans = spans_of(late_at_the_district())
    stage = spans["stage:1"]
    assert (stage.start, stage.end) == (vn(2026, 3, 2, 10), vn(2026, 3, 12, 10))
    assert stage.attributes == {
        "lienthong.dossier.code": CODE,
        "lienthong.procedure.code": THREE_LEVELS,
        "lienthong.stage.index": 1,
        "lienthong.stage.kind": "processing",
        "lienthong.stage.role": "process",
        "lienthong.stage.outcome": "forward",
        "lienthong.agency.code": LABOUR_OFFICE,
        "lienthong.agency.level": "district",
        "lienthong.budget.hours": 32.0,  # 4 working days of 8 hours
        "lienthong.used.hours": 56.0,  # 64 working hours sent -> completed, less the 8-hour pause
        "lienthong.overrun.hours": 24.0,  # due Fri 6 Mar 10:00 + the pause = Mon 9 Mar 10:00
        "lienthong.late": True,
        "lienthong.paused.hours": 8.0,
        "lienthong.postal.hours": 0.0,
    }
    handoff = spans["stage:1:handoff"]
    assert (handoff.start, handoff.end) == (vn(2026, 3, 2, 10), vn(2026, 3, 2, 14))
    assert handoff.attributes["lienthong.stage.kind"] == "handoff"
    assert handoff.attributes["lienthong.used.hours"] == 2.5  # 10:00-11:30, 13:00-14:00 (winter hours)
    assert (spans["stage:1:processing"].start, spans["stage:1:processing"].end) == (vn(2026, 3, 2, 14), stage.end)
    assert "lienthong.stage.kind" not in spans["stage:1:processing"].attributes  # one processing span per stage
    pause = spans["pause:supplement:1:1772503200"]
    assert (pause.start, pause.end) == (vn(2026, 3, 3, 9), vn(2026, 3, 4, 9))
    assert pause.attributes["lienthong.stage.kind"] == "pause"
    assert pause.attributes["lienthong.pause.kind"] == "supplement"
    assert pause.attributes["lienthong.used.hours"] == 8.0
    assert [s.attributes["lienthong.late"] for k, s in sorted(spans.items()) if k.count(":") == 1] == [
        False, True, False, False,
    ]  # fmt: skip
    root = spans["dossier"]
    assert root.attributes["lienthong.late"] is True
    assert root.attributes["lienthong.overrun.hours"] == 1.0  # appointment Tue 17 Mar 08:00, ready 09:00
    assert root.attributes["lienthong.budget.hours"] == 80.0  # 10 working days
    assert [e.name for e in root.events] == ["result_ready"] and root.events[0].at == vn(2026, 3, 17, 9)


def test_an_open_dossier_has_only_the_spans_that_ended_and_no_root():
    s = Story(CATALOG, CODE, THREE_LEVELS, COMMUNE)
    s.received(vn(2026, 3, 2, 8))
    s.completed(0, vn(2026, 3, 2, 10))
    s.handoff_received(1, vn(2026, 3, 2, 14))
    s.paused(1, vn(2026, 3, 3, 9))
    assert set(spans_of(s)) == {"stage:0", "stage:0:processing"}  # stage 1 and its pause still run
    s.resumed(1, vn(2026, 3, 3, 9), vn(2026, 3, 4, 9))
    assert set(spans_of(s)) == {"stage:0", "stage:0:processing", "pause:supplement:1:1772503200"}


def test_the_same_facts_in_any_order_give_the_same_spans():
    story = late_at_the_district()
    facts = story.facts()
    first = spans_of(story, facts)
    shuffled = list(facts)
    random.Random(5).shuffle(shuffled)
    assert spans_of(story, shuffled + facts[:3]) == first


def test_postal_legs_are_spans_under_the_root():
    s = late_at_the_district()
    s.shipment("WB1", "delivery", "accepted", vn(2026, 3, 17, 9, 30))
    s.shipment("WB1", "delivery", "delivered", vn(2026, 3, 18, 15))
    spans = spans_of(s)
    leg = spans["postal:delivery:WB1"]
    assert (leg.start, leg.end, leg.parent_id) == (vn(2026, 3, 17, 9, 30), vn(2026, 3, 18, 15), root_span_id(CODE))
    assert leg.name == "postal delivery"
    assert leg.attributes["lienthong.stage.kind"] == "postal"
    assert leg.attributes["lienthong.postal.status"] == "delivered"
    assert "WB1" not in str(leg.attributes)
    assert spans["dossier"].end == vn(2026, 3, 18, 15)


def test_a_delivery_whose_attempts_ran_out_is_a_valid_postal_span_ending_at_the_last_failure():
    s = late_at_the_district()
    s.shipment("WB1", "delivery", "accepted", vn(2026, 3, 17, 9, 30))
    s.shipment("WB1", "delivery", "delivery_failed", vn(2026, 3, 17, 15), state="ordered")
    s.shipment("WB1", "delivery", "delivery_failed", vn(2026, 3, 18, 10), attempt=2, state="back_at_counter")
    leg = spans_of(s)["postal:delivery:WB1"]
    assert (leg.start, leg.end, leg.attributes["lienthong.postal.status"]) == (
        vn(2026, 3, 17, 9, 30),
        vn(2026, 3, 18, 10),
        "back_at_counter",
    )
    assert validate(leg, VOCABULARIES) is leg


def test_an_overdue_flag_is_a_marker_under_its_stage():
    flagged = DeadlineOverdue(
        scope="stage", stage_index=1, agency=LABOUR_OFFICE, due_at=vn(2026, 3, 9, 10), overdue_by_hours=7.0,
        detected_at=vn(2026, 3, 10, 9),
    )  # fmt: skip
    marker = validate(overdue_span(CODE, THREE_LEVELS, flagged, "district"), VOCABULARIES)
    assert marker.parent_id == span_id(CODE, "stage:1") and marker.trace_id == dossier_trace_id(CODE)
    assert (marker.start, marker.end) == (vn(2026, 3, 9, 10), vn(2026, 3, 10, 9))
    assert marker.attributes["lienthong.overdue"] is True and marker.attributes["lienthong.overdue.hours"] == 7.0
    assert "lienthong.late" not in marker.attributes  # only the stage's own span says late, once it ends
    assert [e.name for e in marker.events] == ["deadline.overdue"]


def test_validation_refuses_what_is_not_registered():
    spans = spans_of(late_at_the_district())
    stage = spans["stage:1"]
    with pytest.raises(InvalidSpan):
        validate(type(stage)(**{**stage.__dict__, "attributes": {**stage.attributes, "applicant": "Nguyễn Văn An"}}))
    with pytest.raises(InvalidSpan):
        validate(type(stage)(**{**stage.__dict__, "name": "Nguyễn Văn An"}), VOCABULARIES)
    with pytest.raises(InvalidSpan):
        validate(type(stage)(**{**stage.__dict__, "end": datetime(2026, 3, 1, tzinfo=UTC)}), VOCABULARIES)
    with pytest.raises(InvalidSpan):  # an agency the catalog does not know is not a code we may send
        validate(type(stage)(**{**stage.__dict__, "attributes": {**stage.attributes, "lienthong.agency.code": "X.1"}}),
                 VOCABULARIES)  # fmt: skip
    assert PROVINCE_DEPT in VOCABULARIES["agencies"]


def test_spans_already_emitted_are_not_built_again():
    s = late_at_the_district()
    s.shipment("WB1", "delivery", "accepted", vn(2026, 3, 17, 9, 30))
    s.shipment("WB1", "delivery", "delivered", vn(2026, 3, 18, 15))
    timeline = build_timeline(s.facts(), CALENDAR)
    every = dossier_spans(timeline)
    keys = [span.key for span in every]
    assert {"dossier", "stage:1", "stage:1:handoff", "stage:1:processing", "postal:delivery:WB1"} <= set(keys)
    assert any(k.startswith("pause:") for k in keys)
    for skip in (set(keys[::2]), set(keys[1::2]), set(keys), {"dossier"}):
        assert dossier_spans(timeline, skip) == [span for span in every if span.key not in skip]
