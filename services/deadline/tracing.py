"""A dossier's timeline -> the spans of its trace (CONTRACT.md §4). Pure.

One trace per dossier, on business time. The tree:

    dossier                                 root: receipt -> the dossier's end (emitted once closed)
    ├── stage {i}                           kind processing: the agency's stage, sent -> ended, with
    │   │                                   its budget, used, overrun and late (the verdict)
    │   ├── handoff                         kind handoff: sent -> received (part of the stage)
    │   ├── processing                      received -> ended: the agency at work (no kind of its
    │   │                                   own, so that one span per stage carries `processing`)
    │   ├── pause {supplement|obligation}   kind pause: the clock stood still
    │   └── overdue stage                   marker, when the stage was flagged overdue while running
    ├── postal {pickup|delivery}            kind postal: the post carrying the papers or the result
    └── overdue dossier                     marker, when the appointment passed without a result

`dossier_spans` returns the spans whose intervals have ended, as the facts stand: the deadline
service emits each once, as it closes (docs/design.md, tracing). Ids derive from the dossier
code and the span's key, so the same facts always give the same spans.
"""

from __future__ import annotations

from collections.abc import Container
from datetime import datetime

from services.deadline.attribution import hours
from services.deadline.model import TERMINAL, Pause, Stage, Timeline
from shared.contracts.events import DeadlineOverdue
from shared.tracing.ids import ROOT_KEY, dossier_trace_id, span_id
from shared.tracing.spec import SpanEvent, SpanSpec


def stage_key(index: int) -> str:
    return f"stage:{index}"


def pause_key(p: Pause) -> str:
    return f"pause:{p.kind}:{p.stage_index}:{p.start.timestamp():.0f}"


class _Trace:
    def __init__(self, code: str, procedure: str | None) -> None:
        self.code, self.trace_id = code, dossier_trace_id(code)
        self.common: dict = {"lienthong.dossier.code": code}
        if procedure:
            self.common["lienthong.procedure.code"] = procedure

    def span(self, key: str, name: str, parent: str | None, start: datetime, end: datetime, attributes: dict,
             events: tuple[SpanEvent, ...] = ()) -> SpanSpec:  # fmt: skip
        return SpanSpec(
            key=key,
            name=name,
            trace_id=self.trace_id,
            span_id=span_id(self.code, key),
            parent_id=span_id(self.code, parent) if parent is not None else None,
            start=start,
            end=max(start, end),
            attributes={**self.common, **{k: v for k, v in attributes.items() if v is not None}},
            events=events,
        )


def _agency(agency: str | None, level: str | None) -> dict:
    return {"lienthong.agency.code": agency or None, "lienthong.agency.level": level or None}


def dossier_end(t: Timeline) -> datetime | None:
    """When a closed dossier's story ends: its last known time; None while it is open."""
    if t.status not in TERMINAL:
        return None
    times = [t.returned_at, t.result_ready_at, *(s.end for s in t.stages), *(p.end for p in t.pauses),
             *(leg.end for leg in t.postal_legs)]  # fmt: skip
    known = [x for x in times if x is not None]
    return max(known) if known else t.received_at


def _stage_spans(tr: _Trace, s: Stage, skip: Container[str]) -> list[SpanSpec]:
    assert s.start is not None and s.end is not None
    key, who = stage_key(s.index), _agency(s.agency, s.level)
    where = {"lienthong.stage.index": s.index, **who}
    spans = []
    if key not in skip:
        spans.append(tr.span(key, f"stage {s.index}", ROOT_KEY, s.start, s.end, {
            **where,
            "lienthong.stage.kind": "processing",
            "lienthong.stage.role": s.role or None,
            "lienthong.stage.outcome": s.outcome,
            "lienthong.budget.hours": hours(s.budget_seconds),
            "lienthong.used.hours": hours(s.used_seconds) if s.used_seconds is not None else None,
            "lienthong.overrun.hours": hours(s.overrun_seconds),
            "lienthong.late": s.late,
            "lienthong.paused.hours": hours(s.paused_seconds),
            "lienthong.postal.hours": hours(s.postal_seconds),
        }))  # fmt: skip
    received = min(s.received_at, s.end) if s.received_at is not None else s.start
    if s.index > 0 and s.received_at is not None and f"{key}:handoff" not in skip:
        spans.append(tr.span(f"{key}:handoff", "handoff", key, s.start, received, {
            **where,
            "lienthong.stage.kind": "handoff",
            "lienthong.used.hours": hours(s.handoff_wait_seconds or 0),
            "lienthong.handoff.inferred": s.received_inferred,
        }))  # fmt: skip
    if f"{key}:processing" not in skip:
        spans.append(tr.span(f"{key}:processing", "processing", key, received, s.end, where))
    return spans


def dossier_spans(t: Timeline, skip: Container[str] = ()) -> list[SpanSpec]:
    """Every span of the dossier whose interval has ended (the root once the dossier is closed),
    but those whose key is in `skip` (the ones already emitted)."""
    tr = _Trace(t.code, t.procedure)
    end = dossier_end(t)
    levels = {s.index: s.level for s in t.stages}
    spans: list[SpanSpec] = []
    for s in t.stages:
        if s.start is not None and s.end is not None:
            spans += _stage_spans(tr, s, skip)
    for p in t.pauses:
        p_end = p.end or end
        if p_end is None or pause_key(p) in skip:
            continue
        spans.append(tr.span(pause_key(p), f"pause {p.kind}", stage_key(p.stage_index), p.start, p_end, {
            "lienthong.stage.index": p.stage_index,
            **_agency(p.agency, levels.get(p.stage_index)),
            "lienthong.stage.kind": "pause",
            "lienthong.pause.kind": p.kind,
            "lienthong.used.hours": hours(p.working_seconds) if p.working_seconds is not None else None,
        }))  # fmt: skip
    for leg in t.postal_legs:
        if leg.start is None or leg.end is None or f"postal:{leg.direction}:{leg.waybill}" in skip:
            continue
        spans.append(tr.span(f"postal:{leg.direction}:{leg.waybill}", f"postal {leg.direction}", ROOT_KEY,
                             leg.start, leg.end, {
            "lienthong.stage.kind": "postal",
            "lienthong.postal.direction": leg.direction,
            "lienthong.postal.status": leg.status,
            "lienthong.used.hours": hours(leg.working_seconds) if leg.working_seconds is not None else None,
        }))  # fmt: skip
    if end is not None and t.received_at is not None and ROOT_KEY not in skip:
        first = t.stage(0)
        used = [s.used_seconds for s in t.stages if s.used_seconds is not None]
        events = (SpanEvent("result_ready", t.result_ready_at),) if t.result_ready_at is not None else ()
        spans.append(tr.span(ROOT_KEY, "dossier", None, t.received_at, end, {
            **_agency(t.receiving_agency, first.level if first and first.agency == t.receiving_agency else None),
            "lienthong.budget.hours": hours(sum(s.budget_seconds for s in t.stages)),
            "lienthong.used.hours": hours(sum(used)),
            "lienthong.overrun.hours": hours(t.late_seconds),
            "lienthong.late": t.late,
            "lienthong.dossier.status": t.status,
        }, events))  # fmt: skip
    return spans


def overdue_span(code: str, procedure: str | None, overdue: DeadlineOverdue, level: str | None) -> SpanSpec:
    """The marker of a stage (or dossier) flagged overdue while still running: from its due time
    to the moment it was flagged, under the stage's span (or the root)."""
    tr = _Trace(code, procedure)
    scope, index = overdue.scope, overdue.stage_index
    parent = stage_key(index) if scope == "stage" and index is not None else ROOT_KEY
    key = f"overdue:stage:{index}" if parent != ROOT_KEY else f"overdue:dossier:{overdue.due_at.timestamp():.0f}"
    flagged = {"lienthong.overdue.hours": overdue.overdue_by_hours}
    return tr.span(key, f"overdue {scope}", parent, overdue.due_at, overdue.detected_at, {
        "lienthong.stage.index": index,
        **_agency(overdue.agency, level),
        "lienthong.overdue": True,
        "lienthong.overdue.scope": scope,
        "lienthong.overdue.hours": overdue.overdue_by_hours,
    }, (SpanEvent("deadline.overdue", overdue.detected_at, flagged),))  # fmt: skip
