"""Dossiers for the operators' figures: five hand-built ones whose every figure is known, and a
generated district's weeks for the browser test. The clock of both stands at Fri 20 Mar 2026 09:00."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from tests.unit.deadline.common import CATALOG, COMMUNE, THREE_LEVELS, vn
from tests.unit.deadline.story import Story

NOW = vn(2026, 3, 20, 9)
OTHER_COMMUNE = "T01.00.02.X99"
PROVINCE = "T00.00.00.X99"
COMMUNE_PROVINCE = "9.000004"  # receive 1 @commune, process 3 @province dept, decide 2 @province, return 1

LATE = "T01.00.01.X99-260302-0001"  # late 6.5 h: the district labour office overran its stage
ON_TIME = "T01.00.01.X99-260302-0002"
STAGE_OVERDUE = "T01.00.01.X99-260309-0001"  # still at the district office, past its stage's due time
AT_RISK = "T01.00.02.X99-260306-0001"  # at the province, appointment Fri 20 Mar 14:00
PAUSED_PROVINCE = "T01.00.02.X99-260309-0002"  # a supplement pause at the province department, late there


def district() -> list[Story]:
    late = Story(CATALOG, LATE, THREE_LEVELS, COMMUNE)
    late.received(vn(2026, 3, 2, 8))  # appointment Mon 16 Mar 08:00
    late.completed(0, vn(2026, 3, 2, 10))
    late.handoff_received(1, vn(2026, 3, 3, 8))  # waited 6 working hours
    late.completed(1, vn(2026, 3, 10, 16))  # due Fri 6 Mar 10:00: 20.5 working hours over
    late.handoff_received(2, vn(2026, 3, 11, 8))  # waited 1.5 h
    late.completed(2, vn(2026, 3, 16, 16), "result_ready")
    late.returned(vn(2026, 3, 17, 9))

    on_time = Story(CATALOG, ON_TIME, THREE_LEVELS, COMMUNE)
    on_time.received(vn(2026, 3, 2, 9))
    on_time.completed(0, vn(2026, 3, 2, 11))
    on_time.handoff_received(1, vn(2026, 3, 2, 14))  # waited 1.5 h
    on_time.completed(1, vn(2026, 3, 5, 9))
    on_time.handoff_received(2, vn(2026, 3, 5, 10))  # waited 1 h
    on_time.completed(2, vn(2026, 3, 11, 9), "result_ready")
    on_time.returned(vn(2026, 3, 12, 10))

    overdue = Story(CATALOG, STAGE_OVERDUE, THREE_LEVELS, COMMUNE)
    overdue.received(vn(2026, 3, 9, 10))  # appointment Mon 23 Mar 10:00
    overdue.completed(0, vn(2026, 3, 9, 11))
    overdue.handoff_received(1, vn(2026, 3, 10, 8))  # waited 5 h; the stage was due Fri 13 Mar 11:00

    at_risk = Story(CATALOG, AT_RISK, THREE_LEVELS, OTHER_COMMUNE)
    at_risk.received(vn(2026, 3, 6, 14))  # appointment Fri 20 Mar 14:00
    at_risk.completed(0, vn(2026, 3, 9, 8))
    at_risk.handoff_received(1, vn(2026, 3, 9, 10))  # waited 2 h
    at_risk.completed(1, vn(2026, 3, 17, 9))  # due Fri 13 Mar 08:00: 17 working hours over
    at_risk.handoff_received(2, vn(2026, 3, 17, 10))  # waited 1 h; stage 2 due Mon 23 Mar 09:00

    paused = Story(CATALOG, PAUSED_PROVINCE, COMMUNE_PROVINCE, OTHER_COMMUNE)
    paused.received(vn(2026, 3, 9, 8))  # appointment Wed 18 Mar 08:00, then Thu 19 Mar 08:00
    paused.completed(0, vn(2026, 3, 9, 9))
    paused.handoff_received(1, vn(2026, 3, 9, 15))  # waited 4.5 h
    paused.paused(1, vn(2026, 3, 10, 9))
    paused.resumed(1, vn(2026, 3, 10, 9), vn(2026, 3, 11, 9))  # 8 h the citizen's, not the agency's
    paused.completed(1, vn(2026, 3, 16, 9))  # due Fri 13 Mar 09:00: 8 working hours over
    paused.handoff_received(2, vn(2026, 3, 16, 10))
    paused.completed(2, vn(2026, 3, 17, 16), "result_ready")  # before the appointment: on time
    return [late, on_time, overdue, at_risk, paused]


def generated_weeks(weeks: int = 8, per_week: int = 4, seed: int = 7) -> list[Story]:
    """A district's finished dossiers over `weeks` weeks up to NOW, some late at the district or
    the province, with hand-off waits of a few hours, for a chart worth looking at."""
    rng = random.Random(seed)
    stories = []
    first_monday = vn(2026, 3, 16, 8) - timedelta(weeks=weeks + 1)
    for w in range(weeks):
        for k in range(per_week):
            receiving = COMMUNE if k % 2 == 0 else OTHER_COMMUNE
            received = first_monday + timedelta(weeks=w, days=k % 4, hours=k)
            code = f"{receiving}-{received:%y%m%d}-{9000 + k:04d}"
            s = Story(CATALOG, code, THREE_LEVELS, receiving)
            t = s.received(received)
            t = _step(s, 0, t, rng, 0.5, None)
            t = _step(s, 1, t, rng, rng.choice([2.5, 3.5, 4.5, 6.0]), rng.choice([1, 3, 6]))
            t = _step(s, 2, t, rng, rng.choice([2.0, 3.5, 5.0]), rng.choice([1, 2, 20]), "result_ready")
            s.returned(t + timedelta(hours=2))
            stories.append(s)
    return stories


def _step(
    s: Story, index: int, start: datetime, rng: random.Random, days: float, wait: int | None, *outcome
) -> datetime:
    """Receive after `wait` working hours (if any), work `days` working days, complete."""
    if wait is not None:
        s.handoff_received(index, s.calendar.add_working_seconds(start, wait * 3600))
    end = s.calendar.add_working_seconds(start, round((days + rng.random() * 0.2) * 8 * 3600))
    s.completed(index, end, *outcome)
    return end
