"""Per-stage budgets proposed from the stage times observed, and the on-time rate replayed. Pure.

Observed time of a stage: the working time its agency used (hand-off wait and processing; pauses
and postal transit excluded), in working days of the day the stage started (D x H, CONTRACT §6).
Proposal: the chosen percentile of each stage, scaled so that the stages add up to the
procedure's legal total, in steps of half a working day, every stage at least one step. A stage
no dossier has finished keeps its current budget.
Replay: every recorded stage is judged again by `attribution.judge_stage` from its real start,
with its real pauses and postal transit and the proposed budget; only the budget changes. A
dossier's own verdict (result ready vs appointment) does not depend on how the total is split,
so keeping the total keeps it; what moves is which agencies are judged late.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.deadline.attribution import JUDGED_OUTCOMES, StageVerdict, judge_stage
from services.deadline.model import Stage, Timeline
from services.deadline.report import ReportFilter, parse_report_request
from shared.calendar import WorkCalendar
from shared.catalog import RECEIVING, Catalog, Procedure

STEP_DAYS = 0.5
DEFAULT_PERCENTILE = 80
DEFAULT_SAMPLE = 5000
MAX_SAMPLE = 20_000


@dataclass(frozen=True)
class RecommendRequest:
    procedure: Procedure
    percentile: float
    window: ReportFilter
    sample: int


def parse_recommend_request(obj: Mapping[str, Any], catalog: Catalog) -> RecommendRequest | str:
    """{"procedure", "percentile" (1-100, default 80), "from", "to", "sample"}, or why not."""
    code = obj.get("procedure")
    if not isinstance(code, str) or not code:
        return f"procedure: expected a procedure code, got {code!r}"
    procedure = catalog.procedures.get(code)
    if procedure is None:
        return f"procedure: {code!r} is not in the catalog"
    pct = obj.get("percentile", DEFAULT_PERCENTILE)
    if isinstance(pct, bool) or not isinstance(pct, int | float) or not 1 <= pct <= 100:
        return f"percentile: expected a number from 1 to 100, got {pct!r}"
    sample = obj.get("sample", DEFAULT_SAMPLE)
    if isinstance(sample, bool) or not isinstance(sample, int) or not 1 <= sample <= MAX_SAMPLE:
        return f"sample: expected a whole number of dossiers from 1 to {MAX_SAMPLE}, got {sample!r}"
    window = parse_report_request({k: obj.get(k) for k in ("from", "to")})
    if isinstance(window, str):
        return window
    return RecommendRequest(procedure, float(pct), ReportFilter(window.date_from, window.date_to, code), sample)


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between the closest ranks (PostgreSQL's percentile_cont)."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def follows_plan(timeline: Timeline, procedure: Procedure) -> bool:
    """The dossier went through the procedure's current stages: same agencies in the same roles
    (a dossier routed before the catalog changed is not evidence for today's stages)."""
    plan = [(timeline.receiving_agency if s.agency == RECEIVING else s.agency, s.role) for s in procedure.stages]
    return timeline.procedure == procedure.code and [(s.agency, s.role) for s in timeline.stages] == plan


def judged(stage: Stage) -> bool:
    """Ended by its own work (not refused, withdrawn or still open)."""
    return stage.start is not None and stage.used_seconds is not None and stage.outcome in JUDGED_OUTCOMES


def used_days(stage: Stage, calendar: WorkCalendar) -> float:
    assert stage.start is not None and stage.used_seconds is not None
    return stage.used_seconds / calendar.day_seconds(calendar.next_opening(stage.start).date())


def propose_budgets(
    observed: Sequence[float | None], current: Sequence[float], total: float, step: float = STEP_DAYS
) -> list[float]:
    """Budgets in steps of `step` adding up to `total`, in proportion to `observed` (None keeps
    the current budget). Largest remainders take the steps left after rounding down."""
    free = [i for i, o in enumerate(observed) if o is not None]
    proposed = list(current)
    if not free:
        return proposed
    free_total = total - math.fsum(current[i] for i in range(len(current)) if i not in free)
    units = math.floor(free_total / step + 1e-9)
    if units < len(free):  # not even one step each: nothing sensible to redistribute
        return proposed
    weights = [observed[i] or 0.0 for i in free]
    if sum(weights) <= 0:
        weights = [current[i] for i in free]
    exact = [w / sum(weights) * units for w in weights]
    alloc = [max(1, math.floor(x)) for x in exact]
    while sum(alloc) < units:
        k = max(range(len(free)), key=lambda j: (exact[j] - alloc[j], -j))
        alloc[k] += 1
    while sum(alloc) > units:
        k = max((j for j in range(len(free)) if alloc[j] > 1), key=lambda j: (alloc[j] - exact[j], -j))
        alloc[k] -= 1
    residue = free_total - units * step  # 0 unless the total is not a multiple of the step
    largest = max(range(len(free)), key=lambda j: (alloc[j], -j))
    for j, i in enumerate(free):
        proposed[i] = alloc[j] * step + (residue if j == largest else 0.0)
    return proposed


def replay_stage(stage: Stage, working_days: float, calendar: WorkCalendar) -> StageVerdict | None:
    """The stage judged with another budget from its real start; None when it is not judged."""
    if not judged(stage):
        return None
    assert stage.start is not None
    budget = calendar.budget_seconds(stage.start, working_days)
    stopped = stage.paused_seconds + stage.postal_seconds
    return judge_stage(calendar, stage.start, budget, stopped, stage.end, stage.outcome)


def _rate(on_time: int, count: int) -> float | None:
    return round(on_time / count, 4) if count else None


def recommend(timelines: Iterable[Timeline], request: RecommendRequest, catalog: Catalog) -> dict[str, Any]:
    """The proposal and the replayed figures, from the finished dossiers' timelines."""
    procedure, calendar = request.procedure, catalog.calendar
    n = len(procedure.stages)
    sample = [t for t in timelines if t.result_ready_at is not None]
    kept = [t for t in sample if follows_plan(t, procedure)]
    used: list[list[float]] = [[] for _ in range(n)]
    hours: list[list[float]] = [[] for _ in range(n)]
    for t in kept:
        for s in t.stages:
            if judged(s):
                used[s.index].append(used_days(s, calendar))
                hours[s.index].append((s.used_seconds or 0) / 3600)
    observed = [percentile(days, request.percentile) if days else None for days in used]
    current = [s.working_days for s in procedure.stages]
    proposed = propose_budgets(observed, current, procedure.total_working_days)
    counts = [[0, 0, 0] for _ in range(n)]  # judged, on time now, on time proposed
    clean_now = clean_proposed = on_time_dossiers = 0
    for t in kept:
        now_ok = proposed_ok = True
        for s in t.stages:
            verdict = replay_stage(s, proposed[s.index], calendar)
            if verdict is None:
                continue
            counts[s.index][0] += 1
            counts[s.index][1] += not s.late
            counts[s.index][2] += not verdict.late
            now_ok, proposed_ok = now_ok and not s.late, proposed_ok and not verdict.late
        clean_now += now_ok
        clean_proposed += proposed_ok
        on_time_dossiers += not t.late
    judged_total = sum(c[0] for c in counts)
    return {
        "procedure": procedure.code,
        "procedure_name": procedure.name,
        "total_working_days": procedure.total_working_days,
        "intake_cutoff": procedure.intake_cutoff.strftime("%H:%M") if procedure.intake_cutoff else None,
        "supplement_policy": procedure.supplement_policy,
        "percentile": request.percentile,
        "from": request.window.date_from.isoformat() if request.window.date_from else None,
        "to": request.window.date_to.isoformat() if request.window.date_to else None,
        "dossiers": len(kept),
        "observed_total_days": round(math.fsum(o for o in observed if o is not None), 4),
        "skipped_other_plan": len(sample) - len(kept),
        "stages": [
            {
                "index": i,
                "agency": spec.agency,
                "agency_name": None if spec.agency == RECEIVING else catalog.agency(spec.agency).name,
                "role": spec.role,
                "current_days": spec.working_days,
                "observed_stages": len(used[i]),
                "observed_hours": round(percentile(hours[i], request.percentile), 4) if hours[i] else None,
                "observed_days": round(observed[i], 4) if observed[i] is not None else None,
                "proposed_days": proposed[i],
                "on_time_rate_now": _rate(counts[i][1], counts[i][0]),
                "on_time_rate_proposed": _rate(counts[i][2], counts[i][0]),
            }
            for i, spec in enumerate(procedure.stages)
        ],
        "stage_on_time_rate": {
            "now": _rate(sum(c[1] for c in counts), judged_total),
            "proposed": _rate(sum(c[2] for c in counts), judged_total),
        },
        "dossiers_every_stage_on_time": {
            "now": _rate(clean_now, len(kept)),
            "proposed": _rate(clean_proposed, len(kept)),
        },
        "dossier_on_time_rate": _rate(on_time_dossiers, len(kept)),
    }
