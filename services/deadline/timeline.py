"""A dossier's facts -> its timeline: stages with their verdicts, pauses, postal legs, appointment.

Pure and deterministic: `build_timeline` sorts the facts itself, so the same facts give the same
timeline whatever order (and however many times) they were delivered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from services.deadline.attribution import blame, judge_dossier, judge_stage, union_seconds
from services.deadline.facts import Fact, in_order
from services.deadline.journey import citizen_journey
from services.deadline.legs import PostalLeg, postal_legs
from services.deadline.model import TERMINAL, AppointmentChange, Pause, Stage, Timeline
from shared.calendar import WorkCalendar


@dataclass
class _Draft:
    code: str
    procedure: str | None = None
    receiving_agency: str | None = None
    received_at: datetime | None = None
    counting_from: datetime | None = None
    appointment_at: datetime | None = None
    appointment_at_ready: datetime | None = None
    appointments: list[AppointmentChange] = field(default_factory=list)
    stages: dict[int, dict] = field(default_factory=dict)
    pauses: list[dict] = field(default_factory=list)
    result_ready_at: datetime | None = None
    returned_at: datetime | None = None
    returned_via: str | None = None
    stopped: str | None = None

    def stage(self, index: int, **defaults) -> dict:
        return self.stages.setdefault(index, {"index": index, "agency": "", "level": "", "role": "", **defaults})

    def end_open_stages(self, at: datetime, outcome: str) -> None:
        for s in self.stages.values():
            if s.get("start") is not None and s.get("end") is None:
                s["end"], s["outcome"] = at, outcome

    def appoint(self, at: datetime, appointment_at: datetime, cause: str, agency: str | None = None) -> None:
        self.appointment_at = appointment_at
        self.appointments.append(AppointmentChange(at, appointment_at, cause, agency))


def _apply(d: _Draft, fact: Fact) -> None:
    data, kind = fact.data, fact.type
    if kind == "received":
        d.procedure, d.receiving_agency = data.procedure, data.receiving_agency
        d.received_at, d.counting_from = data.received_at, data.counting_from
        d.appoint(data.received_at, data.appointment_at, "received")
    elif kind == "routed":
        d.procedure, d.receiving_agency = d.procedure or data.procedure, d.receiving_agency or data.receiving_agency
        if d.appointment_at is None:
            d.appoint(fact.occurred_at, data.appointment_at, "received")
        for p in data.stages:
            s = d.stage(p.index, planned_start=p.planned_start)
            s.update(agency=p.agency, level=p.agency_level, role=p.role)
            s.setdefault("budget_seconds", round(p.budget_hours * 3600))
    elif kind == "handoff_sent":
        s = d.stage(data.stage_index)
        s.update(agency=data.to_agency, level=data.to_level, role=data.role, start=data.sent_at)
        s["budget_seconds"] = round(data.budget_hours * 3600)
    elif kind == "handoff_received":
        s = d.stage(data.stage_index, agency=data.agency)
        s.setdefault("received_at", data.received_at)
        s.setdefault("received_inferred", data.inferred)
    elif kind == "stage_completed":
        s = d.stage(data.stage_index, agency=data.agency)
        s.setdefault("end", data.completed_at)
        s.setdefault("outcome", data.outcome)
    elif kind == "paused":
        pause = {"kind": data.kind, "stage_index": data.stage_index, "agency": data.agency, "start": data.paused_at}
        d.pauses.append({**pause, "end": None})
    elif kind == "resumed":
        open_ = next((p for p in d.pauses if p["kind"] == data.kind and p["end"] is None), None)
        if open_ is None:
            open_ = {"kind": data.kind, "stage_index": data.stage_index, "agency": data.agency, "start": data.paused_at}
            d.pauses.append(open_)
        open_["end"] = data.resumed_at
    elif kind == "rescheduled":
        d.appoint(fact.occurred_at, data.appointment_at, data.cause, data.agency)
    elif kind == "result_ready":
        if d.result_ready_at is None:
            d.result_ready_at, d.appointment_at_ready = data.ready_at, d.appointment_at
    elif kind == "returned":
        if d.returned_at is None:
            d.returned_at, d.returned_via = data.returned_at, data.via
        d.end_open_stages(data.returned_at, "returned")
        d.stopped = d.stopped or "returned"
    elif kind in ("refused", "withdrawn"):
        d.end_open_stages(fact.occurred_at, kind)
        d.stopped = d.stopped or kind


def build_timeline(facts: Iterable[Fact], calendar: WorkCalendar) -> Timeline | None:
    """The dossier's timeline, or None while none of its facts says when it was received."""
    dossier_facts, postal_facts = in_order(facts)
    if not dossier_facts:
        return None
    d = _Draft(dossier_facts[0].dossier_code)
    for fact in dossier_facts:
        _apply(d, fact)
    if 0 in d.stages and d.stages[0].get("start") is None:
        start0 = d.counting_from or d.stages[0].get("planned_start")
        d.stages[0].update(start=start0, received_at=start0)
    if d.appointment_at is None or (d.received_at is None and 0 not in d.stages):
        return None
    pauses = tuple(_pause(p, calendar) for p in d.pauses)
    legs = postal_legs(postal_facts, d.received_at, d.result_ready_at, calendar)
    stages = tuple(_finish_stage(s, pauses, legs, calendar) for _, s in sorted(d.stages.items()))
    late, late_seconds = judge_dossier(calendar, d.appointment_at_ready, d.result_ready_at)
    open_stage = next((s for s in reversed(stages) if s.open), None)
    status = d.stopped or _running_status(d.result_ready_at, pauses)
    holder = open_stage.agency if open_stage else None if status in TERMINAL else d.receiving_agency
    received_at = d.received_at or (stages[0].start if stages else None)
    return Timeline(
        code=d.code,
        procedure=d.procedure,
        receiving_agency=d.receiving_agency,
        received_at=received_at,
        counting_from=d.counting_from or (stages[0].start if stages else None),
        appointment_at=d.appointment_at,
        appointments=tuple(d.appointments),
        stages=stages,
        pauses=pauses,
        postal_legs=legs,
        result_ready_at=d.result_ready_at,
        returned_at=d.returned_at,
        status=status,
        late=late,
        late_seconds=late_seconds,
        blamed=tuple(blame((s.index, s.agency, s.overrun_seconds, s.late) for s in stages)),
        holder_agency=holder,
        open_stage=open_stage.index if open_stage else None,
        returned_via=d.returned_via,
        journey=citizen_journey(received_at, d.result_ready_at, d.returned_at, d.returned_via, legs, calendar),
    )


def _pause(p: dict, calendar: WorkCalendar) -> Pause:
    seconds = calendar.working_seconds_between(p["start"], p["end"]) if p["end"] else None
    return Pause(p["kind"], p["stage_index"], p["agency"], p["start"], p["end"], seconds)


def _running_status(result_ready_at: datetime | None, pauses: tuple[Pause, ...]) -> str:
    if result_ready_at is not None:
        return "result_ready"
    return "paused" if any(p.end is None for p in pauses) else "in_progress"


def _finish_stage(s: dict, pauses: tuple[Pause, ...], legs: tuple[PostalLeg, ...], calendar: WorkCalendar) -> Stage:
    fields = {k: v for k, v in s.items() if k != "planned_start"}
    fields.setdefault("budget_seconds", 0)
    start, end = s.get("start"), s.get("end")
    if start is None:
        return Stage(**fields)
    own = [p for p in pauses if p.stage_index == s["index"]]
    closed_pauses = [(p.start, p.end) for p in own if p.end is not None]
    stopped = any(p.end is None for p in own)
    in_transit = []  # the post's transit inside the stage, clipped to it
    for leg in legs:
        if leg.start is None or (end is not None and leg.start >= end) or (leg.end is not None and leg.end <= start):
            continue
        if leg.end is None and end is None:
            stopped = True  # still in transit: the stage's clock stands still
            continue
        in_transit.append((max(start, leg.start), min(t for t in (end, leg.end) if t is not None)))
    # a pause and the post's transit at the same time stop the clock once: the postal time shown is
    # only what the pauses did not already cover
    paused = union_seconds(calendar, closed_pauses)
    clock_stopped = union_seconds(calendar, closed_pauses + in_transit)
    postal = clock_stopped - paused
    verdict = judge_stage(calendar, start, fields["budget_seconds"], clock_stopped, end, s.get("outcome"))
    received_at = s.get("received_at")
    wait = calendar.working_seconds_between(start, received_at) if received_at else None
    return Stage(
        **fields,
        paused_seconds=paused,
        postal_seconds=postal,
        clock_stopped=stopped and end is None,
        due=verdict.due,
        used_seconds=verdict.used_seconds,
        overrun_seconds=verdict.overrun_seconds,
        late=verdict.late,
        handoff_wait_seconds=wait,
    )
