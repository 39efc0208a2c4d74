"""A streaming OCEL 2.0 JSON writer: objects `dossier`, `agency` and `shipment`; instantaneous
events related to them with qualifiers. Pure: it writes to the text stream it is given.

Events are written as the cases come; objects (one per dossier, agency and shipment, small) are
collected and written at the end, with the object and event types: JSON does not order the keys
of an object, so `"events"` may come first and a reader still finds everything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

STATIC_TIME = "1970-01-01T00:00:00Z"  # OCEL 2.0: the time of attribute values that never change


@dataclass(frozen=True)
class OcelEvent:
    type: str
    time: datetime
    relationships: tuple[tuple[str, str], ...]  # (object id, qualifier)
    attributes: Mapping[str, Any] = field(default_factory=dict)


def _t(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def case_ocel_events(case: Mapping[str, Any]) -> list[OcelEvent]:
    """One dossier's events, in time order."""
    code, events = case["code"], []

    def add(event_type: str, at: datetime | None, /, *rel: tuple[str, str], **attributes: Any) -> None:
        if at is not None:
            events.append(OcelEvent(event_type, at, ((code, "dossier"), *rel), attributes))

    add("dossier received", _t(case["received_at"]), (case["receiving_agency"], "received at"))
    stages = sorted(case["stages"], key=lambda s: s["index"])
    previous = None
    for s in stages:
        at_stage = {"stage_index": s["index"], "role": s["role"]}
        handed = previous is not None and previous["agency"] != s["agency"]
        if handed:
            add("hand-off sent", _t(s["start"]), (previous["agency"], "from"), (s["agency"], "to"), **at_stage)
            add("hand-off received", _t(s["received_at"]), (s["agency"], "holder"), **at_stage)
        else:
            add("stage started", _t(s["start"]), (s["agency"], "holder"), **at_stage)
        if s["outcome"] in ("forward", "result_ready"):
            overrun = s["overrun_hours"] or 0.0
            add(
                "stage completed",
                _t(s["end"]),
                (s["agency"], "holder"),
                **at_stage,
                late=s["late"],
                overrun_hours=overrun,
            )
        elif s["outcome"] in ("refused", "withdrawn"):
            add(f"dossier {s['outcome']}", _t(s["end"]), (s["agency"], "holder"), **at_stage)
        previous = s
    for p in case["pauses"]:
        add(
            "clock stopped", _t(p["start"]), (p["agency"], "requested by"), kind=p["kind"], stage_index=p["stage_index"]
        )
        add("clock resumed", _t(p["end"]), (p["agency"], "requested by"), kind=p["kind"], stage_index=p["stage_index"])
    for leg in case["postal_legs"]:
        add("shipment started", _t(leg["start"]), (leg["waybill"], "shipment"), direction=leg["direction"])
        add("shipment ended", _t(leg["end"]), (leg["waybill"], "shipment"), direction=leg["direction"])
    by = next((s["agency"] for s in stages if s["outcome"] == "result_ready"), None)
    ready_rel = ((by, "decided by"),) if by else ()
    add("result ready", _t(case["result_ready_at"]), *ready_rel, late=case["late"])
    add("result returned", _t(case["returned_at"]), (case["receiving_agency"], "returned at"))
    return sorted(events, key=lambda e: e.time)


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, datetime):
        return "time"
    return "string"


def _value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


class OcelWriter:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.events = 0
        self.event_types: dict[str, dict[str, str]] = {}
        self.objects: dict[str, dict[str, Any]] = {}  # id -> {"type", "attributes", "relationships"}
        out.write('{"events": [')

    def _object(self, oid: str, type_: str) -> dict[str, Any]:
        return self.objects.setdefault(oid, {"type": type_, "attributes": {}, "relationships": {}})

    def case(self, case: Mapping[str, Any]) -> None:
        code = case["code"]
        dossier = self._object(code, "dossier")
        dossier["attributes"].update(
            procedure=case["procedure"] or "", status=case["status"], late=case["late"], late_hours=case["late_hours"]
        )
        dossier["relationships"][(case["receiving_agency"], "received at")] = None
        self._object(case["receiving_agency"], "agency")
        for s in case["stages"]:
            agency = self._object(s["agency"], "agency")
            agency["attributes"].setdefault("level", s["level"])
            dossier["relationships"][(s["agency"], "went through")] = None
        for leg in case["postal_legs"]:
            shipment = self._object(leg["waybill"], "shipment")
            shipment["attributes"].update(direction=leg["direction"], status=leg["status"])
            dossier["relationships"][(leg["waybill"], f"postal {leg['direction']}")] = None
        for n, e in enumerate(case_ocel_events(case)):
            types = self.event_types.setdefault(e.type, {})
            for k, v in e.attributes.items():
                types.setdefault(k, _type_name(v))
            record = {
                "id": f"{code}#{n}",
                "type": e.type,
                "time": e.time.isoformat(),
                "attributes": [{"name": k, "value": _value(v)} for k, v in e.attributes.items()],
                "relationships": [{"objectId": oid, "qualifier": q} for oid, q in e.relationships],
            }
            self.out.write(("," if self.events else "") + "\n" + json.dumps(record, ensure_ascii=False))
            self.events += 1

    def close(self) -> None:
        objects = []
        object_types: dict[str, dict[str, str]] = {}
        for oid, o in self.objects.items():
            types = object_types.setdefault(o["type"], {})
            for k, v in o["attributes"].items():
                types.setdefault(k, _type_name(v))
            objects.append(
                {
                    "id": oid,
                    "type": o["type"],
                    "attributes": [{"name": k, "time": STATIC_TIME, "value": v} for k, v in o["attributes"].items()],
                    "relationships": [{"objectId": target, "qualifier": q} for target, q in o["relationships"]],
                }
            )
        tail = {
            "objects": objects,
            "objectTypes": [
                {"name": name, "attributes": [{"name": k, "type": t} for k, t in sorted(attrs.items())]}
                for name, attrs in sorted(object_types.items())
            ],
            "eventTypes": [
                {"name": name, "attributes": [{"name": k, "type": t} for k, t in sorted(attrs.items())]}
                for name, attrs in sorted(self.event_types.items())
            ],
        }
        body = json.dumps(tail, ensure_ascii=False, indent=1)
        self.out.write("\n], " + body[1:] + "\n")
