"""A procedure's standard process resolved for one dossier: pure, from the catalog."""

from __future__ import annotations

from datetime import datetime

from services.routing.state import PlanStage
from shared.calendar import WorkCalendar
from shared.catalog import RECEIVING, Catalog, Procedure
from shared.contracts.events import PlannedStage

Plan = tuple[PlanStage, ...]


def resolve_plan(procedure: Procedure, receiving_agency: str, catalog: Catalog) -> Plan:
    """`receiving` becomes the agency where the dossier was submitted; levels come from the catalog."""
    stages = []
    for index, spec in enumerate(procedure.stages):
        agency = receiving_agency if spec.agency == RECEIVING else spec.agency
        stages.append(
            PlanStage(
                index=index,
                agency=agency,
                level=catalog.agency(agency).level,
                role=spec.role,
                working_days=spec.working_days,
            )
        )
    return tuple(stages)


def last_processing_index(plan: Plan) -> int:
    """The last stage that is not the return of the result: where `result_ready` belongs."""
    return max(s.index for s in plan if s.role != "return")


def return_index(plan: Plan) -> int | None:
    return next((s.index for s in plan if s.role == "return"), None)


def stage_budget(calendar: WorkCalendar, start: datetime, working_days: float) -> tuple[int, datetime]:
    """A stage's budget (D x H working seconds, H of its first day) and its due time from `start`."""
    budget = calendar.budget_seconds(start, working_days)
    return budget, calendar.add_working_seconds(start, budget)


def planned_stages(plan: Plan, start: datetime, calendar: WorkCalendar) -> list[PlannedStage]:
    """Planned start and due of every stage if each used its whole budget (for `dossier.routed`)."""
    planned, cursor = [], start
    for stage in plan:
        budget, due = stage_budget(calendar, cursor, stage.working_days)
        planned.append(
            PlannedStage(
                index=stage.index,
                agency=stage.agency,
                agency_level=stage.level,
                role=stage.role,
                working_days=stage.working_days,
                budget_hours=hours(budget),
                planned_start=calendar.next_opening(cursor),
                planned_due=due,
            )
        )
        cursor = due
    return planned


def hours(seconds: int) -> float:
    return round(seconds / 3600, 4)
