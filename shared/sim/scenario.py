"""The simulator's script, as pure functions: which dossiers arrive when, what every agency does
and when, and therefore (by construction) which stages end after their due time.

The script follows the routing rules of docs/design.md: stage 0 starts at the counting start of
the receipt; stage k > 0 starts when the previous stage completes (the hand-off is sent then);
its hand-off wait and any pause happen inside it; a pause moves its due time by the paused
working time. A stage is made late by giving it more working time than its budget.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.calendar import WorkCalendar
from shared.catalog import Catalog, Procedure

HOUR = 3600
SIMULATION_START = datetime.fromisoformat("2026-02-02T07:30:00+07:00")  # two weeks before Tết 2026


@dataclass(frozen=True)
class SimConfig:
    dossiers: int = 2000
    seed: int = 20260202
    start: datetime = SIMULATION_START
    arrival_working_days: int = 15
    slow_agency_count: int = 2
    late_probability_slow: float = 0.55
    late_probability_normal: float = 0.04
    supplement_probability: float = 0.08
    obligation_probability: float = 0.04
    refusal_probability: float = 0.01  # per stage
    withdrawal_probability: float = 0.006  # per stage
    apology_probability: float = 0.5  # of dossiers that will be late, when the late stage is received
    postal_failure_probability: float = 0.15
    slow_handoff_pairs: int = 2  # hand-offs that sit for days
    procedures: tuple[str, ...] = ()  # procedure codes to simulate; empty: every procedure of the catalog


@dataclass(frozen=True)
class Action:
    """Something an agency system does at a business time."""

    at: datetime
    agency: str
    type: str
    data: dict[str, Any]


@dataclass
class DossierScript:
    index: int
    receiving_agency: str
    procedure: str
    return_method: str
    submitted_at: datetime
    external_ref: str
    actions: list[Action] = field(default_factory=list)
    late_stages: dict[int, int] = field(default_factory=dict)  # stage index -> overrun working seconds
    ends: str = "returned"  # returned | refused | withdrawn
    code: str | None = None


@dataclass(frozen=True)
class World:
    slow_agencies: frozenset[str]
    slow_handoffs: frozenset[tuple[str, str]]
    # Each agency's own pace: an on-time stage there takes a uniform share of its budget in [low, high].
    pace: dict[str, tuple[float, float]] = field(default_factory=dict)


def simulated_procedures(catalog: Catalog, config: SimConfig) -> list[Procedure]:
    """The procedures dossiers are drawn from: those received at a commune one-stop (stage 0 at the
    receiving agency), restricted to `config.procedures` when given."""
    unknown = sorted(set(config.procedures) - set(catalog.procedures))
    if unknown:
        raise ValueError(f"procedures not in the catalog: {', '.join(unknown)}")
    return [
        p
        for p in catalog.procedures.values()
        if any(s.agency == "receiving" for s in p.stages[:1]) and (not config.procedures or p.code in config.procedures)
    ]


def choose_world(catalog: Catalog, config: SimConfig, rng: random.Random) -> World:
    procedures = simulated_procedures(catalog, config)
    processing_agencies = sorted({s.agency for p in procedures for s in p.stages if s.agency != "receiving"})
    slow = rng.sample(processing_agencies, min(config.slow_agency_count, len(processing_agencies)))
    pairs = sorted(
        {
            (a.agency, b.agency)
            for p in procedures
            for a, b in zip(p.stages, p.stages[1:], strict=False)
            if a.agency != b.agency and b.role != "return" and b.agency != "receiving"
        }
    )
    handoffs = rng.sample(pairs, min(config.slow_handoff_pairs, len(pairs)))
    pace = {}
    for agency in sorted(catalog.agencies):
        low = round(rng.uniform(0.2, 0.6), 3)
        pace[agency] = (low, round(rng.uniform(low + 0.15, 0.95), 3))
    return World(frozenset(slow), frozenset(handoffs), pace)


def communes(catalog: Catalog) -> list[str]:
    return sorted(code for code, a in catalog.agencies.items() if a.level == "commune")


def random_office_instant(calendar: WorkCalendar, start: datetime, working_days: int, rng: random.Random) -> datetime:
    """A uniformly random instant of office time within the first `working_days` from `start`."""
    span = calendar.budget_seconds(start, working_days)
    return calendar.add_working_seconds(start, rng.randrange(0, max(span, 1)))


def build_scenario(catalog: Catalog, config: SimConfig) -> tuple[World, list[DossierScript]]:
    rng = random.Random(config.seed)
    world = choose_world(catalog, config, rng)
    receivers = communes(catalog) or sorted(catalog.agencies)
    procedures = simulated_procedures(catalog, config)
    scripts = []
    for index in range(config.dossiers):
        procedure = rng.choice(procedures)
        receiving = rng.choice(receivers)
        submitted_at = random_office_instant(catalog.calendar, config.start, config.arrival_working_days, rng)
        return_method = "postal" if rng.random() < 0.3 else "counter"
        script = DossierScript(
            index=index,
            receiving_agency=receiving,
            procedure=procedure.code,
            return_method=return_method,
            submitted_at=submitted_at,
            external_ref=f"sim-{config.seed}-{index}-{uuid.UUID(int=rng.getrandbits(128)).hex[:8]}",
        )
        play_dossier(script, procedure, catalog, config, world, rng)
        scripts.append(script)
    return world, scripts


def play_dossier(
    script: DossierScript, procedure: Procedure, catalog: Catalog, config: SimConfig, world: World, rng: random.Random
) -> None:
    """Write what every agency does with one dossier, and which stages that makes late."""
    calendar = catalog.calendar
    plan = [script.receiving_agency if s.agency == "receiving" else s.agency for s in procedure.stages]
    roles = [s.role for s in procedure.stages]
    last_processing = max(i for i, r in enumerate(roles) if r != "return")
    counting_from = calendar.counting_start(script.submitted_at, procedure.intake_cutoff)
    appointment = calendar.add_working_days(counting_from, procedure.total_working_days)
    apology_done = False
    start = counting_from
    for k, stage in enumerate(procedure.stages):
        agency = plan[k]
        budget = calendar.budget_seconds(start, stage.working_days)
        if roles[k] == "return":
            play_return_stage(script, k, agency, start, budget, calendar, rng)
            return
        slow = agency in world.slow_agencies
        late = rng.random() < (config.late_probability_slow if slow else config.late_probability_normal)
        same_agency = k > 0 and plan[k - 1] == agency
        slow_handoff = k > 0 and (procedure.stages[k - 1].agency, stage.agency) in world.slow_handoffs
        if late:
            overrun = rng.randrange(1 * HOUR, 3 * 8 * HOUR)
            used = budget + overrun
        else:
            low, high = world.pace.get(agency, (0.3, 0.95))
            used = int(budget * rng.uniform(low, high))
        wait = 0
        if k > 0 and not same_agency:
            wait_budget = used - 2 * HOUR if late else int(used * 0.6)
            wait = min(wait_budget, 3 * 8 * HOUR if slow_handoff else rng.randrange(60, 2 * HOUR))
            if slow_handoff and not late:
                # A three-working-day wait that still leaves time: the budget was big enough.
                wait = min(wait, int(used * 0.8))
        received_at = calendar.add_working_seconds(start, wait)
        if k > 0 and not same_agency:
            script.actions.append(Action(received_at, agency, "handoff_received", {"stage_index": k}))
        cursor_used = wait
        paused_total = 0
        # Stopping the dossier: refusal by the holder, or withdrawal at the citizen's request.
        stop = rng.random()
        if stop < config.refusal_probability or stop < config.refusal_probability + config.withdrawal_probability:
            at = calendar.add_working_seconds(received_at, max(1, (used - wait) // 2))
            if stop < config.refusal_probability:
                script.actions.append(Action(at, agency, "refused", {"reason": "Hồ sơ không đủ điều kiện (mô phỏng)"}))
                script.ends = "refused"
            else:
                script.actions.append(
                    Action(at, script.receiving_agency, "withdrawn", {"reason": "Công dân rút hồ sơ"})
                )
                script.ends = "withdrawn"
            return
        if late and not apology_done and cursor_used + HOUR < used and rng.random() < config.apology_probability:
            at = calendar.add_working_seconds(received_at, 60)
            new_appointment = calendar.add_working_days(appointment, 5)
            script.actions.append(
                Action(
                    at,
                    agency,
                    "apology_issued",
                    {"new_appointment_at": new_appointment.isoformat(), "reason": "Giai đoạn xử lý kéo dài (mô phỏng)"},
                )
            )
            appointment, apology_done = new_appointment, True
            cursor_used += 60
        for kind, probability in (
            ("supplement", config.supplement_probability),
            ("obligation", config.obligation_probability),
        ):
            if rng.random() < probability and used - cursor_used > 2 * 60:
                offset = rng.randrange(cursor_used + 60, used - 60)
                paused_at = calendar.add_working_seconds(start, offset + paused_total)
                duration = rng.randrange(2 * HOUR, 4 * 8 * HOUR)
                resumed_at = calendar.add_working_seconds(paused_at, duration)
                request, answer = (
                    ("supplement_requested", "supplement_received")
                    if kind == "supplement"
                    else ("obligation_requested", "obligation_fulfilled")
                )
                script.actions.append(Action(paused_at, agency, request, {"reason": "Bổ sung (mô phỏng)"}))
                script.actions.append(Action(resumed_at, agency, answer, {}))
                paused_total += duration
                cursor_used = offset
                if kind == "supplement" and procedure.supplement_policy == "restart":
                    restarted = calendar.add_working_days(
                        calendar.next_opening(resumed_at), procedure.total_working_days
                    )
                    appointment = restarted
                else:
                    appointment = calendar.add_working_seconds(appointment, duration)
        end = calendar.add_working_seconds(start, used + paused_total)
        outcome = "result_ready" if k == last_processing else "forward"
        script.actions.append(Action(end, agency, "stage_completed", {"outcome": outcome, "stage_index": k}))
        if used > budget:
            script.late_stages[k] = used - budget
        start = end
        if k == last_processing and not any(r == "return" for r in roles):
            done = calendar.add_working_seconds(end, rng.randrange(60, 4 * HOUR))
            if script.return_method == "counter":
                script.actions.append(Action(done, script.receiving_agency, "result_returned", {}))
            return


def play_return_stage(
    script: DossierScript,
    index: int,
    agency: str,
    start: datetime,
    budget: int,
    calendar: WorkCalendar,
    rng: random.Random,
) -> None:
    """The receiving agency gets the result back and hands it over (at the counter), on time;
    a postal return is handed to the post, whose deliveries the postal simulator plays."""
    wait = rng.randrange(60, HOUR)
    received_at = calendar.add_working_seconds(start, wait)
    script.actions.append(Action(received_at, agency, "handoff_received", {"stage_index": index}))
    if script.return_method == "counter":
        done = calendar.add_working_seconds(start, int(budget * rng.uniform(0.3, 0.9)))
        script.actions.append(Action(done, script.receiving_agency, "result_returned", {}))
