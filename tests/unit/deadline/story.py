"""Writes the facts routing, intake and postal would publish about one dossier, as envelopes.

Unit tests turn them into `Fact`s; integration tests publish them on `lt.evt.*` as they are.
Budgets and dues are computed with the catalog's calendar the way routing computes them.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from services.deadline.facts import Fact, parse_fact
from shared.catalog import Catalog
from shared.contracts import subjects


def iso(t: datetime) -> str:
    return t.isoformat()


class Story:
    def __init__(self, catalog: Catalog, code: str, procedure: str, receiving_agency: str) -> None:
        self.catalog, self.calendar = catalog, catalog.calendar
        self.code, self.procedure = code, catalog.procedure(procedure)
        self.receiving = receiving_agency
        self.plan = [receiving_agency if s.agency == "receiving" else s.agency for s in self.procedure.stages]
        self.seq = 0
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.appointment: datetime | None = None

    # -- plumbing ----------------------------------------------------------------------------

    def emit(self, topic: str, type_: str, at: datetime, agency: str | None, data: dict[str, Any]) -> dict:
        if topic == "dossier" and type_ != "received":
            self.seq += 1
            data = {"seq": self.seq, **data}
        body = {
            "event_id": str(uuid.uuid4()),
            "type": type_,
            "schema_version": 1,
            "occurred_at": iso(at),
            "agency": agency,
            "dossier_code": self.code,
            "data": data,
        }
        self.messages.append((subjects.fact(topic, type_), body))
        return body

    def facts(self) -> list[Fact]:
        parsed = [parse_fact(subject, json.dumps(body).encode()) for subject, body in self.messages]
        assert all(isinstance(f, Fact) for f in parsed), parsed
        return parsed  # type: ignore[return-value]

    def budget_hours(self, index: int, start: datetime) -> float:
        return self.calendar.budget_seconds(start, self.procedure.stages[index].working_days) / 3600

    def level(self, agency: str) -> str:
        return self.catalog.agency(agency).level

    # -- what happens to a dossier -----------------------------------------------------------

    def received(self, at: datetime) -> datetime:
        """Intake's receipt; then routing's plan. Returns the counting start."""
        counting = self.calendar.counting_start(at, self.procedure.intake_cutoff)
        self.appointment = self.calendar.add_working_days(counting, self.procedure.total_working_days)
        self.emit("dossier", "received", at, self.receiving, {
            "procedure": self.procedure.code, "receiving_agency": self.receiving, "channel": "counter",
            "return_method": "counter", "received_at": iso(at), "counting_from": iso(counting),
            "appointment_at": iso(self.appointment), "total_working_days": self.procedure.total_working_days,
            "external_ref": f"ref-{self.code}", "postal_waybill": None,
        })  # fmt: skip
        stages, start = [], counting
        for k, spec in enumerate(self.procedure.stages):
            budget = self.calendar.budget_seconds(start, spec.working_days)
            due = self.calendar.add_working_seconds(start, budget)
            stages.append({
                "index": k, "agency": self.plan[k], "agency_level": self.level(self.plan[k]), "role": spec.role,
                "working_days": spec.working_days, "budget_hours": budget / 3600,
                "planned_start": iso(start), "planned_due": iso(due),
            })  # fmt: skip
            start = due
        self.emit("dossier", "routed", at, self.receiving, {
            "procedure": self.procedure.code, "receiving_agency": self.receiving,
            "supplement_policy": self.procedure.supplement_policy, "appointment_at": iso(self.appointment),
            "stages": stages,
        })  # fmt: skip
        return counting

    def handoff_sent(self, index: int, at: datetime) -> None:
        budget = self.budget_hours(index, at)
        due = self.calendar.add_working_seconds(at, round(budget * 3600))
        self.emit("dossier", "handoff_sent", at, self.plan[index - 1], {
            "stage_index": index, "from_agency": self.plan[index - 1], "to_agency": self.plan[index],
            "to_level": self.level(self.plan[index]), "role": self.procedure.stages[index].role,
            "budget_hours": budget, "sent_at": iso(at), "due_at": iso(due),
        })  # fmt: skip
        if self.plan[index] == self.plan[index - 1]:
            self.handoff_received(index, at, inferred=True)

    def handoff_received(self, index: int, at: datetime, inferred: bool = False) -> None:
        self.emit("dossier", "handoff_received", at, self.plan[index], {
            "stage_index": index, "agency": self.plan[index], "received_at": iso(at), "inferred": inferred,
        })  # fmt: skip

    def completed(self, index: int, at: datetime, outcome: str = "forward") -> None:
        """The stage ends; `forward` sends the dossier on to the next stage at the same time."""
        self.emit("dossier", "stage_completed", at, self.plan[index], {
            "stage_index": index, "agency": self.plan[index], "outcome": outcome, "completed_at": iso(at),
        })  # fmt: skip
        if outcome == "result_ready":
            late = self.appointment is not None and at > self.appointment
            self.emit("dossier", "result_ready", at, self.plan[index], {
                "stage_index": index, "agency": self.plan[index], "ready_at": iso(at),
                "appointment_at": iso(self.appointment), "late": late, "return_method": "counter",
            })  # fmt: skip
        if index + 1 < len(self.plan):
            self.handoff_sent(index + 1, at)

    def paused(self, index: int, at: datetime, kind: str = "supplement") -> None:
        self.emit("dossier", "paused", at, self.plan[index], {
            "kind": kind, "stage_index": index, "agency": self.plan[index], "paused_at": iso(at),
        })  # fmt: skip

    def resumed(self, index: int, paused_at: datetime, at: datetime, kind: str = "supplement") -> None:
        """As routing: a `restart` procedure's supplement counts the whole time again from its receipt."""
        seconds = self.calendar.working_seconds_between(paused_at, at)
        policy = self.procedure.supplement_policy if kind == "supplement" else "pause"
        self.emit("dossier", "resumed", at, self.plan[index], {
            "kind": kind, "stage_index": index, "agency": self.plan[index], "paused_at": iso(paused_at),
            "resumed_at": iso(at), "paused_hours": seconds / 3600, "policy": policy,
        })  # fmt: skip
        assert self.appointment is not None
        if policy == "restart":
            restarted = self.calendar.counting_start(at, self.procedure.intake_cutoff)
            self.rescheduled(
                "restart", self.calendar.add_working_days(restarted, self.procedure.total_working_days), at
            )
        else:
            self.rescheduled("pause", self.calendar.add_working_seconds(self.appointment, seconds), at)

    def rescheduled(self, cause: str, appointment: datetime, at: datetime, agency: str | None = None) -> None:
        previous, self.appointment = self.appointment, appointment
        self.emit("dossier", "rescheduled", at, agency or self.receiving, {
            "cause": cause, "previous_appointment_at": iso(previous), "appointment_at": iso(appointment),
            "agency": agency,
        })  # fmt: skip

    def returned(self, at: datetime, via: str = "counter") -> None:
        self.emit("dossier", "returned", at, self.receiving, {"returned_at": iso(at), "via": via})

    def refused(self, index: int, at: datetime) -> None:
        self.emit("dossier", "refused", at, self.plan[index], {
            "stage_index": index, "agency": self.plan[index], "reason": "không đủ điều kiện",
        })  # fmt: skip

    def withdrawn(self, index: int, at: datetime) -> None:
        self.emit("dossier", "withdrawn", at, self.receiving, {"stage_index": index, "agency": self.receiving})

    def shipment(
        self, waybill: str, direction: str, status: str, at: datetime, attempt: int = 1, state: str | None = None
    ) -> None:
        self.emit("postal", "shipment_updated", at, None, {
            "waybill": waybill, "direction": direction, "status": status, "at": iso(at), "attempt": attempt,
            "state": state or status,
        })  # fmt: skip
