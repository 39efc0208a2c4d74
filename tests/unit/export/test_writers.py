"""The event-log export's pure parts: a case's events, the XES and OCEL 2.0 writers, the RPC's
request parsing."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from collections import Counter

from services.deadline.eventlog import MAX_LIMIT, parse_event_log_request
from shared.export.eventlog import case_events
from shared.export.ocel import OcelWriter, case_ocel_events
from shared.export.xes import XesWriter, xes_time

NS = {"x": "http://www.xes-standard.org/"}
COMMUNE, OFFICE, DISTRICT = "000.00.15.H57", "000.31.30.H57", "000.00.30.H57"


def stage(index, agency, role, start, end, received=None, outcome="forward", late=False, overrun=0.0):
    return {
        "index": index,
        "agency": agency,
        "level": "commune" if agency == COMMUNE else "district",
        "role": role,
        "budget_hours": 8.0,
        "start": start,
        "received_at": received,
        "received_inferred": False,
        "end": end,
        "outcome": outcome if end else None,
        "due": None,
        "used_hours": None,
        "overrun_hours": overrun,
        "late": late,
    }


def finished_case(code="000.00.15.H57-260202-0001"):
    return {
        "code": code,
        "procedure": "1.001776",
        "receiving_agency": COMMUNE,
        "received_at": "2026-02-02T08:00:00+07:00",
        "counting_from": "2026-02-02T08:00:00+07:00",
        "appointment_at": "2026-03-10T08:00:00+07:00",
        "result_ready_at": "2026-02-12T10:00:00+07:00",
        "returned_at": "2026-02-13T09:00:00+07:00",
        "status": "returned",
        "late": False,
        "late_hours": 0.0,
        "stages": [
            stage(0, COMMUNE, "receive", "2026-02-02T08:00:00+07:00", "2026-02-02T15:00:00+07:00"),
            stage(1, COMMUNE, "process", "2026-02-02T15:00:00+07:00", "2026-02-04T10:00:00+07:00"),
            stage(
                2,
                OFFICE,
                "process",
                "2026-02-04T10:00:00+07:00",
                "2026-02-11T16:00:00+07:00",
                received="2026-02-05T09:00:00+07:00",
                late=True,
                overrun=6.5,
            ),
            stage(
                3,
                DISTRICT,
                "decide",
                "2026-02-11T16:00:00+07:00",
                "2026-02-12T10:00:00+07:00",
                received="2026-02-12T07:45:00+07:00",
                outcome="result_ready",
            ),
            stage(4, COMMUNE, "return", "2026-02-12T10:00:00+07:00", "2026-02-13T09:00:00+07:00", outcome="returned"),
        ],
        "pauses": [
            {
                "kind": "supplement",
                "stage_index": 2,
                "agency": OFFICE,
                "start": "2026-02-06T08:00:00+07:00",
                "end": "2026-02-09T08:00:00+07:00",
            }
        ],
        "postal_legs": [
            {
                "waybill": "EV123456789VN",
                "direction": "delivery",
                "status": "delivered",
                "start": "2026-02-12T11:00:00+07:00",
                "end": "2026-02-13T09:00:00+07:00",
            }
        ],
        "blamed": [{"stage_index": 2, "agency": OFFICE}],
    }


def running_case():
    case = finished_case("000.00.15.H57-260202-0002")
    case.update(result_ready_at=None, returned_at=None, status="in_progress", postal_legs=[], pauses=[])
    case["stages"] = [
        *case["stages"][:2],
        stage(2, OFFICE, "process", "2026-02-04T10:00:00+07:00", None, received=None),
        stage(3, DISTRICT, "decide", None, None),
    ]
    return case


def test_a_case_becomes_start_and_complete_events_in_time_order():
    events = case_events(finished_case())
    assert [e.timestamp for e in events] == sorted(e.timestamp for e in events)
    pairs = Counter((e.activity, e.lifecycle) for e in events)
    for activity in {a for a, _ in pairs}:
        if pairs[(activity, "start")]:
            assert pairs[(activity, "start")] == pairs[(activity, "complete")], activity
    office = [e for e in events if e.activity == f"stage 2 process at {OFFICE}"]
    assert [(e.lifecycle, e.timestamp.isoformat(), e.resource) for e in office] == [
        ("start", "2026-02-04T10:00:00+07:00", OFFICE),
        ("complete", "2026-02-11T16:00:00+07:00", OFFICE),
    ]
    assert office[0].attributes["late"] is True and office[0].attributes["overrun_hours"] == 6.5
    handoffs = sorted({e.activity for e in events if e.activity.startswith("hand-off")})
    assert handoffs == ["hand-off to stage 2", "hand-off to stage 3"], "none inside one agency (stage 1)"
    singles = [e.activity for e in events if e.lifecycle == "complete" and (e.activity, "start") not in pairs]
    assert singles == ["received", "result ready", "returned"]
    ready = next(e for e in events if e.activity == "result ready")
    assert ready.resource == DISTRICT
    assert {e.resource for e in events if e.activity.startswith("postal")} == {"postal"}
    assert {e.activity for e in events if e.activity.startswith("pause")} == {"pause (supplement)"}


def test_a_running_stage_has_its_start_only_and_an_unstarted_one_nothing():
    events = case_events(running_case())
    office = [e.lifecycle for e in events if e.activity == f"stage 2 process at {OFFICE}"]
    assert office == ["start"]
    assert not [e for e in events if "stage 3" in e.activity]
    assert "result ready" not in {e.activity for e in events}


def test_xes_is_well_formed_ieee_1849_with_one_trace_per_dossier():
    out = io.StringIO()
    writer = XesWriter(out)
    for case in (finished_case(), running_case()):
        writer.trace(case["code"], {"procedure": case["procedure"], "late": case["late"]}, case_events(case))
    writer.close()
    root = ET.fromstring(out.getvalue())
    assert root.tag == "{http://www.xes-standard.org/}log" and root.get("xes.version") == "1849-2016"
    assert {e.get("prefix") for e in root.findall("x:extension", NS)} == {"concept", "time", "org", "lifecycle"}
    traces = root.findall("x:trace", NS)
    assert [t.find("x:string[@key='concept:name']", NS).get("value") for t in traces] == [
        "000.00.15.H57-260202-0001",
        "000.00.15.H57-260202-0002",
    ]
    first = traces[0]
    assert first.find("x:boolean[@key='late']", NS).get("value") == "false"
    events = first.findall("x:event", NS)
    assert len(events) == len(case_events(finished_case())) == writer.events - len(case_events(running_case()))
    for e in events:
        assert e.find("x:string[@key='concept:name']", NS) is not None
        assert e.find("x:string[@key='lifecycle:transition']", NS).get("value") in ("start", "complete")
        assert e.find("x:date[@key='time:timestamp']", NS).get("value").endswith("+07:00")
    late = [e for e in events if e.find("x:boolean[@key='late']", NS) is not None]
    assert any(e.find("x:boolean[@key='late']", NS).get("value") == "true" for e in late)
    assert xes_time(case_events(finished_case())[0].timestamp) == "2026-02-02T08:00:00.000+07:00"


def test_xes_escapes_what_xml_must_escape():
    out = io.StringIO()
    writer = XesWriter(out)
    writer.trace('A&B<"C">', {"note": "x < y & z"}, [])
    writer.close()
    trace = ET.fromstring(out.getvalue()).find("x:trace", NS)
    assert trace.find("x:string[@key='concept:name']", NS).get("value") == 'A&B<"C">'
    assert trace.find("x:string[@key='note']", NS).get("value") == "x < y & z"


def test_ocel_relates_every_event_to_objects_that_exist_with_declared_types():
    out = io.StringIO()
    writer = OcelWriter(out)
    writer.case(finished_case())
    writer.case(running_case())
    writer.close()
    log = json.loads(out.getvalue())
    objects = {o["id"]: o for o in log["objects"]}
    assert {o["type"] for o in objects.values()} == {"dossier", "agency", "shipment"}
    assert objects["EV123456789VN"]["type"] == "shipment"
    assert {objects[c]["type"] for c in (COMMUNE, OFFICE, DISTRICT)} == {"agency"}
    ids = [e["id"] for e in log["events"]]
    assert len(ids) == len(set(ids)) == writer.events
    event_types = {t["name"]: {a["name"]: a["type"] for a in t["attributes"]} for t in log["eventTypes"]}
    for e in log["events"]:
        assert e["type"] in event_types
        assert all(r["objectId"] in objects for r in e["relationships"]), e
        assert {"objectId": e["id"].split("#")[0], "qualifier": "dossier"} in e["relationships"]
        assert {a["name"] for a in e["attributes"]} <= set(event_types[e["type"]])
    for o in log["objects"]:
        assert all(r["objectId"] in objects for r in o["relationships"])
    assert event_types["stage completed"] == {
        "late": "boolean",
        "overrun_hours": "float",
        "role": "string",
        "stage_index": "integer",
    }
    completed = [e for e in log["events"] if e["type"] == "stage completed" and e["id"].endswith(tuple("0123456789"))]
    assert any({"name": "late", "value": True} in e["attributes"] for e in completed)
    handoffs = [e for e in log["events"] if e["type"] == "hand-off sent"]
    assert {"objectId": OFFICE, "qualifier": "from"} in handoffs[1]["relationships"]


def test_ocel_events_of_a_case_are_in_time_order_and_skip_what_did_not_happen():
    events = case_ocel_events(running_case())
    assert [e.time for e in events] == sorted(e.time for e in events)
    assert "result ready" not in {e.type for e in events}
    assert "stage completed" in {e.type for e in events}


def test_the_event_log_request_is_checked():
    assert parse_event_log_request({}).limit == 200
    request = parse_event_log_request({"after": "X-1", "limit": 5, "from": "2026-02-01", "procedure": "1.001776"})
    assert (request.after, request.limit, request.window.procedure) == ("X-1", 5, "1.001776")
    assert "limit" in parse_event_log_request({"limit": MAX_LIMIT + 1})
    assert "limit" in parse_event_log_request({"limit": True})
    assert "after" in parse_event_log_request({"after": 3})
    assert "from" in parse_event_log_request({"from": "02/01/2026"})
