"""A case of `lt.rpc.deadline.event_log` -> its events, for the XES and OCEL writers. Pure.

XES view (one trace per dossier), with start/complete lifecycle where an activity lasts:
- `received` (complete) at the receipt, by the receiving agency;
- `stage {k} {role} at {agency}` from the stage's start (hand-off sent; stage 0: the counting
  start) to its end — the span the deadline rules judge, hand-off wait and pauses included;
- `hand-off to stage {k}` from the hand-off being sent to the receiving agency taking it;
- `pause ({kind})` while the clock stood still (supplement, obligation), by the agency that asked;
- `postal {direction}` while the post carried the papers or the result (resource `postal`);
- `result ready`, `returned`, `refused`, `withdrawn` (complete) when they happened.
An activity still running has its start event only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

POSTAL_RESOURCE = "postal"


@dataclass(frozen=True)
class LogEvent:
    activity: str
    timestamp: datetime
    lifecycle: str  # start | complete
    resource: str | None
    attributes: Mapping[str, Any] = field(default_factory=dict)


def _t(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def stage_activity(stage: Mapping[str, Any]) -> str:
    return f"stage {stage['index']} {stage['role']} at {stage['agency']}"


def _span(
    events: list[LogEvent],
    activity: str,
    start: datetime | None,
    end: datetime | None,
    resource: str | None,
    **attributes: Any,
) -> None:
    if start is not None:
        events.append(LogEvent(activity, start, "start", resource, attributes))
    if end is not None and start is not None:
        events.append(LogEvent(activity, end, "complete", resource, attributes))


def case_events(case: Mapping[str, Any]) -> list[LogEvent]:
    """The XES events of one dossier, in time order (a start before its complete at equal times)."""
    events: list[LogEvent] = []
    received = _t(case["received_at"])
    if received is not None:
        events.append(LogEvent("received", received, "complete", case["receiving_agency"]))
    stages = sorted(case["stages"], key=lambda s: s["index"])
    previous_agency = None
    for s in stages:
        start, end = _t(s["start"]), _t(s["end"])
        attributes = {"stage_index": s["index"], "role": s["role"], "level": s["level"], "late": s["late"]}
        if s["overrun_hours"]:
            attributes["overrun_hours"] = s["overrun_hours"]
        _span(events, stage_activity(s), start, end, s["agency"], **attributes)
        taken = _t(s["received_at"])
        handed = s["index"] > 0 and previous_agency not in (None, s["agency"]) and start is not None
        if handed and (taken is not None or end is None):  # a receipt nobody reported: no wait to show
            _span(events, f"hand-off to stage {s['index']}", start, taken, s["agency"], stage_index=s["index"])
        if end is not None and s["outcome"] in ("refused", "withdrawn"):
            events.append(LogEvent(s["outcome"], end, "complete", s["agency"], {"stage_index": s["index"]}))
        previous_agency = s["agency"]
    for p in case["pauses"]:
        _span(events, f"pause ({p['kind']})", _t(p["start"]), _t(p["end"]), p["agency"], stage_index=p["stage_index"])
    for leg in case["postal_legs"]:
        _span(
            events,
            f"postal {leg['direction']}",
            _t(leg["start"]),
            _t(leg["end"]),
            POSTAL_RESOURCE,
            waybill=leg["waybill"],
        )
    ready = _t(case["result_ready_at"])
    if ready is not None:
        by = next((s["agency"] for s in stages if s["outcome"] == "result_ready"), None)
        events.append(LogEvent("result ready", ready, "complete", by, {"late": case["late"]}))
    returned = _t(case["returned_at"])
    if returned is not None:
        events.append(LogEvent("returned", returned, "complete", case["receiving_agency"]))
    order = {"start": 0, "complete": 1}
    return sorted(events, key=lambda e: (e.timestamp, order[e.lifecycle]))


def case_attributes(case: Mapping[str, Any]) -> dict[str, Any]:
    """The trace's attributes (concept:name is the dossier code)."""
    return {
        "procedure": case["procedure"],
        "receiving_agency": case["receiving_agency"],
        "status": case["status"],
        "late": case["late"],
    }
