"""A procedure's standard process resolved for one dossier: pure, from the catalog."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from shared.calendar import WorkCalendar
from shared.catalog import RECEIVING, Catalog, Procedure
from shared.contracts.events import PlannedStage


class PlanStage(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    agency: str
    level: str
    role: str
    working_days: float


def resolve_plan(procedure: Procedure, receiving_agency: str, catalog: Catalog) -> tuple[PlanStage, ...]:
    """`receiving` becomes the agency where the dossier was submitted; levels come from the catalog."""
    stages = []
    for index, spec in enumerate(procedure.stages):
        agency = receiving_agency if spec.agency == RECEIVING else spec.agency
        level = catalog.agencies[agency].level if agency in catalog.agencies else "unknown"
        stages.append(
            PlanStage(index=index, agency=agency, level=level, role=spec.role, working_days=spec.working_days)
        )
    return tuple(stages)


def last_processing_index(plan: tuple[PlanStage, ...]) -> int:
    return max(s.index for s in plan if s.role != "return")


def return_index(plan: tuple[PlanStage, ...]) -> int | None:
    return next((s.index for s in plan if s.role == "return"), None)


def planned_stages(plan: tuple[PlanStage, ...], start: datetime, calendar: WorkCalendar) -> list[PlannedStage]:
    """Planned start and due of every stage if each used its whole budget (for `dossier.routed`)."""
    planned, cursor = [], start
    for stage in plan:
        budget = calendar.budget_seconds(cursor, stage.working_days)
        due = calendar.add_working_seconds(cursor, budget)
        planned.append(
            PlannedStage(
                index=stage.index,
                agency=stage.agency,
                agency_level=stage.level,
                role=stage.role,
                working_days=stage.working_days,
                budget_hours=round(budget / 3600, 4),
                planned_start=calendar.next_opening(cursor),
                planned_due=due,
            )
        )
        cursor = due
    return planned
